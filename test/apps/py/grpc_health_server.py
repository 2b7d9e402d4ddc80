"""A real gRPC server with the standard health service (grpcio + grpcio-health-checking), for the
sidecar's gRPC probes: test/integration/admin-grpc-probes.test.ts.

    grpc_health_server.py PORT    serves on 127.0.0.1:PORT; prints "listening" when ready

Statuses: "" and "orders.v1.Orders" SERVING, "billing.v1.Billing" NOT_SERVING, any other name is
unknown to it (NOT_FOUND). Each line on stdin "SERVICE STATUS" changes one (e.g. " NOT_SERVING"
for the server as a whole), and is answered "ok" once done, so a test can flip health mid-run.
"""

import sys
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


def main() -> None:
    port = int(sys.argv[1])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    S = health_pb2.HealthCheckResponse
    servicer.set("", S.SERVING)
    servicer.set("orders.v1.Orders", S.SERVING)
    servicer.set("billing.v1.Billing", S.NOT_SERVING)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("listening", flush=True)
    for line in sys.stdin:
        service, _, status = line.rstrip("\n").rpartition(" ")
        servicer.set(service, S.ServingStatus.Value(status))
        print("ok", flush=True)
    server.stop(0)


if __name__ == "__main__":
    main()
