"""The benchmarks' load generator against a small HTTP/1.1 server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kairos.bench import loadgen
from kairos.errors import KairosError


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the API

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        status = 500 if body == b"fail" else 200
        answer = b"x" * 70_000 if body == b"big" else b'{"ok": true}'  # several reads
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        self.server.seen.append(body)  # type: ignore[attr-defined]

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _requests(server: ThreadingHTTPServer, *bodies: bytes) -> list[bytes]:
    host = f"127.0.0.1:{server.server_address[1]}"
    return [loadgen.request("POST", "/x", host, body) for body in bodies]


def test_a_closed_loop_reads_whole_responses_on_keep_alive_connections(
    server: ThreadingHTTPServer,
) -> None:
    requests = _requests(server, b"a", b"big", b"c")
    rate, latencies = loadgen.closed_loop("127.0.0.1", server.server_address[1], requests, 2, 0.3)
    assert rate > 0
    assert len(latencies) == len(server.seen)  # type: ignore[attr-defined]
    assert {b"a", b"big", b"c"} <= set(server.seen)  # type: ignore[attr-defined]
    assert all(latency > 0 for latency in latencies)


def test_an_open_loop_sends_at_its_rate_and_times_from_when_each_was_due(
    server: ThreadingHTTPServer,
) -> None:
    requests = _requests(server, b"a")
    achieved, latencies = loadgen.fixed_rate(
        "127.0.0.1", server.server_address[1], requests, 100.0, 0.5, connections=4
    )
    assert len(latencies) == 50
    assert 50 < achieved <= 110


def test_a_status_other_than_200_stops_a_closed_loop(server: ThreadingHTTPServer) -> None:
    with pytest.raises(KairosError, match="500"):
        loadgen.closed_loop("127.0.0.1", server.server_address[1], _requests(server, b"fail"), 1, 1)
