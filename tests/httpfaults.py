"""A real local HTTP server that misbehaves on cue (importable as ``httpfaults``).

``FaultServer`` listens on 127.0.0.1 (port 0) in a thread. Each request takes the next step of its
script (then the default): ``Ok()``, ``Status(500)``, ``Status(429, retry_after="7")``, ``Stall(30)``
(holds the request open for up to 30 s, or until the server stops), ``Drop()`` (closes the
connection without answering). Every request is recorded (path, headers, body); ``received_ids``
lists the ``webhook-id`` of the requests answered 2xx, and a repeat of an id answers
``{"duplicate": true}`` like a receiver that deduplicates.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Ok:
    pass


@dataclass(frozen=True)
class Status:
    code: int
    retry_after: str | None = None


@dataclass(frozen=True)
class Stall:
    seconds: float


@dataclass(frozen=True)
class Drop:
    pass


Step = Ok | Status | Stall | Drop


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FaultServer:
    script: deque[Step] = field(default_factory=deque)
    default: Step = field(default_factory=Ok)
    requests: list[Request] = field(default_factory=list)
    received_ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                server._handle(self, body)

            do_PUT = do_POST  # noqa: N815 - the name http.server dispatches to

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/hook"

    def push(self, *steps: Step) -> None:
        with self._lock:
            self.script.extend(steps)

    def _handle(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        with self._lock:
            step = self.script.popleft() if self.script else self.default
            headers = {k.lower(): v for k, v in handler.headers.items()}
            self.requests.append(Request(handler.command, handler.path, headers, body))
        if isinstance(step, Stall):
            self._stopping.wait(step.seconds)
            step = Ok()
        if isinstance(step, Drop):
            handler.close_connection = True
            handler.connection.close()
            return
        if isinstance(step, Status):
            handler.send_response(step.code)
            if step.retry_after is not None:
                handler.send_header("Retry-After", step.retry_after)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        msg_id = headers.get("webhook-id", "")
        with self._lock:
            duplicate = msg_id in self.received_ids
            self.received_ids.append(msg_id)
        payload = json.dumps({"duplicate": duplicate}).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def stop(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
