package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// maxMsg lets the tests send messages of several MB (grpc's default receive limit is 4 MiB).
const maxMsg = 64 << 20

// streamRequest is the JSON request of ServerStream and Slow.
type streamRequest struct {
	N       int    `json:"n"`
	Size    int    `json:"size"`
	DelayMs int    `json:"delayMs"`
	Ms      int    `json:"ms"`
	ID      string `json:"id"`
}

// echoReply is what Echo answers: the forwarding metadata the server saw (every value, so a forged
// copy left beside ours would show) and its transport peer.
type echoReply struct {
	Peer            string   `json:"peer"`
	ID              string   `json:"id"`
	Authority       []string `json:"authority"`
	XFF             []string `json:"xff"`
	XRealIP         []string `json:"xRealIp"`
	Forwarded       []string `json:"forwarded"`
	XForwardedPort  []string `json:"xForwardedPort"`
	XForwardedProto []string `json:"xForwardedProto"`
}

var (
	logMu  sync.Mutex
	logEnc = json.NewEncoder(os.Stdout)
)

func logEvent(v map[string]any) {
	logMu.Lock()
	defer logMu.Unlock()
	_ = logEnc.Encode(v)
}

// cancelled logs that a handler's context ended before the handler finished: the server-side
// view of a client cancellation or an expired deadline.
func cancelled(ctx context.Context, method, id string) {
	logEvent(map[string]any{"event": "cancelled", "method": method, "id": id, "err": fmt.Sprint(ctx.Err())})
}

func trailer(ctx context.Context, method string) {
	_ = grpc.SetTrailer(ctx, metadata.Pairs("x-peer-trailer", method, "x-peer-impl", "go"))
}

func parseRequest(b []byte) (streamRequest, error) {
	var r streamRequest
	err := json.Unmarshal(b, &r)
	return r, err
}

func echo(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	r := echoReply{
		ID:              string(in),
		Authority:       nz(md.Get(":authority")),
		XFF:             nz(md.Get("x-forwarded-for")),
		XRealIP:         nz(md.Get("x-real-ip")),
		Forwarded:       nz(md.Get("forwarded")),
		XForwardedPort:  nz(md.Get("x-forwarded-port")),
		XForwardedProto: nz(md.Get("x-forwarded-proto")),
	}
	if p, ok := peer.FromContext(ctx); ok {
		r.Peer = p.Addr.String()
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-peer-header", "Echo"))
	trailer(ctx, "Echo")
	out, err := json.Marshal(r)
	return out, err
}

func nz(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func slow(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	req, err := parseRequest(in)
	if err != nil {
		return nil, err
	}
	trailer(ctx, "Slow")
	select {
	case <-time.After(time.Duration(req.Ms) * time.Millisecond):
		return []byte("slept"), nil
	case <-ctx.Done():
		cancelled(ctx, "Slow", req.ID)
		return nil, ctx.Err()
	}
}

func serverStream(_ any, s grpc.ServerStream) error {
	var in []byte
	if err := s.RecvMsg(&in); err != nil {
		return err
	}
	req, err := parseRequest(in)
	if err != nil {
		return err
	}
	s.SetTrailer(metadata.Pairs("x-peer-trailer", "ServerStream", "x-peer-impl", "go"))
	for i := 0; i < req.N; i++ {
		if req.DelayMs > 0 {
			select {
			case <-time.After(time.Duration(req.DelayMs) * time.Millisecond):
			case <-s.Context().Done():
			}
		}
		if s.Context().Err() != nil {
			cancelled(s.Context(), "ServerStream", req.ID)
			return s.Context().Err()
		}
		if err := s.SendMsg(fill(i, req.Size)); err != nil {
			if s.Context().Err() != nil {
				cancelled(s.Context(), "ServerStream", req.ID)
			}
			return err
		}
	}
	return nil
}

// each calls fn with every message the client sends until it half-closes; a stream that ends
// otherwise (cancelled, deadline) is logged and its error returned.
func each(s grpc.ServerStream, method string, fn func([]byte) error) error {
	err := recvEach(s.RecvMsg, fn)
	if err != nil && s.Context().Err() != nil {
		cancelled(s.Context(), method, "")
	}
	return err
}

// recvEach calls fn with every message recv returns until io.EOF (nil) or another error (returned).
func recvEach(recv func(any) error, fn func([]byte) error) error {
	for {
		var in []byte
		err := recv(&in)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(in); err != nil {
			return err
		}
	}
}

func clientStream(_ any, s grpc.ServerStream) error {
	count, total := 0, 0
	err := each(s, "ClientStream", func(in []byte) error {
		count++
		total += len(in)
		return nil
	})
	if err != nil {
		return err
	}
	s.SetTrailer(metadata.Pairs("x-peer-trailer", "ClientStream", "x-peer-impl", "go"))
	out, _ := json.Marshal(map[string]int{"count": count, "bytes": total})
	return s.SendMsg(out)
}

func bidi(_ any, s grpc.ServerStream) error {
	s.SetTrailer(metadata.Pairs("x-peer-trailer", "Bidi", "x-peer-impl", "go"))
	return each(s, "Bidi", func(in []byte) error { return s.SendMsg(in) })
}

// serviceDesc is what protoc-gen-go-grpc would generate for the service, written by hand.
var serviceDesc = grpc.ServiceDesc{
	ServiceName: serviceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Echo", Handler: echo},
		{MethodName: "Slow", Handler: slow},
	},
	Streams: []grpc.StreamDesc{
		{StreamName: "ServerStream", Handler: serverStream, ServerStreams: true},
		{StreamName: "ClientStream", Handler: clientStream, ClientStreams: true},
		{StreamName: "Bidi", Handler: bidi, ServerStreams: true, ClientStreams: true},
	},
}

type impl struct{}

func serve(listen string) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.MaxRecvMsgSize(maxMsg), grpc.MaxSendMsgSize(maxMsg))
	s.RegisterService(&serviceDesc, impl{})
	s.RegisterService(&healthDesc, impl{})
	fmt.Printf("listening %s\n", ln.Addr())
	if err := s.Serve(ln); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
