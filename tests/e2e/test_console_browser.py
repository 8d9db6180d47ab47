"""Acceptance: a real browser (Debian's chromium driven by Playwright) against a real gateway
subprocess. A webhook receiver answers 400 so the ticket dead-letters; an on-call engineer signs in
(dev sign-in), sees the dead letter, replays it with confirmation after the receiver is fixed, sees
it delivered; a security auditor sees the replay in the audit log with the chain intact. No page
shows canary PHI. Screenshots go to var/test-artifacts/console/ (path printed)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gatewayproc import GatewayProcess, mint_token, start_gateway, wait_until
from httpfaults import FaultServer, Ok, Status
from testkit import REPO, canary_event, find_canaries

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / "var" / "test-artifacts" / "console"
SECRET = "whsec_" + "Y29uc29sZS1icm93c2VyLXRlc3Qtc2VjcmV0LTEy"


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) is not installed")
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (.ci/apt.d/console.txt)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _token(home: Path, env: dict[str, str]) -> str:
    return mint_token(home, "console-e2e", "events:write", "spool:read", env=env)


def _entries(gw: GatewayProcess, token: str, state: str) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{gw.base_url}/v1/spool/entries",
        params={"state": state},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    r.raise_for_status()
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


def test_sign_in_see_dead_letter_replay_it_see_it_delivered_and_audited(home: Path, browser: Any) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    receiver = FaultServer(default=Status(400))  # the receiver rejects: the ticket dead-letters
    env = {
        "RCMGW_TEST_HOOK_SECRET": SECRET,
        "RCMGW_SINKS": json.dumps(
            [
                {
                    "name": "hook",
                    "kind": "webhook",
                    "url": receiver.url,
                    "secrets": ["env:RCMGW_TEST_HOOK_SECRET"],
                }
            ]
        ),
    }
    gw = start_gateway(home, **env)
    shots: list[Path] = []
    pages: list[bytes] = []
    try:
        token = _token(home, env)
        r = httpx.post(
            f"{gw.base_url}/v1/events",
            json=canary_event("console-e2e-1", distinct=True),
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert r.status_code == 202, r.text
        wait_until(lambda: len(_entries(gw, token, "dead")) == 1, 30, "the entry to dead-letter")
        entry_id = _entries(gw, token, "dead")[0]["entry_id"]

        context = browser.new_context(base_url=gw.base_url)
        page = context.new_page()

        def snap(name: str) -> None:
            pages.append(page.content().encode())
            path = ARTIFACTS / f"{len(shots) + 1:02d}-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            shots.append(path)

        def sign_in(user: str, role: str) -> None:
            page.goto("/console/login")
            page.fill("input[name=user]", user)
            page.select_option("select[name=role]", role)
            page.click("button[type=submit]")

        # on call signs in and sees the dead letter
        sign_in("olivia", "on_call")
        page.wait_for_url("**/console/")
        assert page.locator("#sinks").inner_text().count("hook") == 1
        snap("overview")
        page.click("text=Dead letters")
        page.wait_for_selector(f"text={entry_id}")
        snap("dead-letters")
        page.click(f"a:text('{entry_id}')")
        page.wait_for_selector("#payload")
        snap("payload-view")

        # the receiver is fixed; replay with confirmation
        receiver.default = Ok()
        page.click("#replay-one")
        page.wait_for_selector("#confirm-replay")
        snap("confirm-replay")
        page.click("#confirm-replay")
        page.wait_for_selector("#replayed")
        wait_until(lambda: receiver.received_ids != [], 30, "the replayed ticket to be delivered")
        wait_until(
            lambda: len(_entries(gw, token, "delivered")) == 1, 30, "the entry to be settled delivered"
        )
        page.goto("/console/entries?state=delivered")
        assert entry_id in page.locator("#entries").inner_text()
        assert "delivered" in page.locator("#entries .state").first.inner_text()
        snap("delivered")
        page.click("text=Sign out")
        page.wait_for_url("**/console/login")

        # a security auditor sees the replay in the audit log, chain intact
        sign_in("sam", "security_auditor")
        page.goto("/console/audit?event=spool.replayed&verify=1")
        rows = page.locator("#audit").inner_text()
        assert "user:olivia" in rows and entry_id in rows
        assert "intact" in page.locator("#chain").inner_text()
        snap("audit")
        context.close()
        for html in pages:
            assert find_canaries(html) == []
    finally:
        gw.stop()
        receiver.stop()
        print(f"console screenshots: {ARTIFACTS} ({len(shots)} files)")
    assert len(receiver.received_ids) == 1
    assert os.path.getsize(shots[-1]) > 0


def test_saml_sign_in_through_simplesamlphp_opens_the_console(
    home: Path, tmp_path: Path, browser: Any
) -> None:
    from peers.oidc_provider import free_port
    from peers.simplesamlphp import simplesamlphp

    from gateway.auth.saml_keys import load_or_create_sp_keys

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = free_port()
    sp_base = f"http://127.0.0.1:{port}"
    _, cert = load_or_create_sp_keys(home / "keys")  # the gateway finds and uses this key pair
    with simplesamlphp(tmp_path, sp_base=sp_base, sp_cert_pem=cert) as idp:
        metadata = tmp_path / "idp-metadata.xml"
        metadata.write_bytes(httpx.get(idp.metadata_url, timeout=10).content)
        gw = start_gateway(
            home,
            RCMGW_HTTP_PORT=str(port),
            RCMGW_SAML__BASE_URL=sp_base,
            RCMGW_SAML__IDP_METADATA_FILE=str(metadata),
        )
        try:
            context = browser.new_context(base_url=gw.base_url)
            page = context.new_page()
            page.goto("/console/")
            page.wait_for_url("**/console/login")
            page.click("text=Sign in with your organisation (SAML)")
            page.wait_for_selector("input[name=username]")
            page.fill("input[name=username]", "auditor")
            page.fill("input[name=password]", "auditor-pw")
            page.keyboard.press("Enter")
            page.wait_for_url(f"{sp_base}/console/")  # the IdP posts to our ACS, which lands on the console
            page.goto("/console/audit?event=sign_in")
            assert "auditor (security_auditor)" in page.locator("#who").inner_text()
            rows = page.locator("#audit").inner_text()
            assert "user:auditor" in rows
            page.screenshot(path=str(ARTIFACTS / "saml-audit.png"), full_page=True)
            context.close()
        finally:
            gw.stop()
            print(f"console screenshots: {ARTIFACTS}")
