"""The generic `rest` sink against a REAL local tracker (a small stateful HTTP server on loopback with
an OAuth 2 client-credentials token endpoint) and, where simpler, respx: search before create, a
comment on a recurrence, a replay that writes nothing, templates escaped not evaluated, the token
cached and refetched on 401, the shared error mapping (429 + Retry-After, 5xx, 410, 4xx)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from pydantic import ValidationError

from fallback import PermanentDeliveryError, TransientDeliveryError
from fallback.errors import SinkGone
from fallback.rest_sink import RestSink, RestSpec, json_pointer
from normalizers.sealed import SealedTicket

SECRETS = {"env:TRACKER_SECRET": "s3cret-client", "env:TRACKER_KEY": "k3y"}

SPEC: dict[str, Any] = {
    "auth": {
        "type": "oauth2_client_credentials",
        "token_url": "/oauth/token",
        "client_id": "rcm",
        "client_secret": "env:TRACKER_SECRET",
        "scope": "issues:write",
    },
    "headers": {"Accept": "application/json"},
    "search": {
        "method": "GET",
        "path": "/api/issues",
        "params": {"external_id": "{{ticket.fingerprint}}"},
        "id_pointer": "/issues/0/id",
    },
    "create": {
        "method": "POST",
        "path": "/api/issues",
        "body": (
            '{"title": "{{ticket.summary}}", "body": "{{ticket.text}}",'
            ' "external_id": "{{ticket.fingerprint}}", "queue": "{{ticket.routing.queue}}",'
            ' "note": "{{ticket.description}}"}'
        ),
        "id_pointer": "/data/id",
    },
    "comment": {
        "method": "POST",
        "path": "/api/issues/{{remote_id}}/comments",
        "body": {"text": "{{ticket.recurrence_text}}", "ticket": "{{ticket.id}}"},
    },
    "mentions": {"method": "GET", "path": "/api/issues/{{remote_id}}/comments"},
}


class Tracker:
    """A stateful issue tracker on 127.0.0.1:0. ``faults`` holds (status, retry_after) answers given
    to the next API requests (not the token endpoint); ``revoke()`` invalidates issued tokens."""

    def __init__(self) -> None:
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.tokens: set[str] = set()
        self.token_requests: list[dict[str, list[str]]] = []
        self.faults: deque[tuple[int, str | None]] = deque()
        self.writes = 0
        self._ids = itertools.count(101)
        self._lock = threading.Lock()
        tracker = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                tracker.handle(self, b"")

            def do_POST(self) -> None:
                tracker.handle(self, self.rfile.read(int(self.headers.get("content-length") or 0)))

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def revoke(self) -> None:
        with self._lock:
            self.tokens.clear()

    def handle(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        parts = urlsplit(h.path)
        with self._lock:
            status, payload, extra = self._route(h, parts.path, parse_qs(parts.query), body)
        data = b"" if payload is None else json.dumps(payload).encode()
        h.send_response(status)
        for key, value in extra.items():
            h.send_header(key, value)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _route(
        self, h: BaseHTTPRequestHandler, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        if path == "/oauth/token":
            expected = "Basic " + base64.b64encode(b"rcm:s3cret-client").decode()
            if h.headers.get("authorization") != expected:
                return 401, {"error": "invalid_client"}, {}
            form = parse_qs(body.decode())
            self.token_requests.append(form)
            token = f"tok-{len(self.token_requests)}"
            self.tokens.add(token)
            return 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600}, {}
        if h.headers.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
            return 401, {"error": "invalid_token"}, {}
        if self.faults:
            status, retry_after = self.faults.popleft()
            return status, {"error": "fault"}, ({"Retry-After": retry_after} if retry_after else {})
        if path == "/api/issues" and h.command == "GET":
            fp = query["external_id"][0]
            return 200, {"issues": [{"id": i} for i, v in self.issues.items() if v["external_id"] == fp]}, {}
        if path == "/api/issues" and h.command == "POST":
            issue = json.loads(body)
            issue_id = next(self._ids)
            self.issues[issue_id] = issue
            self.comments[issue_id] = []
            self.writes += 1
            return 201, {"data": {"id": issue_id}}, {}
        if path.startswith("/api/issues/") and path.endswith("/comments"):
            issue_id = int(path.split("/")[3])
            if h.command == "POST":
                self.comments[issue_id].append(json.loads(body))
                self.writes += 1
                return 201, {"ok": True}, {}
            return 200, {"comments": self.comments[issue_id], "body": self.issues[issue_id]["body"]}, {}
        return 404, None, {}

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def tracker():
    server = Tracker()
    yield server
    server.stop()


def make_sink(url: str, spec: dict[str, Any] | None = None, **kwargs: Any) -> RestSink:
    return RestSink(url, spec or SPEC, resolve=SECRETS.__getitem__, name="tracker", **kwargs)


def repeat_of(ticket: SealedTicket, n: int) -> SealedTicket:
    """The same problem (fingerprint) seen again: a new ticket id."""
    return SealedTicket.restore(ticket.body.replace(ticket.id.encode(), f"tkt_{n:032x}".encode()))


def run(coro):
    return asyncio.run(coro)


def test_create_then_comment_on_repeat_and_replay_writes_nothing(tracker, make_ticket):
    ticket = make_ticket(description='He said "stop"\n{{ticket.id}} \\ done')

    async def main():
        sink = make_sink(tracker.url)
        await sink.open()
        try:
            first = await sink.deliver(ticket, ticket.id)
            again = await sink.deliver(repeat_of(ticket, 999), f"tkt_{999:032x}")
        finally:
            await sink.aclose()
        fresh = make_sink(tracker.url)  # a restarted node: no in-process memory
        await fresh.open()
        try:
            replay_first = await fresh.deliver(ticket, ticket.id)
            replay_again = await fresh.deliver(repeat_of(ticket, 999), f"tkt_{999:032x}")
        finally:
            await fresh.aclose()
        return first, again, replay_first, replay_again, sink.token_fetches

    first, again, replay_first, replay_again, fetches = run(main())
    assert (first.remote_id, first.duplicate) == ("101", False)
    assert (again.remote_id, again.duplicate) == ("101", False)
    assert replay_first.duplicate and replay_again.duplicate and replay_again.remote_id == "101"
    assert len(tracker.issues) == 1 and len(tracker.comments[101]) == 1 and tracker.writes == 2
    issue = tracker.issues[101]
    # templates are substituted and JSON-escaped, never evaluated (the braces in the data stay text)
    assert issue["note"] == 'He said "stop"\n{{ticket.id}} \\ done'
    assert issue["external_id"] == ticket.fingerprint and issue["queue"] == "billing"
    assert issue["title"] == ticket.payload.summary and ticket.id in issue["body"]
    assert tracker.comments[101][0]["ticket"] == f"tkt_{999:032x}"
    assert fetches == 1 and tracker.token_requests[0]["scope"] == ["issues:write"]


def test_token_is_refetched_once_when_revoked(tracker, make_ticket):
    async def main():
        sink = make_sink(tracker.url)
        await sink.open()
        try:
            await sink.deliver(make_ticket(), "a")
            tracker.revoke()
            await sink.deliver(make_ticket(), "b")
        finally:
            await sink.aclose()
        return sink.token_fetches

    assert run(main()) == 2 and len(tracker.issues) == 2


def test_token_expiry_is_honoured(tracker, make_ticket):
    now = [0.0]

    async def main():
        sink = make_sink(tracker.url, clock=lambda: now[0])
        await sink.open()
        try:
            await sink.deliver(make_ticket(), "a")
            now[0] = 3000.0  # within 3600 s minus the margin: cached
            await sink.deliver(make_ticket(), "b")
            now[0] = 3580.0  # inside the 30 s margin: refreshed
            await sink.deliver(make_ticket(), "c")
        finally:
            await sink.aclose()
        return sink.token_fetches

    assert run(main()) == 2


@pytest.mark.parametrize(
    ("status", "retry_after", "error", "expected_after"),
    [
        (429, "7", TransientDeliveryError, 7.0),
        (503, None, TransientDeliveryError, None),
        (409, None, TransientDeliveryError, None),
        (410, None, SinkGone, None),
        (422, None, PermanentDeliveryError, None),
    ],
)
def test_errors_use_the_shared_http_mapping(tracker, make_ticket, status, retry_after, error, expected_after):
    tracker.faults.append((status, retry_after))

    async def main():
        sink = make_sink(tracker.url)
        await sink.open()
        try:
            with pytest.raises(error) as caught:
                await sink.deliver(make_ticket(), "a")
            return caught.value
        finally:
            await sink.aclose()

    exc = run(main())
    assert exc.status == status and getattr(exc, "retry_after", None) == expected_after
    assert "fault" not in str(exc)  # never the remote's body
    assert tracker.issues == {}


def test_refused_connection_is_transient(make_ticket):
    async def main():
        sink = make_sink("http://127.0.0.1:9")
        await sink.open()
        try:
            await sink.deliver(make_ticket(), "a")
        finally:
            await sink.aclose()

    with pytest.raises(TransientDeliveryError):
        run(main())


@respx.mock
def test_header_auth_structured_body_and_id_from_location(make_ticket):
    spec = {
        "auth": {"type": "header", "name": "X-Api-Key", "secret": "env:TRACKER_KEY"},
        "search": {"path": "/find", "params": {"q": "ext:{{ticket.fingerprint}}"}, "id_pointer": "/0/key"},
        "create": {
            "method": "PUT",
            "path": "/items/{{ticket.fingerprint}}",
            "body": {"summary": "{{ticket.summary}}", "codes": "{{ticket.codes}}", "tier": "{{ticket.tier}}"},
            "id_header": "Location",
        },
    }
    ticket = make_ticket()
    search = respx.get("https://t.example/find").mock(return_value=httpx.Response(200, json=[]))
    create = respx.put(f"https://t.example/items/{ticket.fingerprint}").mock(
        return_value=httpx.Response(201, headers={"Location": "https://t.example/items/ITEM-9"})
    )

    async def main():
        sink = make_sink("https://t.example", spec)
        await sink.open()
        try:
            return await sink.deliver(ticket, ticket.id)
        finally:
            await sink.aclose()

    receipt = run(main())
    assert receipt.remote_id == "ITEM-9"
    assert search.calls[0].request.headers["X-Api-Key"] == "k3y"
    assert search.calls[0].request.url.params["q"] == f"ext:{ticket.fingerprint}"
    body = json.loads(create.calls[0].request.content)
    assert body == {"summary": ticket.payload.summary, "codes": [], "tier": 1}


@respx.mock
def test_basic_auth_and_no_comment_request_means_no_write(make_ticket):
    spec = {
        "auth": {"type": "basic", "username": "bot", "password": "env:TRACKER_KEY"},
        "search": {"path": "/s", "id_pointer": "/hit"},
        "create": {"method": "POST", "path": "/c", "id_pointer": "/id"},
    }
    respx.get("https://t.example/s").mock(return_value=httpx.Response(200, json={"hit": 5}))
    create = respx.post("https://t.example/c")

    async def main():
        sink = make_sink("https://t.example", spec)
        await sink.open()
        try:
            return await sink.deliver(make_ticket(), "x")
        finally:
            await sink.aclose()

    receipt = run(main())
    assert (receipt.remote_id, receipt.duplicate) == ("5", False) and not create.called
    assert respx.calls[0].request.headers["authorization"] == "Basic " + base64.b64encode(b"bot:k3y").decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"create": {"path": "/c", "body": "{{ticket.nope}}", "id_pointer": "/id"}},
            "unknown template variable",
        ),
        ({"create": {"path": "/c/{{remote_id}}", "id_pointer": "/id"}}, "only available in comment"),
        ({"create": {"path": "/c"}}, "id_pointer or id_header"),
        ({"search": {"path": "/s"}}, "search needs id_pointer"),
        ({"search": {"path": "/s", "id_pointer": "hit"}}, "JSON pointer"),
        ({"auth": {"type": "basic", "username": "u"}}, "needs password"),
        ({"auth": {"type": "header", "secret": "plaintext"}}, "string_pattern_mismatch"),
        (
            {"search": {"path": "/s", "id_pointer": "/x", "body": "{{__import__}}"}},
            "unknown template variable",
        ),
    ],
)
def test_bad_specs_are_rejected_at_load(change, message):
    with pytest.raises(ValidationError) as caught:
        RestSpec.model_validate({**SPEC, **change})
    assert message in str(caught.value) or message in json.dumps(caught.value.errors(), default=str)


def test_plain_http_to_a_remote_host_is_refused():
    with pytest.raises(ValueError, match="https"):
        make_sink("http://tracker.example")
    spec = {**SPEC, "auth": {**SPEC["auth"], "token_url": "http://idp.example/token"}}
    with pytest.raises(ValueError, match="https"):
        make_sink("https://tracker.example", spec)


def test_json_pointer():
    doc = {"a": [{"b/c": 1, "m~n": 2}], "z": None}
    assert json_pointer(doc, "/a/0/b~1c") == 1 and json_pointer(doc, "/a/0/m~0n") == 2
    assert json_pointer(doc, "/a/1") is None and json_pointer(doc, "/q") is None
    assert json_pointer(doc, "") == doc and json_pointer(doc, "/a/x") is None


def test_documented_example_builds_a_rest_sink(tmp_path, monkeypatch):
    from pathlib import Path

    from gateway.delivery_wiring import build_sinks
    from gateway.settings import get_settings

    example = Path(__file__).resolve().parents[2] / "docs" / "examples" / "rest-sink.yaml"
    monkeypatch.setenv("TRACKER_CLIENT_SECRET", "x")
    sinks, names = build_sinks(get_settings(example, home=tmp_path))
    assert names == ["file", "tracker"] and isinstance(sinks["tracker"], RestSink)


def test_sink_config_checks_the_rest_spec_at_load():
    from gateway.delivery_settings import SinkConfig

    with pytest.raises(ValidationError, match="search"):
        SinkConfig(name="t", kind="rest", url="https://t.example", options={})
    with pytest.raises(ValidationError, match="needs url"):
        SinkConfig(name="t", kind="rest", options={k: SPEC[k] for k in ("search", "create")})
