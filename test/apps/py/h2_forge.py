"""h2_forge: a hostile HTTP/2 client for the spoofing suite (test/hardening/spoofing-h2.test.ts).

It connects to an address, writes a PROXY header itself (v2 or v1, or none) naming a given client,
then speaks real HTTP/2 (the `h2` library: its framing and its HPACK encoder) with forged
forwarding fields in every form the protocol allows. Each case runs on its own connection:

  every-field     every forwarding field the HTTP/1.1 policy strips (names from --fields, which the
                  test takes from sidecar/http/forwarding-fields.ts), their underscore spellings and
                  X-Realip-*, once each, in the HEADERS frame
  duplicated      the address fields three times each, plus comma lists, in one header block
  continuation    a header block bigger than the max frame size (padding first), so the forged
                  fields travel in CONTINUATION frames
  split-frames    the header block cut into 8 HEADERS/CONTINUATION fragments at arbitrary offsets
                  (fields split mid-name and mid-value)
  continuation-flood  the header block cut into 5-byte fragments (~400 CONTINUATION frames):
                  what CVE-2024-27316 exploits; nghttp2 allows 8 CONTINUATIONs and must refuse it
  hpack-dynamic   stream 1 adds the forged fields to the HPACK dynamic table (literal with
                  incremental indexing); later streams send them as 1-byte index references, and
                  one sends new values under the indexed names
  never-indexed   forged fields as never-indexed literals
  huffman         Huffman-coded names and values (literal names: no forwarding field is in the
                  static table)
  plain           the same, raw octets (no Huffman)
  trailers        POST, clean head, body, then request trailers carrying every forged field
  trailers-only   HEADERS then trailers (no DATA), and trailers big enough to need CONTINUATION
  mixed-case      uppercase names (X-Forwarded-For): HTTP/2 forbids them; nghttp2 must refuse
  concurrent      --streams streams opened before any response is read, each with its own
                  forged values, names in the dynamic table

Output: one JSON line per stream, {"conn","case","stream","path","headers","trailers","forged",
"how","wire","status","body","reset","error"} ("wire": the HPACK representations of its header
block as sent; "body": the response's first 200 bytes), where "forged" lists every forged value sent (each unique, so a
test can count how many reached the app), and one {"summary": ...} line per connection.
Exit status 0 unless the arguments are wrong or the connection could not be made.
"""

import argparse
import ipaddress
import json
import socket
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import hpack
from hpack import HeaderTuple, NeverIndexedHeaderTuple

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
ADDRESS_FIELDS = ("x-forwarded-for", "x-real-ip", "forwarded")
# Fields that carry a scheme, host, port, path prefix or TLV value rather than an address.
NOT_ADDRESSES = ("proto", "port", "host", "ssl", "scheme", "https", "prefix", "visitor", "realip")
CASES = (
    "every-field",
    "duplicated",
    "continuation",
    "split-frames",
    "continuation-flood",
    "hpack-dynamic",
    "never-indexed",
    "huffman",
    "plain",
    "trailers",
    "trailers-only",
    "mixed-case",
    "concurrent",
)


def proxy_header(version, client, client_port, dest, dest_port):
    """The PROXY header naming `client` as the source (PROXY protocol spec, sections 2.1 and 2.2)."""
    src, dst = ipaddress.ip_address(client), ipaddress.ip_address(dest)
    if src.version != dst.version:
        raise SystemExit("--client and --dest must be the same family")
    if version == "v1":
        fam = "TCP4" if src.version == 4 else "TCP6"
        return f"PROXY {fam} {src} {dst} {client_port} {dest_port}\r\n".encode()
    fam = 0x11 if src.version == 4 else 0x21
    body = src.packed + dst.packed + struct.pack("!HH", client_port, dest_port)
    return V2_SIGNATURE + bytes([0x21, fam]) + struct.pack("!H", len(body)) + body


