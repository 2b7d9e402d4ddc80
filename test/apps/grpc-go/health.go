package main

// The standard health service (grpc.health.v1.Health/Check), so kubelet's grpc probes can check
// the peer in the test cluster. The server forces the raw-bytes codec on every service, so the
// protobuf messages are written by hand: the request is read and ignored (every service name is
// healthy) and the answer is HealthCheckResponse{status: SERVING}, field 1 varint 1. The
// sidecar's own health client is proven against grpcio's real health service
// (test/integration/admin-grpc-probes.test.ts); here kubelet is the real part under test.

import (
	"context"

	"google.golang.org/grpc"
)

var servingResponse = []byte{0x08, 0x01}

func healthCheck(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	return servingResponse, nil
}

var healthDesc = grpc.ServiceDesc{
	ServiceName: "grpc.health.v1.Health",
	HandlerType: (*any)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Check", Handler: healthCheck}},
}
