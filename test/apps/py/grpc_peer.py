"""grpc_peer.py: a real grpcio server and client for the HTTP/2 hop tests (issue 16).

The same service, requests and output lines as the Go peer (test/apps/grpc-go): messages are raw
bytes (generic handlers with no (de)serializer, so no protobuf codegen), the service is
realip.test.Peer with Echo, Slow, ServerStream, ClientStream and Bidi.

    python grpc_peer.py serve  --listen 127.0.0.1:0
    python grpc_peer.py client --addr HOST:PORT --scenario NAME [--n N] [--size S] [--timeout-ms MS] [--read-delay-ms MS] [--server-delay-ms MS] [--meta k=v]...

The server prints "listening HOST:PORT" once ready, then one JSON line per event ("cancelled" when
a handler's RPC ended before the handler did). The client prints one JSON result line and exits 0
even when the RPC failed: the status is the result. Runs in the .cache/pyenv virtualenv
(test/setup.d/26-python-test-peers.sh).
"""

import argparse
import json
import sys
import threading
import time
from concurrent import futures

import grpc

SERVICE = "realip.test.Peer"
MAX_MSG = 64 << 20  # messages of several MB (grpcio's default receive limit is 4 MiB)
OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MSG),
    ("grpc.max_send_message_length", MAX_MSG),
    ("grpc.enable_http_proxy", 0),  # straight to the address under test, whatever the environment
]
_log_lock = threading.Lock()


def log_event(**fields):
    with _log_lock:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()


def fill(i, size):
    """Message i of a stream: size bytes of one letter, so a test can tell messages apart."""
    return bytes([ord("a") + i % 26]) * size


def trailer(context, method):
    context.set_trailing_metadata((("x-peer-trailer", method), ("x-peer-impl", "python")))


def values(md, key):
    return [v for k, v in md if k == key]


def echo(request, context):
    md = context.invocation_metadata()
    peer = context.peer()  # "ipv4:127.0.0.1:PORT" -> "127.0.0.1:PORT", as Go prints it
    reply = {
        "peer": peer.split(":", 1)[1] if ":" in peer else peer,
        "id": request.decode(),
        "authority": values(md, ":authority"),
        "xff": values(md, "x-forwarded-for"),
        "xRealIp": values(md, "x-real-ip"),
        "forwarded": values(md, "forwarded"),
        "xForwardedPort": values(md, "x-forwarded-port"),
        "xForwardedProto": values(md, "x-forwarded-proto"),
    }
    context.send_initial_metadata((("x-peer-header", "Echo"),))
    trailer(context, "Echo")
    return json.dumps(reply).encode()


def watch(context, method, rid=""):
    """Logs "cancelled" if the RPC terminates before the handler marks it finished: grpcio runs
    the callback on every termination, and a cancelled streaming handler may never run again (its
    generator is closed at a yield), so a flag, not a check in the handler, tells the two apart."""
    state = {"done": False}

    def on_end():
        if not state["done"]:
            log_event(event="cancelled", method=method, id=rid, err="cancelled")

    context.add_callback(on_end)
    return state


def slow(request, context):
    req = json.loads(request)
    state = watch(context, "Slow", req.get("id", ""))
    trailer(context, "Slow")
    until = time.monotonic() + req.get("ms", 0) / 1000
    while time.monotonic() < until and context.is_active():
        time.sleep(0.01)
    state["done"] = context.is_active()
    return b"slept"


def server_stream(request, context):
    req = json.loads(request)
    state = watch(context, "ServerStream", req.get("id", ""))
    trailer(context, "ServerStream")
    delay = req.get("delayMs", 0) / 1000
    for i in range(req.get("n", 0)):
        if delay:
            time.sleep(delay)
        if not context.is_active():
            return
        yield fill(i, req.get("size", 0))
    state["done"] = True


def client_stream(request_iterator, context):
    state = watch(context, "ClientStream")
    count = total = 0
    for msg in request_iterator:
        count += 1
        total += len(msg)
    state["done"] = True
    trailer(context, "ClientStream")
    return json.dumps({"count": count, "bytes": total}).encode()


def bidi(request_iterator, context):
    state = watch(context, "Bidi")
    trailer(context, "Bidi")
    for msg in request_iterator:
        yield msg
    state["done"] = True


def serve(listen):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=64), options=OPTIONS)
    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Slow": grpc.unary_unary_rpc_method_handler(slow),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    host = listen.rsplit(":", 1)[0]
    port = server.add_insecure_port(listen)
    server.start()
    print(f"listening {host}:{port}", flush=True)
    server.wait_for_termination()


def method(name):
    return f"/{SERVICE}/{name}"