class Forger:
    """Unique forged values: addresses from 100.64.0.0/10 and 2001:db8:bad::/48, words with 'forged'."""

    def __init__(self, conn_id):
        self.n = 0
        self.conn_id = conn_id

    def _next(self):
        self.n += 1
        return self.n

    def address(self):
        n = self._next() + 1000 * (self.conn_id % 4000)
        if n % 3 == 0:
            return f"2001:db8:bad:{self.conn_id % 65536:x}::{n % 65536:x}"
        return f"100.{64 + (n >> 16) % 64}.{(n >> 8) & 255}.{n & 255}"

    def value(self, name):
        """A forged value for `name`, and the unique token in it that must never reach the app."""
        if not any(w in name for w in NOT_ADDRESSES):
            a = self.address()
            forms = {
                "forwarded": f'for="[{a}]";proto=https' if ":" in a else f"for={a};proto=https",
            }
            return forms.get(name, a), a
        token = f"forged-{self.conn_id}-{self._next()}"
        if "host" in name:
            return f"{token}.example", token
        return token, token


class Conn:
    """One HTTP/2 client connection over a socket that already carries the PROXY header."""

    def __init__(self, args, case):
        self.args, self.case = args, case
        self.sock = socket.create_connection(
            (args.host, args.port),
            timeout=args.timeout,
            source_address=(args.local_address, 0) if args.local_address else None,
        )
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # --no-wait: everything (PROXY header, preface, every stream) leaves in one write when the
        # case is done composing, as an attacker would send it to a peer that might refuse the
        # connection before answering: the forgeries are on the wire whatever the peer does.
        self.no_wait = args.no_wait
        self.pending = b""
        if args.proxy != "none":
            self.send(proxy_header(args.proxy, args.client, args.client_port, args.dest, args.dest_port))
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            # We forge on purpose: the library must not fix names (mixed case) or refuse blocks.
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
        )
        self.h2 = h2.connection.H2Connection(config=config)
        self.huffman = True
        self.last_block = b""
        encode = self.h2.encoder.encode

        def traced(headers, huffman=True):
            self.last_block = encode(headers, huffman=self.huffman)
            return self.last_block

        self.h2.encoder.encode = traced
        self.streams = {}
        self.closed = None
        self.settings_seen = False
        self.h2.initiate_connection()
        self.flush()
        # The peer's SETTINGS first: its stream and frame limits apply to what we send.
        if not args.no_wait:
            self.pump(until=lambda: self.settings_seen, wait=2.0)

    def send(self, data):
        if self.no_wait:
            self.pending += data
            return
        try:
            self.sock.sendall(data)
        except OSError as e:
            self.closed = self.closed or f"send: {e}"

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.send(data)

    def send_pending(self):
        if self.pending:
            data, self.pending, self.no_wait = self.pending, b"", False
            self.send(data)

    def pump(self, until, wait):
        """Reads and handles frames until `until()` or `wait` seconds or the connection ends."""
        self.send_pending()
        deadline = time.monotonic() + wait
        while not until() and self.closed is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return
            except OSError as e:
                self.closed = f"recv: {e}"
                return
            if not data:
                self.closed = "eof"
                return
            try:
                events = self.h2.receive_data(data)
            except h2.exceptions.ProtocolError as e:
                self.closed = f"protocol error from peer: {e!r}"
                return
            for ev in events:
                self.on_event(ev)
            self.flush()

    def on_event(self, ev):
        s = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived) and s:
            s["status"] = int(dict(ev.headers).get(b":status", b"0"))
        elif isinstance(ev, h2.events.DataReceived):
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            if s:
                s["body"] = (s.get("body", "") + ev.data.decode("latin1"))[:200]
        elif isinstance(ev, h2.events.StreamEnded) and s:
            s["done"] = True
        elif isinstance(ev, h2.events.StreamReset) and s:
            s["done"] = True
            s["reset"] = getattr(ev.error_code, "name", str(ev.error_code))
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            self.settings_seen = True
        elif isinstance(ev, h2.events.ConnectionTerminated):
            code = getattr(ev.error_code, "name", str(ev.error_code))
            self.closed = f"GOAWAY {code} {ev.additional_data!r}"

    def request(self, headers, trailers=None, body=b"", how="", forged=(), frame_size=None,
                huffman=True, end_with_headers=None):
        """Opens a stream: HEADERS(+CONTINUATION), optional DATA, optional trailers."""
        if self.closed:
            return None
        sid = self.h2.get_next_available_stream_id()
        head = _head(self.args.conn_id, self.case, sid, post=bool(body or trailers))
        path = _txt(head[3][1])
        s = {"conn": self.args.conn_id, "case": self.case, "stream": sid, "path": path,
             "headers": [], "trailers": [], "forged": list(forged), "how": how,
             "status": None, "body": "", "reset": None, "error": None}
        self.streams[sid] = s
        blocks = []
        saved = self.h2.max_outbound_frame_size
        try:
            self.huffman = huffman
            if frame_size:
                # h2 slices every header block by this size into HEADERS + CONTINUATION frames.
                self.h2.max_outbound_frame_size = frame_size
            ends = not body and not trailers
            if end_with_headers is not None:
                ends = end_with_headers
            self.h2.send_headers(sid, head + list(headers), end_stream=ends)
            blocks.append(len(self.last_block))
            s["wire"] = representations(self.last_block)
            if body:
                self.h2.send_data(sid, body, end_stream=not trailers)
            if trailers:
                self.h2.send_headers(sid, list(trailers), end_stream=True)
                blocks.append(len(self.last_block))
                s["wireTrailers"] = representations(self.last_block)
        except (h2.exceptions.H2Error, OSError) as e:
            s["error"] = repr(e)
            s["done"] = True
        finally:
            self.h2.max_outbound_frame_size = saved
            self.huffman = True
        self.flush()
        s["headers"] = [[_txt(h[0]), _txt(h[1])] for h in headers]
        s["trailers"] = [[_txt(h[0]), _txt(h[1])] for h in (trailers or [])]
        size = frame_size or self.h2.max_outbound_frame_size
        s["how"] += f"; header blocks {blocks} bytes, frame size {size}"
        return s

    def finish(self):
        self.pump(until=lambda: all(s.get("done") for s in self.streams.values()),
                  wait=self.args.timeout)
        for s in self.streams.values():
            if not s.get("done") and not s["error"]:
                s["error"] = self.closed or "no response"
            s.pop("done", None)
            print(json.dumps(s), flush=True)
        print(json.dumps({"summary": {"conn": self.args.conn_id, "case": self.case,
                                      "streams": len(self.streams),
                                      "answered": sum(1 for s in self.streams.values() if s["status"]),
                                      "closed": self.closed}}), flush=True)
        try:
            self.h2.close_connection()
            self.flush()
        except h2.exceptions.H2Error:
            pass
        self.sock.close()


