// -mode h2raw: an HTTP/2 (h2c prior knowledge) server written on x/net's Framer and HPACK decoder
// instead of net/http, so that it records every header block EXACTLY as it arrived: every field in
// wire order, repeated fields as separate entries, names in whatever case they came, and request
// trailers whether or not a Trailer field declared them (net/http drops undeclared trailers and
// refuses uppercase names before a handler could see them). The spoofing suite needs that: a
// forged field the proxy let through must be visible here even if a stricter app would have
// hidden it.
//
// One JSON line per finished stream:
//
//	{"proto":"h2raw","stream":N,"method":..,"path":..,"fields":[[name,value],..],
//	 "trailers":[[name,value],..],"bodyBytes":N,"reset":""}
//
// (reset is the RST_STREAM code when the peer reset the stream before its end). Every stream is
// answered 200 with a short body once the request has ended.
package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

type rawStream struct {
	Proto     string      `json:"proto"`
	Stream    uint32      `json:"stream"`
	Method    string      `json:"method"`
	Path      string      `json:"path"`
	Fields    [][2]string `json:"fields"`
	Trailers  [][2]string `json:"trailers"`
	BodyBytes int         `json:"bodyBytes"`
	Reset     string      `json:"reset"`
	gotHead   bool
}

func serveRaw(ln net.Listener, out *json.Encoder, mu *sync.Mutex) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go rawConn(c, out, mu)
	}
}

func rawConn(c net.Conn, out *json.Encoder, mu *sync.Mutex) {
	defer c.Close()
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	fr := http2.NewFramer(c, c)
	// Large frames and header blocks are the peer's business: record, do not judge.
	fr.SetMaxReadFrameSize(1 << 24)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 10000},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 30}); err != nil {
		return
	}
	_ = fr.WriteWindowUpdate(0, 1<<30)
	streams := map[uint32]*rawStream{}
	var block []byte
	var blockStream uint32
	var blockEnds bool
	var encBuf bytes.Buffer
	enc := hpack.NewEncoder(&encBuf)
	// Responses never use the dynamic table: some peers (nginx's grpc upstream) announce a
	// SETTINGS_HEADER_TABLE_SIZE of 0, and the recorder has no need to be clever.
	enc.SetMaxDynamicTableSize(0)
	var fields [][2]string
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) { fields = append(fields, [2]string{f.Name, f.Value}) })
	emit := func(s *rawStream) {
		if s.Fields == nil {
			s.Fields = [][2]string{}
		}
		if s.Trailers == nil {
			s.Trailers = [][2]string{}
		}
		mu.Lock()
		_ = out.Encode(s)
		mu.Unlock()
		delete(streams, s.Stream)
	}
	respond := func(s *rawStream) error {
		encBuf.Reset()
		_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		_ = enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "text/plain"})
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.Stream, BlockFragment: encBuf.Bytes(), EndHeaders: true}); err != nil {
			return err
		}
		return fr.WriteData(s.Stream, true, []byte("ok\n"))
	}
	// A complete header block: the stream's head, or its trailers if the head came already.
	finishBlock := func() error {
		fields = nil
		if _, err := dec.Write(block); err != nil {
			return err
		}
		block = nil
		s := streams[blockStream]
		if s == nil {
			s = &rawStream{Proto: "h2raw", Stream: blockStream}
			streams[blockStream] = s
		}
		if !s.gotHead {
			s.gotHead = true
			for _, f := range fields {
				switch f[0] {
				case ":method":
					s.Method = f[1]
				case ":path":
					s.Path = f[1]
				}
			}
			s.Fields = fields
		} else {
			s.Trailers = append(s.Trailers, fields...)
		}
		if blockEnds {
			emit(s)
			return respond(s)
		}
		return nil
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					return
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				if err := fr.WritePing(true, f.Data); err != nil {
					return
				}
			}
		case *http2.HeadersFrame:
			blockStream, blockEnds = f.StreamID, f.StreamEnded()
			block = append(block[:0], f.HeaderBlockFragment()...)
			if f.HeadersEnded() {
				if finishBlock() != nil {
					return
				}
			}
		case *http2.ContinuationFrame:
			block = append(block, f.HeaderBlockFragment()...)
			if f.HeadersEnded() {
				if finishBlock() != nil {
					return
				}
			}
		case *http2.DataFrame:
			s := streams[f.StreamID]
			if n := len(f.Data()); n > 0 {
				_ = fr.WriteWindowUpdate(0, uint32(n))
				if s != nil && !f.StreamEnded() {
					_ = fr.WriteWindowUpdate(f.StreamID, uint32(n))
				}
			}
			if s != nil {
				s.BodyBytes += len(f.Data())
				if f.StreamEnded() {
					emit(s)
					if respond(s) != nil {
						return
					}
				}
			}
		case *http2.RSTStreamFrame:
			if s := streams[f.StreamID]; s != nil {
				s.Reset = f.ErrCode.String()
				emit(s)
			}
		case *http2.GoAwayFrame:
			for _, s := range streams {
				s.Reset = "GOAWAY"
				emit(s)
			}
			return
		}
	}
}