def md_dict(md):
    out = {}
    for k, v in md or ():
        out.setdefault(k, []).append(v if isinstance(v, str) else v.decode("latin1"))
    return out


def client(o):
    meta = tuple(tuple(kv.split("=", 1)) for kv in o.meta)
    timeout = (o.timeout_ms or 30000) / 1000
    r = {
        "impl": "python",
        "scenario": o.scenario,
        "code": "OK",
        "message": "",
        "messages": 0,
        "bytes": 0,
        "mismatch": 0,
        "headers": {},
        "trailers": {},
    }
    t0 = time.monotonic()
    with grpc.insecure_channel(o.addr, options=OPTIONS) as ch:
        call = None
        try:
            call = run_scenario(ch, o, meta, timeout, r)
        except grpc.RpcError as e:
            r["code"] = e.code().name
            r["message"] = e.details() or ""
            call = e if hasattr(e, "trailing_metadata") else call
        if call is not None:
            try:
                r["headers"] = md_dict(call.initial_metadata())
                r["trailers"] = md_dict(call.trailing_metadata())
            except Exception:
                pass
    r["ms"] = int((time.monotonic() - t0) * 1000)
    print(json.dumps(r), flush=True)


def check(r, i, msg, o):
    if len(msg) != o.size or (o.size and msg[0] != ord("a") + i % 26):
        r["mismatch"] += 1
    r["messages"] += 1
    r["bytes"] += len(msg)
    time.sleep(o.read_delay_ms / 1000)


def run_scenario(ch, o, meta, timeout, r):
    s = o.scenario
    if s == "unary":
        out, call = ch.unary_unary(method("Echo")).with_call(o.id.encode(), timeout=timeout, metadata=meta)
        r["echo"] = json.loads(out)
        r["messages"] = 1
        return call
    if s == "deadline":
        req = json.dumps({"ms": 20000, "id": o.id}).encode()
        _, call = ch.unary_unary(method("Slow")).with_call(req, timeout=timeout, metadata=meta)
        return call
    if s == "concurrent":
        rpc = ch.unary_unary(method("Echo"))
        calls = [rpc.future(f"{o.id}-{i}".encode(), timeout=timeout, metadata=meta) for i in range(o.n)]
        r["echoes"], r["codes"] = [], []
        for f in calls:
            try:
                r["echoes"].append(json.loads(f.result()))
                r["codes"].append("OK")
                r["messages"] += 1
            except grpc.RpcError as e:
                r["echoes"].append(None)
                r["codes"].append(e.code().name)
        return None
    if s in ("server-stream", "cancel"):
        req = {"n": o.n, "size": o.size, "delayMs": o.server_delay_ms, "id": o.id}
        if s == "cancel":
            req = {"n": 1000000, "size": o.size, "delayMs": 10, "id": o.id}
        call = ch.unary_stream(method("ServerStream"))(json.dumps(req).encode(), timeout=timeout, metadata=meta)
        for i, msg in enumerate(call):
            if s == "cancel" and r["messages"] == o.n:
                continue  # a message already buffered when we cancelled: the count is what we read
            check(r, i, msg, o)
            if s == "cancel" and r["messages"] == o.n:
                call.cancel()
        return call
    if s == "client-stream":
        gen = (fill(i, o.size) for i in range(o.n))
        out, call = ch.stream_unary(method("ClientStream")).with_call(gen, timeout=timeout, metadata=meta)
        r["reply"] = json.loads(out)
        r["messages"], r["bytes"] = r["reply"]["count"], r["reply"]["bytes"]
        return call
    if s == "bidi":
        gen = (fill(i, o.size) for i in range(o.n))
        call = ch.stream_stream(method("Bidi"))(gen, timeout=timeout, metadata=meta)
        for i, msg in enumerate(call):
            check(r, i, msg, o)
        return call
    raise SystemExit(f"unknown scenario {s!r}")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("serve")
    sp.add_argument("--listen", default="127.0.0.1:0")
    cp = sub.add_parser("client")
    cp.add_argument("--addr", required=True)
    cp.add_argument("--scenario", default="unary")
    cp.add_argument("--n", type=int, default=1)
    cp.add_argument("--size", type=int, default=16)
    cp.add_argument("--timeout-ms", type=int, default=0)
    cp.add_argument("--id", default="")
    cp.add_argument("--read-delay-ms", type=int, default=0)  # a slow reader of streamed messages
    cp.add_argument("--server-delay-ms", type=int, default=0)  # server-stream: the server's pause per message
    cp.add_argument("--meta", action="append", default=[])
    o = p.parse_args()
    if o.cmd == "serve":
        serve(o.listen)
    else:
        client(o)


if __name__ == "__main__":
    main()