def _int(block, i, prefix):
    """An HPACK integer (RFC 7541 5.1) at block[i] with a `prefix`-bit prefix; (value, next i)."""
    mask = (1 << prefix) - 1
    v, i = block[i] & mask, i + 1
    if v < mask:
        return v, i
    shift = 0
    while True:
        b = block[i]
        i += 1
        v += (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def representations(block):
    """Counts the HPACK representations in a header block (RFC 7541 6), to show what went on the wire."""
    out = {"indexed": 0, "incremental": 0, "never-indexed": 0, "without-indexing": 0,
           "name-indexed": 0, "huffman-strings": 0, "plain-strings": 0}
    i = 0
    while i < len(block):
        b = block[i]
        if b & 0x80:
            out["indexed"] += 1
            _, i = _int(block, i, 7)
            continue
        if b & 0xE0 == 0x20:  # dynamic table size update
            _, i = _int(block, i, 5)
            continue
        kind, prefix = (("incremental", 6) if b & 0x40 else
                        ("never-indexed", 4) if b & 0x10 else ("without-indexing", 4))
        out[kind] += 1
        index, i = _int(block, i, prefix)
        strings = 1 if index else 2
        if index:
            out["name-indexed"] += 1
        for _ in range(strings):
            out["huffman-strings" if block[i] & 0x80 else "plain-strings"] += 1
            n, i = _int(block, i, 7)
            i += n
    return {k: v for k, v in out.items() if v}


def _head(conn_id, case, sid, post=False):
    """The request's pseudo-header fields; the path ties the stream to its record at the app."""
    return [(b":method", b"POST" if post else b"GET"), (b":scheme", b"http"), (b":authority", b"app.test"),
            (b":path", f"/c/{conn_id}/{case}/{sid}".encode())]


def _txt(b):
    return b.decode("latin1") if isinstance(b, bytes) else str(b)


def forged_fields(f, names, tuple_type=tuple):
    """One forged field per name; (fields, forged values)."""
    fields, forged = [], []
    for name in names:
        value, token = f.value(name)
        pair = (name.encode(), value.encode())
        fields.append(pair if tuple_type is tuple else tuple_type(*pair))
        forged.append(token)
    return fields, forged


def run_case(args, case, names):
    f = Forger(args.conn_id)
    c = Conn(args, case)
    every = list(names) + [n.replace("-", "_") for n in names if "-" in n] + [
        "x-realip-authority", "x-realip-unique-id", "x-realip-aws-vpce-id"]
    if case == "every-field":
        fields, forged = forged_fields(f, every)
        c.request(fields, how=f"{len(fields)} names, one each, HEADERS", forged=forged)
    elif case == "duplicated":
        fields, forged = [], []
        for name in ADDRESS_FIELDS + ("x-forwarded-port", "x-forwarded-proto", "x-forwarded-host"):
            for _ in range(3):
                fl, fg = forged_fields(f, [name])
                fields += fl
                forged += fg
        a, b = f.address(), f.address()
        fields.append((b"x-forwarded-for", f"{a}, {b}".encode()))
        forged += [a, b]
        c.request(fields, how="each field 3 times plus a comma list", forged=forged)
    elif case == "continuation":
        pad = [(f"x-pad-{i}".encode(), b"p" * 1000) for i in range(20)]
        head, forged1 = forged_fields(f, ADDRESS_FIELDS)
        fields, forged2 = forged_fields(f, every)
        c.request(head + pad + fields, forged=forged1 + forged2,
                  how="3 forged fields, 20 KB padding, then every forged field (in CONTINUATION)")
    elif case == "split-frames":
        fields, forged = forged_fields(f, every)
        # The size of this block on a fresh connection (the same encoder state as ours), so that
        # 8 fragments carry it: within nghttp2's 8-CONTINUATION limit, boundaries anywhere.
        size = len(hpack.Encoder().encode(_head(c.args.conn_id, case, 1) + fields))
        c.request(fields, frame_size=size // 7 + 1, forged=forged, how="block cut into 8 fragments")
    elif case == "continuation-flood":
        fields, forged = forged_fields(f, every)
        c.request(fields, frame_size=5, forged=forged, how="block cut into 5-byte fragments")
    elif case == "hpack-dynamic":
        # Few enough fields to fit the 4096-byte dynamic table (every name at once would evict
        # its own entries before they could be referenced).
        fields, forged = forged_fields(f, ADDRESS_FIELDS + ("x-forwarded-port", "x-forwarded-proto",
                                                           "x-forwarded-host", "x-client-ip",
                                                           "true-client-ip", "x-realip-authority"))
        c.request(fields, forged=forged, how="literal with incremental indexing (adds to the table)")
        for _ in range(3):
            c.request(fields, forged=forged, how="indexed representation (dynamic table references)")
        fields2, forged2 = forged_fields(f, [_txt(n) for n, _ in fields])
        c.request(fields2, forged=forged2, how="literal, name from the dynamic table, new value")
    elif case == "never-indexed":
        fields, forged = forged_fields(f, every, NeverIndexedHeaderTuple)
        c.request(fields, forged=forged, how="never-indexed literals")
        c.request(fields, forged=forged, how="never-indexed literals, again (nothing to reference)")
    elif case == "huffman":
        fields, forged = forged_fields(f, every, HeaderTuple)
        c.request(fields, forged=forged, huffman=True, how="Huffman-coded literal names and values")
    elif case == "plain":
        fields, forged = forged_fields(f, every, HeaderTuple)
        c.request(fields, forged=forged, huffman=False, how="plain (non-Huffman) literal names and values")
    elif case == "trailers":
        trailers, forged = forged_fields(f, every)
        declare = [(b"trailer", ", ".join(every).encode())]
        c.request(declare, trailers=trailers, body=b"hello", forged=forged,
                  how="clean head, DATA, trailers with every forged field")
    elif case == "trailers-only":
        trailers, forged = forged_fields(f, every)
        declare = [(b"trailer", ", ".join(every).encode())]
        c.request(declare, trailers=trailers, forged=forged, end_with_headers=False,
                  how="HEADERS, then trailers (no DATA)")
        pad = [(f"x-pad-{i}".encode(), b"p" * 1000) for i in range(20)]
        t2, forged2 = forged_fields(f, every)
        c.request(declare, trailers=pad + t2, forged=forged2, end_with_headers=False,
                  how="HEADERS, then 20 KB trailers: forged fields in CONTINUATION")
    elif case == "mixed-case":
        for name in ("X-Forwarded-For", "X-Real-IP", "Forwarded", "x-Forwarded-For"):
            value, token = f.value(name.lower())
            c.request([(name.encode(), value.encode())], forged=[token], how=f"uppercase name {name}")
    elif case == "concurrent":
        sent = 0
        while sent < args.streams and not c.closed:
            limit = c.h2.remote_settings.max_concurrent_streams or 100
            while sent < args.streams and c.h2.open_outbound_streams < limit:
                fields, forged = forged_fields(f, ADDRESS_FIELDS + ("x-forwarded-port",))
                c.request(fields, forged=forged, how=f"one of {args.streams} concurrent streams")
                sent += 1
            c.pump(until=lambda: c.h2.open_outbound_streams < limit, wait=args.timeout)
    else:
        raise SystemExit(f"unknown case {case}")
    c.finish()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--local-address", help="bind the client socket to this source address")
    p.add_argument("--proxy", choices=("v2", "v1", "none"), default="v2")
    p.add_argument("--client", default="10.1.2.3", help="the client the PROXY header names")
    p.add_argument("--client-port", type=int, default=40000)
    p.add_argument("--dest", default=None, help="the PROXY header's destination (default: same family as --client)")
    p.add_argument("--dest-port", type=int, default=8443)
    p.add_argument("--fields", default=",".join(ADDRESS_FIELDS + ("x-forwarded-port", "x-forwarded-proto", "x-forwarded-host")),
                   help="comma list of forwarding field names to forge")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--streams", type=int, default=100, help="streams of the concurrent case")
    p.add_argument("--conn-id", type=int, default=1, help="first connection number (in paths and values)")
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--no-wait", action="store_true", help="send without waiting for the peer's SETTINGS")
    args = p.parse_args()
    if args.dest is None:
        args.dest = "10.0.0.1" if ipaddress.ip_address(args.client).version == 4 else "fd00::1"
    names = [n.strip().lower() for n in args.fields.split(",") if n.strip()]
    cases = CASES if args.cases == "all" else args.cases.split(",")
    first = args.conn_id
    for i, case in enumerate(cases):
        args.conn_id = first + i
        try:
            run_case(args, case, names)
        except OSError as e:
            print(json.dumps({"summary": {"conn": args.conn_id, "case": case, "streams": 0,
                                          "answered": 0, "closed": f"connect: {e}"}}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
