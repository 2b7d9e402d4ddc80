// realip-grpc-peer: a real Go gRPC (google.golang.org/grpc) server and client for the HTTP/2 hop
// tests (issue 16). No protoc: messages are raw bytes (rawCodec, forced on both sides) and the
// service is a hand-written grpc.ServiceDesc, so the peer is one file with no generated code.
//
//	realip-grpc-peer serve  -listen 127.0.0.1:0
//	realip-grpc-peer client -addr HOST:PORT -scenario NAME [-n N] [-size S] [-timeout-ms MS] [-read-delay-ms MS] [-server-delay-ms MS] [-meta k=v]...
//
// The server prints "listening HOST:PORT" once ready, then one JSON line per event the tests
// observe (a handler whose context ended early: {"event":"cancelled",...}). The client prints one
// JSON result line (see result) and exits 0 even when the RPC failed: the status is the result.
// The Python peer (test/apps/py/grpc_peer.py) speaks the same service and prints the same lines.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// serviceName is the gRPC service both peers implement (the path is /realip.test.Peer/METHOD).
const serviceName = "realip.test.Peer"

type metaFlags []string

func (m *metaFlags) String() string     { return strings.Join(*m, ",") }
func (m *metaFlags) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: realip-grpc-peer serve|client [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
		_ = fs.Parse(os.Args[2:])
		serve(*listen)
	case "client":
		fs := flag.NewFlagSet("client", flag.ExitOnError)
		var o clientOptions
		var meta metaFlags
		fs.StringVar(&o.addr, "addr", "", "server address HOST:PORT")
		fs.StringVar(&o.scenario, "scenario", "unary", "unary|server-stream|client-stream|bidi|deadline|cancel|concurrent")
		fs.IntVar(&o.n, "n", 1, "messages (or concurrent RPCs)")
		fs.IntVar(&o.size, "size", 16, "bytes per message")
		fs.IntVar(&o.timeoutMs, "timeout-ms", 0, "RPC deadline in ms (0: 30 s)")
		fs.StringVar(&o.id, "id", "", "a tag the server logs with its events")
		fs.IntVar(&o.readDelayMs, "read-delay-ms", 0, "pause before reading each streamed message (a slow reader)")
		fs.IntVar(&o.serverDelayMs, "server-delay-ms", 0, "server-stream: the server's pause before each message")
		fs.Var(&meta, "meta", "extra request metadata k=v (repeatable; e.g. a forged x-forwarded-for)")
		_ = fs.Parse(os.Args[2:])
		o.meta = meta
		client(o)
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}
