"""Load generators and fakes for the chaos battery (importable as ``chaoskit``).

Each loader runs in a thread of the test process, outlives the gateway processes it feeds, and
records exactly what the gateway ACKNOWLEDGED, the way that source sees an acknowledgement:

- `HttpLoader`: ``POST /v1/events`` answered 202 (the ticket id is in the answer). An event that got
  no answer is sent again to the next gateway, as a sender that is unsure does.
- `MllpLoader`: an HL7 v2 DFT answered ``MSA|AA`` (its MSH-10 control id comes back in the ticket).
- `InboxLoader`: an 835 file written into the inbox; acknowledged once it is in ``done/``.
- `FakeFhirServer`: a FHIR server whose ClaimResponses appear over time, one second of
  ``meta.lastUpdated`` apart; a resource is acknowledged once the poller's committed cursor
  (``fhir/cursors.db``) has reached its ``lastUpdated``.

`Target` is where the loaders send: the test points it at each new gateway process.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from fhirkit import canary_claim_response, searchset, stamped
from testkit import canary_event
from x12gen import denied_count, make_835

FHIR_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
INBOX_CLAIMS = 4
INBOX_DENIAL = 0.5  # half the claims of a file are denied: one ticket each


@dataclass
class Target:
    """The gateway the loaders talk to now (``None`` while it is down)."""

    base_url: str | None = None
    mllp_port: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def point(self, base_url: str | None, mllp_port: int | None) -> None:
        with self.lock:
            self.base_url, self.mllp_port = base_url, mllp_port

    def current(self) -> tuple[str | None, int | None]:
        with self.lock:
            return self.base_url, self.mllp_port


class Loader(threading.Thread):
    """A daemon thread that calls ``step`` until stopped; ``step`` records acknowledgements."""

    pause = 0.01

    def __init__(self, target: Target) -> None:
        super().__init__(daemon=True, name=type(self).__name__)
        self.target = target
        self.stopping = threading.Event()
        self.attempts = 0

    def run(self) -> None:
        while not self.stopping.is_set():
            self.attempts += 1
            try:
                self.step()
            except (OSError, httpx.HTTPError):
                self.stopping.wait(0.05)  # the gateway is down or was killed: try the next one
            self.stopping.wait(self.pause)

    def step(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


class HttpLoader(Loader):
    """JSON events with canary PHI, each its own problem; records the ticket id of every 202."""

    def __init__(self, target: Target, token: str, run: str) -> None:
        super().__init__(target)
        self.headers = {"Authorization": f"Bearer {token}"}
        self.run_id = run
        self.number = 0
        self.acked: dict[str, str] = {}  # event id -> ticket id
        self.duplicates = 0
        self.unavailable = 0
        self.unexpected: list[int] = []  # any status but 202 and 503: the test fails on it

    def step(self) -> None:
        base_url, _ = self.target.current()
        if base_url is None:
            return
        event_id = f"h{self.run_id}-{self.number:05d}"
        response = httpx.post(
            f"{base_url}/v1/events",
            json=canary_event(event_id, distinct=True),
            headers=self.headers,
            timeout=5,
        )
        if response.status_code == 202:
            body = response.json()
            self.acked[event_id] = body["ticket_id"]
            self.duplicates += bool(body.get("duplicate"))
            self.number += 1  # only now: an unanswered event is sent again
        elif response.status_code == 503:
            self.unavailable += 1
        else:
            self.unexpected.append(response.status_code)


def dft(control_id: str) -> bytes:
    """A DFT^P03 that becomes one ticket, with canary PHI in PID."""
    return (
        f"MSH|^~\\&|EPIC|HOSP|BILL|FAC|20261101||DFT^P03|{control_id}|P|2.5.1\r"
        "PID|1||MRN88812345^^^H^MR||QUIXOTE^ZEBEDIAH||19570314|||||||||||ACCT1\r"
        "PV1|1|O|||||||||||||||||VIS1\r"
        "FT1|1|T1||20261101|20261101|CG||||1|10.00|10.00\r"
    ).encode()


class MllpLoader(Loader):
    """DFT messages one at a time on one connection; records the control ids answered AA."""

    def __init__(self, target: Target, run: str) -> None:
        super().__init__(target)
        self.run_id = run
        self.number = 0
        self.acked: list[str] = []
        self.transient = 0
        self._sock: socket.socket | None = None
        self._port: int | None = None

    def step(self) -> None:
        _, port = self.target.current()
        if port is None:
            self._close()
            return
        if self._sock is None or port != self._port:
            self._close()
            self._sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            self._port = port
        control_id = f"M{self.run_id}{self.number:05d}"
        try:
            self._sock.sendall(b"\x0b" + dft(control_id) + b"\x1c\x0d")
            answer = b""
            while not answer.endswith(b"\x1c\x0d"):
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise ConnectionResetError("the gateway closed the connection")
                answer += chunk
        except OSError:
            self._close()
            raise
        if f"MSA|AA|{control_id}".encode() in answer:
            self.acked.append(control_id)
            self.number += 1
        else:
            self.transient += 1  # AE/CE: not accepted, sent again

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def stop(self) -> None:
        super().stop()
        self._close()


def inbox_file(number: int) -> bytes:
    """A small 835 with canary PHI whose interchange control number (ISA13) is ``number``."""
    text = make_835(INBOX_CLAIMS, INBOX_DENIAL, canary=True).decode("ascii")
    return (
        text.replace("*000000900*", f"*{number:09d}*")
        .replace("IEA*1*000000900", f"IEA*1*{number:09d}")
        .encode("ascii")
    )


INBOX_TICKETS = denied_count(INBOX_CLAIMS, INBOX_DENIAL)


class InboxLoader(Loader):
    """Drops an 835 into the inbox every ``pause`` seconds (temporary name, then rename)."""

    pause = 0.25

    def __init__(self, target: Target, inbox: Path, first: int) -> None:
        super().__init__(target)
        self.inbox = inbox
        self.number = first
        self.dropped: list[int] = []

    def step(self) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        name = f"chaos-{self.number:09d}.835"
        temp = self.inbox / f".{name}.tmp"
        temp.write_bytes(inbox_file(self.number))
        temp.rename(self.inbox / name)
        self.dropped.append(self.number)
        self.number += 1

    def acknowledged(self) -> set[int]:
        """ISA13 of the files in done/."""
        done = self.inbox / "done"
        if not done.is_dir():
            return set()
        return {
            int(p.name.split("-")[1].split(".")[0]) for p in done.iterdir() if p.name.startswith("chaos-")
        }


class FakeFhirServer:
    """A FHIR R4 server on loopback whose ``/fhir/ClaimResponse`` search honours ``_lastUpdated=gt``
    and ``_count``. Each search releases ``per_poll`` more canary ClaimResponses (``CR-CHAOS-nnnnn``,
    ``meta.lastUpdated`` = `FHIR_EPOCH` + n seconds), up to ``limit``; ``POST /oauth2/token`` answers
    a bearer token to any client assertion."""

    def __init__(self, per_poll: int = 2, limit: int = 100_000) -> None:
        self.released = 0
        self.per_poll = per_poll
        self.limit = limit
        self.paused = False
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _send(self, status: int, body: object, content_type: str = "application/fhir+json") -> None:
                data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode("utf-8"))
                if "client_assertion" not in form:
                    self._send(400, {"error": "invalid_client"}, "application/json")
                    return
                token = {"access_token": "chaos-token", "token_type": "bearer", "expires_in": 3600}
                self._send(200, token, "application/json")

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                if (
                    parts.path != "/fhir/ClaimResponse"
                    or self.headers.get("Authorization") != "Bearer chaos-token"
                ):
                    self._send(404, {"resourceType": "OperationOutcome", "issue": []})
                    return
                self._send(200, server.search(parse_qs(parts.query)))

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def search(self, query: dict[str, list[str]]) -> dict[str, Any]:
        since = datetime.fromisoformat(query["_lastUpdated"][0].removeprefix("gt").replace("Z", "+00:00"))
        count = int(query.get("_count", ["50"])[0])
        with self._lock:
            if not self.paused:
                self.released = min(self.limit, self.released + self.per_poll)
            released = self.released
        first = max(0, int((since - FHIR_EPOCH).total_seconds()))  # resource n is newer than ``since``
        resources = [
            stamped(canary_claim_response(resource_id(n)), moment(n).strftime("%Y-%m-%dT%H:%M:%SZ"))
            for n in range(first, min(released, first + count))
        ]
        return searchset(resources, self_url=f"{self.base}/fhir/ClaimResponse")

    def acknowledged(self, cursors: Path) -> set[str]:
        """Resource ids at or below the committed cursor in ``cursors`` (fhir/cursors.db)."""
        if not cursors.exists():
            return set()
        with sqlite3.connect(cursors) as db:
            try:
                rows = db.execute("SELECT high_water FROM fhir_cursor").fetchall()
            except sqlite3.OperationalError:
                return set()
        if not rows:
            return set()
        mark = datetime.fromisoformat(str(rows[0][0]).replace("Z", "+00:00"))
        last = int((mark - FHIR_EPOCH).total_seconds())
        return {resource_id(n) for n in range(min(last, self.released))}

    def instance_config(self, interval: float = 0.2) -> dict[str, Any]:
        """The ``fhir.instances`` entry that polls this server."""
        return {
            "name": "chaos-epic",
            "vendor": "epic",
            "base_url": f"{self.base}/fhir",
            "client_id": "chaos-backend-app",
            "token_url": f"{self.base}/oauth2/token",
            "searches": [{"resource": "ClaimResponse", "params": {"outcome": "error"}}],
            "interval_seconds": interval,
            "peak_interval_seconds": interval,
            "jitter": 0,
            "page_size": 20,
            "start_from": FHIR_EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def resource_id(n: int) -> str:
    return f"CR-CHAOS-{n:05d}"


def moment(n: int) -> datetime:
    """``meta.lastUpdated`` of resource ``n``: one second apart, all after `FHIR_EPOCH`."""
    return FHIR_EPOCH + timedelta(seconds=n + 1)


def wait_for(condition: Any, timeout: float) -> bool:
    """Poll ``condition`` until true or ``timeout``; return whether it became true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (trusted by nobody unless named in
    SSL_CERT_FILE); returns (cert.pem, key.pem)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chaos-untrusted")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class TlsReceiver:
    """A webhook receiver on https://127.0.0.1 (port 0) with the given certificate: records the
    ``webhook-id`` of every POST it answers 200 (``{"duplicate": true}`` for a repeat), and counts
    TLS handshakes that failed (the client did not trust the certificate)."""

    def __init__(self, cert: Path, key: Path) -> None:
        import ssl

        self.received_ids: list[str] = []
        self.failed_handshakes = 0
        receiver = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                msg_id = self.headers.get("webhook-id", "")
                duplicate = msg_id in receiver.received_ids
                receiver.received_ids.append(msg_id)
                payload = json.dumps({"duplicate": duplicate}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                sock, address = self.socket.accept()
                try:
                    return context.wrap_socket(sock, server_side=True), address
                except (ssl.SSLError, OSError):
                    receiver.failed_handshakes += 1
                    sock.close()
                    raise

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._httpd.server_address[1]}/hook"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
