"""A local HTTP server on 127.0.0.1 for download tests; nothing here touches the internet."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    body: bytes
    declared_length: int | None = None  # Content-Length sent; None: the true length


@dataclass
class LocalServer:
    base_url: str
    routes: dict[str, Route] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def serve(self, path: str, body: bytes, *, declared_length: int | None = None) -> str:
        """Serve ``body`` at ``path`` (e.g. ``/gowalla/train.txt``); return its URL."""
        self.routes[path] = Route(body, declared_length)
        return self.base_url + path


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        local = self.server.local
        local.hits.append(self.path)
        route = local.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        length = len(route.body) if route.declared_length is None else route.declared_length
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(route.body)  # HTTP/1.0: the connection closes after this

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    local: LocalServer


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.local = LocalServer(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.local
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone/train.txt"
