"""Runs ``rcmgw serve`` as a real subprocess for end-to-end tests (importable as ``gatewayproc``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from testkit import REPO

RCMGW = Path(sys.executable).parent / "rcmgw"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def mint_token(home: Path, client: str, *scopes: str, env: dict[str, str] | None = None) -> str:
    """A dev access token from ``rcmgw token`` run as a subprocess against ``home`` (``env``: the
    gateway's settings, so the token matches the configuration the gateway runs with)."""
    args = [str(RCMGW), "token", "--client", client]
    for scope in scopes:
        args += ["--scope", scope]
    out = subprocess.run(
        args,
        capture_output=True,
        check=True,
        env={"RCMGW_HOME": str(home), "PATH": "/usr/bin:/bin", **(env or {})},
    )
    return out.stdout.decode().strip()


@dataclass
class GatewayProcess:
    """A running gateway: its base URL, the banner it printed, and its process."""

    home: Path
    process: subprocess.Popen[bytes]
    stderr_path: Path
    banner: list[str] = field(default_factory=list)
    base_url: str = ""
    mllp_port: int | None = None

    @property
    def outbox(self) -> Path:
        return self.home / "outbox" / "tickets.jsonl"

    def outbox_lines(self) -> list[str]:
        if not self.outbox.exists():
            return []
        return [line for line in self.outbox.read_text("utf-8").splitlines() if line.strip()]

    def curl_command(self) -> str:
        return next(line.strip() for line in self.banner if line.strip().startswith("curl "))

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> tuple[bytes, bytes]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        out = self.process.stdout.read() if self.process.stdout else b""
        return out, self.stderr_path.read_bytes()


def start_gateway(home: Path, **env: str) -> GatewayProcess:
    """Start ``rcmgw serve`` on a free port with ``home`` as RCMGW_HOME; return once it listens."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RCMGW_")}
    environ.update({"RCMGW_HOME": str(home), "RCMGW_HTTP_PORT": "0", "RCMGW_DELIVERY_POLL_INTERVAL": "0.1"})
    environ["RCMGW_MLLP_PORT"] = "0"
    environ.update(env)
    stderr_path = home.parent / f"gateway-stderr-{time.monotonic_ns()}.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [str(RCMGW), "serve"],
            cwd=REPO,
            env=environ,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    gateway = GatewayProcess(home=home, process=process, stderr_path=stderr_path)
    assert process.stdout is not None
    while True:
        raw = process.stdout.readline()
        if not raw:
            _, err = gateway.stop()
            raise AssertionError(f"gateway exited before its banner: {err.decode(errors='replace')[-2000:]}")
        line = raw.decode("utf-8").rstrip("\n")
        gateway.banner.append(line)
        if line.startswith("rcm-gateway listening on "):
            gateway.base_url = line.split()[3]
        if line.startswith("MLLP (HL7 v2) listening on "):
            gateway.mllp_port = int(line.rsplit(":", 1)[1])
        if line.startswith("Tickets appear in"):
            return gateway
