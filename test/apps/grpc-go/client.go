package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type clientOptions struct {
	addr, scenario, id string
	n, size            int
	timeoutMs          int
	readDelayMs        int
	serverDelayMs      int
	meta               []string
}

// result is the one JSON line the client prints; both peers print the same fields.
type result struct {
	Impl     string              `json:"impl"`
	Scenario string              `json:"scenario"`
	Code     string              `json:"code"`
	Message  string              `json:"message"`
	Messages int                 `json:"messages"`
	Bytes    int                 `json:"bytes"`
	Mismatch int                 `json:"mismatch"`
	Echo     json.RawMessage     `json:"echo,omitempty"`
	Echoes   []json.RawMessage   `json:"echoes,omitempty"`
	Codes    []string            `json:"codes,omitempty"`
	Reply    json.RawMessage     `json:"reply,omitempty"`
	Headers  map[string][]string `json:"headers"`
	Trailers map[string][]string `json:"trailers"`
	Ms       int64               `json:"ms"`
}

// codeNames are the canonical status names (as grpcio's StatusCode prints them), so the results
// of the two peers compare as strings.
var codeNames = []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

func setStatus(r *result, err error) {
	s := status.Convert(err)
	r.Code = codeNames[s.Code()]
	r.Message = s.Message()
}

func method(name string) string { return "/" + serviceName + "/" + name }

func client(o clientOptions) {
	conn, err := grpc.NewClient("passthrough:///"+o.addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	timeout := time.Duration(o.timeoutMs) * time.Millisecond
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, kv := range o.meta {
		k, v, _ := strings.Cut(kv, "=")
		ctx = metadata.AppendToOutgoingContext(ctx, k, v)
	}
	r := result{Impl: "go", Scenario: o.scenario, Headers: map[string][]string{}, Trailers: map[string][]string{}}
	var header, trail metadata.MD
	t0 := time.Now()
	switch o.scenario {
	case "unary":
		var out []byte
		err = conn.Invoke(ctx, method("Echo"), []byte(o.id), &out, grpc.Header(&header), grpc.Trailer(&trail))
		if err == nil {
			r.Echo, r.Messages = out, 1
		}
	case "deadline":
		req, _ := json.Marshal(streamRequest{Ms: 20_000, ID: o.id})
		var out []byte
		err = conn.Invoke(ctx, method("Slow"), req, &out, grpc.Header(&header), grpc.Trailer(&trail))
	case "concurrent":
		err = concurrent(ctx, conn, o, &r)
	case "server-stream", "cancel":
		err = serverStreamScenario(ctx, cancel, conn, o, &r, &header, &trail)
	case "client-stream":
		err = clientStreamScenario(ctx, conn, o, &r, &header, &trail)
	case "bidi":
		err = bidiScenario(ctx, conn, o, &r, &header, &trail)
	default:
		err = fmt.Errorf("unknown scenario %q", o.scenario)
	}
	r.Ms = time.Since(t0).Milliseconds()
	setStatus(&r, err)
	for k, v := range header {
		r.Headers[k] = v
	}
	for k, v := range trail {
		r.Trailers[k] = v
	}
	_ = json.NewEncoder(os.Stdout).Encode(r)
}

// concurrent runs n Echo RPCs at once on the one channel (one HTTP/2 connection), each tagged.
func concurrent(ctx context.Context, conn *grpc.ClientConn, o clientOptions, r *result) error {
	r.Echoes = make([]json.RawMessage, o.n)
	r.Codes = make([]string, o.n)
	var wg sync.WaitGroup
	for i := 0; i < o.n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out []byte
			err := conn.Invoke(ctx, method("Echo"), []byte(fmt.Sprintf("%s-%d", o.id, i)), &out)
			var one result
			setStatus(&one, err)
			r.Codes[i] = one.Code
			if err == nil {
				r.Echoes[i] = out
			} else {
				r.Echoes[i] = json.RawMessage("null")
			}
		}()
	}
	wg.Wait()
	for _, c := range r.Codes {
		if c == "OK" {
			r.Messages++
		}
	}
	return nil
}

var streamAll = &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

// serverStreamScenario reads every message; "cancel" cancels the RPC after n messages of a
// stream that would run much longer, so the server must see the cancellation.
func serverStreamScenario(ctx context.Context, cancel context.CancelFunc, conn *grpc.ClientConn, o clientOptions, r *result, header, trail *metadata.MD) error {
	req := streamRequest{N: o.n, Size: o.size, DelayMs: o.serverDelayMs, ID: o.id}
	if o.scenario == "cancel" {
		req = streamRequest{N: 1_000_000, Size: o.size, DelayMs: 10, ID: o.id}
	}
	s, err := conn.NewStream(ctx, streamAll, method("ServerStream"), grpc.Header(header), grpc.Trailer(trail))
	if err != nil {
		return err
	}
	b, _ := json.Marshal(req)
	if err := s.SendMsg(b); err != nil {
		return err
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	return receive(ctx, s, o.size, r, func() {
		if o.scenario == "cancel" && r.Messages == o.n {
			cancel()
		}
		time.Sleep(time.Duration(o.readDelayMs) * time.Millisecond)
	})
}

// receive reads messages until the stream ends, checking each is message i of fill(i, size); the
// stream's status is the result. after runs after each counted message.
func receive(ctx context.Context, s grpc.ClientStream, size int, r *result, after func()) error {
	return recvEach(s.RecvMsg, func(in []byte) error {
		if ctx.Err() != nil {
			return nil // a message already buffered when we cancelled: the count is what we read
		}
		if len(in) != size || (size > 0 && in[0] != byte('a'+r.Messages%26)) {
			r.Mismatch++
		}
		r.Messages++
		r.Bytes += len(in)
		after()
		return nil
	})
}

func clientStreamScenario(ctx context.Context, conn *grpc.ClientConn, o clientOptions, r *result, header, trail *metadata.MD) error {
	s, err := conn.NewStream(ctx, streamAll, method("ClientStream"), grpc.Header(header), grpc.Trailer(trail))
	if err != nil {
		return err
	}
	for i := 0; i < o.n; i++ {
		if err := s.SendMsg(fill(i, o.size)); err != nil {
			break // the real error comes from RecvMsg
		}
	}
	_ = s.CloseSend()
	var out []byte
	if err := s.RecvMsg(&out); err != nil {
		return err
	}
	r.Reply = out
	var got struct{ Count, Bytes int }
	_ = json.Unmarshal(out, &got)
	r.Messages, r.Bytes = got.Count, got.Bytes
	if err := s.RecvMsg(&out); !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

func bidiScenario(ctx context.Context, conn *grpc.ClientConn, o clientOptions, r *result, header, trail *metadata.MD) error {
	s, err := conn.NewStream(ctx, streamAll, method("Bidi"), grpc.Header(header), grpc.Trailer(trail))
	if err != nil {
		return err
	}
	go func() {
		for i := 0; i < o.n; i++ {
			if s.SendMsg(fill(i, o.size)) != nil {
				return
			}
		}
		_ = s.CloseSend()
	}()
	return receive(ctx, s, o.size, r, func() { time.Sleep(time.Duration(o.readDelayMs) * time.Millisecond) })
}
