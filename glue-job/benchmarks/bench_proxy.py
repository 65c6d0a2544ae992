"""A delaying HTTP/1.1 proxy for bench.py: adds a simulated round trip of N ms to every request.

    python3 glue-job/benchmarks/bench_proxy.py --delay-ms 20 [--region-delay-ms eu-west-1=70] \
        http://127.0.0.1:8000 http://127.0.0.1:4568
    # prints one JSON line {"http://127.0.0.1:8000": "http://127.0.0.1:<port>", ...}, serves until stdin closes

--region-delay-ms REGION=MS (repeatable): a request signed for REGION (the SigV4 credential scope of its
Authorization header) waits MS instead. The jobs' DynamoDB client sends a table's requests signed for
the table's region (aws_clients.RegionalDynamoDB), so this delays exactly the requests of a table in
another region, with one endpoint for all.

One listening socket per target. Each accepted client connection gets its own upstream connection and
two threads: upstream -> client is a plain byte pipe; client -> upstream parses the request stream.

Why parse, and how. botocore keeps connections alive (urllib3 pool), so one TCP connection carries
many requests; delaying per connection (or per recv()) would be wrong: one delay for a whole pooled
connection, or several for one request split over segments. Instead the client -> upstream thread reads
each request's head (up to the blank line), sleeps `delay` seconds, forwards the head, then forwards
exactly Content-Length body bytes as they arrive (streamed, not buffered: a client sending
`Expect: 100-continue` waits for the server's 100 before its body, which passes back through the
upstream -> client pipe). The next byte after the body starts the next request. So each request waits
once, whatever its size and however it is segmented. botocore does not pipeline (it sends the next
request only after the response), so "request head seen" is "the client sent a request after waiting
for the previous answer", and the delay is paid once per request/response exchange: it stands for the
network round trip (request and response travel) of a real endpoint, added before the server sees the
request. Requests on different connections are delayed independently (each has its own thread), so
concurrency overlaps the waits as it would on a real network. TCP connects are not delayed (pooled
connections are opened once). Chunked request bodies (Transfer-Encoding) are not sent by botocore for
DynamoDB or S3 PutObject with a bytes body; the proxy refuses them loudly rather than guess.

The proxy is a separate process so that its CPU (and its GIL) is not the benchmark client's; bench.py
reads its CPU time from /proc to tell how much of the machine it took.
"""

import argparse
import json
import re
import socket
import sys
import threading
import time

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover
    from urlparse import urlsplit

BUFFER = 256 * 1024
MAX_HEAD = 1024 * 1024
SIGNED_REGION = re.compile(br"\r\nauthorization:[^\r]*Credential=[^/\r]+/[0-9]{8}/([^/\r]+)/", re.IGNORECASE)


class ProtocolError(Exception):
    pass


def _pipe(source, target):
    try:
        while True:
            data = source.recv(BUFFER)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (target, source):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _content_length(head):
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding":
            raise ProtocolError("chunked request bodies are not supported by bench_proxy")
    return length


def _delay_of(head, delays):
    """delays: {region (bytes) or None: seconds}; a request signed for a region not listed waits delays[None]."""
    if len(delays) > 1:
        signed = SIGNED_REGION.search(head)
        if signed is not None:
            return delays.get(signed.group(1), delays[None])
    return delays[None]


def _requests(client, upstream, delays):
    """Client -> upstream: one delay per request head, then exactly its body, then the next head."""
    buffered = b""
    try:
        while True:
            while b"\r\n\r\n" not in buffered:
                data = client.recv(BUFFER)
                if not data:
                    return
                buffered += data
                if len(buffered) > MAX_HEAD and b"\r\n\r\n" not in buffered:
                    raise ProtocolError("request head over %d bytes" % MAX_HEAD)
            end = buffered.index(b"\r\n\r\n") + 4
            head, buffered = buffered[:end], buffered[end:]
            remaining = _content_length(head)
            delay = _delay_of(head, delays)
            if delay > 0:
                time.sleep(delay)
            body, buffered = buffered[:remaining], buffered[remaining:]
            upstream.sendall(head + body)
            remaining -= len(body)
            while remaining > 0:
                data = client.recv(min(BUFFER, remaining))
                if not data:
                    return
                upstream.sendall(data)
                remaining -= len(data)
    except (OSError, ProtocolError) as error:
        if isinstance(error, ProtocolError):
            sys.stderr.write("bench_proxy: %s\n" % error)
    finally:
        for sock in (upstream, client):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve(listener, target, delays):
    host, port = target
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            upstream = socket.create_connection((host, port))
        except OSError:
            client.close()
            continue
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_requests, args=(client, upstream, delays), daemon=True).start()
        threading.Thread(target=_pipe, args=(upstream, client), daemon=True).start()


def start(targets, delay_ms, region_delays_ms=None):
    """Starts one listener per target URL in this process (daemon threads); returns {target: proxy URL}.
    region_delays_ms: {region: ms} for requests signed for that region."""
    delays = dict((region.encode("ascii"), ms / 1000.0) for region, ms in (region_delays_ms or {}).items())
    delays[None] = delay_ms / 1000.0
    mapping = {}
    for url in targets:
        parts = urlsplit(url)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(256)
        threading.Thread(target=_serve, args=(listener, (parts.hostname, parts.port), delays), daemon=True).start()
        mapping[url] = "http://127.0.0.1:%d" % listener.getsockname()[1]
    return mapping


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--region-delay-ms", action="append", default=[], metavar="REGION=MS",
                        help="requests signed for REGION wait MS instead (repeatable)")
    parser.add_argument("targets", nargs="+", help="http://host:port of each server to proxy")
    options = parser.parse_args()
    region_delays = dict((region, float(ms)) for region, ms in (entry.split("=", 1) for entry in options.region_delay_ms))
    sys.stdout.write(json.dumps(start(options.targets, options.delay_ms, region_delays)) + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # serve until the parent closes our stdin (or dies)


if __name__ == "__main__":
    main()
