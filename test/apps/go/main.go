// realip-testapp: real Go peers for the HTTP hop tests (issue 11's attacker review used these).
//
//	realip-testapp -listen 127.0.0.1:PORT -mode plain   net/http with a catch-all "/" handler
//	realip-testapp -listen 127.0.0.1:PORT -mode h2c     the same handler behind golang.org/x/net/http2/h2c
//	                                                    (prior knowledge and Upgrade: h2c, as gRPC/Connect run)
//	realip-testapp -listen 127.0.0.1:PORT -mode h2raw   an h2c recorder on the bare Framer (h2raw.go): every
//	                                                    header block exactly as it arrived, trailers included
//
// Every request it serves is answered 200 with a JSON echo and logged as one JSON line on stdout
// ({"proto","method","path","xff","xRealIp","forwarded","upgrade","http2Settings","fields","trailers"}),
// so a test can check what each request, on every HTTP/1.1 request and HTTP/2 stream, carried.
// "fields" holds every value of every field (names lowercased, repeated fields in order) and
// "trailers" the request trailers net/http delivered (it only keeps those a Trailer field
// declared; h2raw keeps all). It prints "listening" once ready.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

type seen struct {
	Proto     string `json:"proto"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	XFF       string `json:"xff"`
	XRealIP   string `json:"xRealIp"`
	Forwarded string `json:"forwarded"`
	Upgrade   string `json:"upgrade"`
	Settings  string `json:"http2Settings"`
	// Every value of every field, names lowercased (net/http canonicalizes them).
	Fields   map[string][]string `json:"fields"`
	Trailers map[string][]string `json:"trailers"`
}

func lowered(h http.Header) map[string][]string {
	out := map[string][]string{}
	for k, vs := range h {
		if len(vs) == 0 {
			// A trailer the request declared but did not send.
			continue
		}
		out[strings.ToLower(k)] = append(out[strings.ToLower(k)], vs...)
	}
	return out
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	mode := flag.String("mode", "plain", "plain | h2c | h2raw")
	flag.Parse()

	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The body first: trailers are known only once it has been read to its end. (Not for
		// CONNECT, whose "body" is a tunnel that would not end while the client waits for us.)
		if r.Method != http.MethodConnect {
			_, _ = io.Copy(io.Discard, r.Body)
		}
		s := seen{
			Proto:     r.Proto,
			Method:    r.Method,
			Path:      r.URL.Path,
			XFF:       r.Header.Get("X-Forwarded-For"),
			XRealIP:   r.Header.Get("X-Real-Ip"),
			Forwarded: r.Header.Get("Forwarded"),
			Upgrade:   r.Header.Get("Upgrade"),
			Settings:  r.Header.Get("Http2-Settings"),
			Fields:    lowered(r.Header),
			Trailers:  lowered(r.Trailer),
		}
		mu.Lock()
		_ = enc.Encode(s)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s)
	})
	var h http.Handler = handler
	switch *mode {
	case "plain", "h2raw":
	case "h2c":
		h = h2c.NewHandler(handler, &http2.Server{})
	default:
		log.Fatalf("unknown -mode %q", *mode)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	if *mode == "h2raw" {
		serveRaw(ln, enc, &mu)
	}
	log.Fatal((&http.Server{Handler: h}).Serve(ln))
}
