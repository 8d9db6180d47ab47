"""A fake FHIR R4 server with a SMART token endpoint, for end-to-end tests (plain HTTP, loopback).

    python fake_fhir_server.py ROUTES.json REQUESTS.jsonl

ROUTES.json maps a path (``/fhir/ClaimResponse``) or a path with query (``/fhir/ClaimResponse?page=2``)
to a JSON body; ``{BASE}`` inside a body becomes ``http://127.0.0.1:<port>``. The path-with-query
entry wins over the bare path. ``POST /oauth2/token`` answers a bearer token when the request
carries a client assertion. Every request is appended to REQUESTS.jsonl (method, path, query,
form). The first line on stdout is ``listening <port>``.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


def main() -> None:
    routes = json.loads(Path(sys.argv[1]).read_text("utf-8"))
    log_path = Path(sys.argv[2])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            return

        def _record(self, form: dict[str, list[str]] | None = None) -> None:
            parts = urlsplit(self.path)
            entry = {"method": self.command, "path": parts.path, "query": parse_qs(parts.query), "form": form}
            with log_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")

        def _send(self, status: int, body: object, content_type: str = "application/fhir+json") -> None:
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            data = json.dumps(body).replace("{BASE}", base).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode("utf-8"))
            self._record(form)
            if urlsplit(self.path).path != "/oauth2/token" or "client_assertion" not in form:
                self._send(400, {"error": "invalid_client"}, "application/json")
                return
            self._send(
                200,
                {"access_token": "fake-token", "token_type": "bearer", "expires_in": 3600},
                "application/json",
            )

        def do_GET(self) -> None:
            self._record()
            parts = urlsplit(self.path)
            if self.headers.get("Authorization") != "Bearer fake-token":
                self._send(
                    401,
                    {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "login"}]},
                )
                return
            key = f"{parts.path}?{parts.query}" if parts.query else parts.path
            exact = next((k for k in routes if "?" in k and key.startswith(k)), None)
            body = routes.get(exact or parts.path)
            if body is None:
                self._send(
                    404,
                    {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "not-found"}],
                    },
                )
                return
            self._send(200, body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sys.stdout.write(f"listening {server.server_address[1]}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
