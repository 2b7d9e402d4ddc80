// realip-testapp: real Go peers for the HTTP hop tests (issue 11's attacker review used these).
//
//	realip-testapp -listen 127.0.0.1:PORT -mode plain   net/http with a catch-all "/" handler
//	realip-testapp -listen 127.0.0.1:PORT -mode h2c     the same handler behind golang.org/x/net/http2/h2c
//	                                                    (prior knowledge and Upgrade: h2c, as gRPC/Connect run)
//
// Every request it serves is answered 200 with a JSON echo and logged as one JSON line on stdout
// ({"proto","method","path","xff","xRealIp","forwarded","upgrade","http2Settings"}), so a test can check what each request,
// on every HTTP/1.1 request and HTTP/2 stream, carried. It prints "listening" once ready.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
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
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	mode := flag.String("mode", "plain", "plain | h2c")
	flag.Parse()

	var mu sync.Mutex
	enc := json.NewEncoder(os.Stdout)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{
			Proto:     r.Proto,
			Method:    r.Method,
			Path:      r.URL.Path,
			XFF:       r.Header.Get("X-Forwarded-For"),
			XRealIP:   r.Header.Get("X-Real-Ip"),
			Forwarded: r.Header.Get("Forwarded"),
			Upgrade:   r.Header.Get("Upgrade"),
			Settings:  r.Header.Get("Http2-Settings"),
		}
		mu.Lock()
		_ = enc.Encode(s)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s)
	})
	var h http.Handler = handler
	switch *mode {
	case "plain":
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
	log.Fatal((&http.Server{Handler: h}).Serve(ln))
}
