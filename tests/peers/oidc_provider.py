"""Start and stop the real oidc-provider authorization server (tests/peers/oidc/server.mjs).

Installed by ``.ci/setup.d/50-oidc-provider.sh`` into ``var/ci/oidc-provider``. Missing: the test
is skipped locally and fails under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
from gatewayproc import wait_until
from testkit import REPO

MODULES = REPO / "var" / "ci" / "oidc-provider"
SCRIPT = REPO / "tests" / "peers" / "oidc" / "server.mjs"


def missing_peer(reason: str) -> None:
    """Skip locally, fail in CI."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"peer missing in CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class OidcPeer:
    """A running oidc-provider."""

    issuer: str
    audience: str

    def token(self, client: str, secret: str, scope: str, *, resource: str | None = None) -> str:
        data = {"grant_type": "client_credentials", "scope": scope}
        if resource:
            data["resource"] = resource
        response = httpx.post(f"{self.issuer}/token", data=data, auth=(client, secret), timeout=10)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def rotate(self) -> str:
        response = httpx.post(f"{self.issuer}/__test/rotate", timeout=10)
        response.raise_for_status()
        return str(response.json()["kid"])


@contextmanager
def oidc_provider(audience: str = "urn:rcmgw:api") -> Iterator[OidcPeer]:
    """A fresh oidc-provider on a free loopback port."""
    node = shutil.which("node")
    if node is None or not (MODULES / "node_modules" / "oidc-provider").is_dir():
        missing_peer("oidc-provider not installed (run .ci/setup.d/50-oidc-provider.sh)")
    assert node is not None
    port = free_port()
    process = subprocess.Popen(
        [node, str(SCRIPT), str(MODULES), str(port), audience],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    issuer = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError("oidc-provider exited")
            try:
                return httpx.get(f"{issuer}/jwks", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(up, 30, "oidc-provider to listen")
        yield OidcPeer(issuer, audience)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
