package main

import (
	"fmt"

	"google.golang.org/grpc/encoding"
)

// rawCodec passes message bytes through untouched: the peers need no protobuf schema, and a test
// can send messages of any size and content. It takes the name "proto" so the wire content-type
// stays plain application/grpc, the one every gRPC implementation (grpcio too) accepts.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return b, nil
	case *[]byte:
		return *b, nil
	}
	return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	// grpc may reuse data's buffer after Unmarshal returns, so the message gets its own copy.
	*p = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

func init() { encoding.RegisterCodec(rawCodec{}) }

// fill is message i of a stream: size bytes of one letter, so a test can tell messages apart.
func fill(i, size int) []byte {
	b := make([]byte, size)
	c := byte('a' + i%26)
	for j := range b {
		b[j] = c
	}
	return b
}
