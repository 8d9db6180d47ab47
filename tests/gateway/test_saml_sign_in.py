"""SAML 2.0 sign-in against a real IdP (SimpleSAMLphp from Debian, `php -S` on loopback), driven by
httpx form posts: the full round trip, single logout, and the negative battery (edited assertion,
replayed response, wrong audience, expired, signature wrapping, oversized/deep/DTD/garbage XML)."""

from __future__ import annotations

import base64
import contextlib
import copy
import html
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from lxml import etree
from peers.simplesamlphp import SamlIdp, simplesamlphp

from gateway.app import create_app
from gateway.auth.errors import AuthenticationFailed
from gateway.auth.saml_keys import load_or_create_sp_keys
from gateway.auth.saml_sp import SamlServiceProvider
from gateway.auth.sessions import CSRF_HEADER, SESSION_COOKIE
from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings

pytestmark = pytest.mark.slow
SP_BASE = "http://localhost"
NS = {"saml": "urn:oasis:names:tc:SAML:2.0:assertion", "samlp": "urn:oasis:names:tc:SAML:2.0:protocol"}


@dataclass
class Gateway:
    client: TestClient
    runtime: Runtime
    idp: SamlIdp
    settings: Settings


@pytest.fixture(scope="module")
def idp_and_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SamlIdp, Path]]:
    tmp = tmp_path_factory.mktemp("saml")
    home = tmp / "var"
    _, cert = load_or_create_sp_keys(home / "keys")
    with simplesamlphp(tmp, sp_base=SP_BASE, sp_cert_pem=cert) as idp:
        (tmp / "idp-metadata.xml").write_bytes(httpx.get(idp.metadata_url, timeout=10).content)
        yield idp, home


@pytest.fixture
def gateway(idp_and_home: tuple[SamlIdp, Path], settings: Settings, home: Path) -> Iterator[Gateway]:
    idp, idp_home = idp_and_home
    # A fresh gateway home per test, holding the SP key pair the IdP was configured to trust.
    (home / "keys").mkdir(mode=0o700)
    for name in ("saml-sp.key", "saml-sp.crt"):
        shutil.copy(idp_home / "keys" / name, home / "keys" / name)
    configured = get_settings(
        home=home,
        delivery_enabled=False,
        saml={"base_url": SP_BASE, "idp_metadata_file": idp_home.parent / "idp-metadata.xml"},
    )
    runtime = Runtime.build(configured)
    app = create_app(configured, runtime)
    with TestClient(app, base_url=SP_BASE, raise_server_exceptions=False) as client:
        yield Gateway(client, runtime, idp, configured)


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}"\s+value="([^"]*)"', page) or re.search(
        rf'value="([^"]*)"\s+name="{name}"', page
    )
    assert match, f"no hidden input {name}"
    return html.unescape(match.group(1))


def _idp_sign_in(
    gw: Gateway, user: str, password: str, browser: httpx.Client | None = None
) -> dict[str, str]:
    """Log in at the IdP like a browser; the form the IdP would auto-post to our ACS. With
    ``browser``, it keeps the IdP's session cookie (for single logout)."""
    start = gw.client.get("/saml/login", follow_redirects=False)
    assert start.status_code == 303
    with contextlib.nullcontext(browser) if browser else httpx.Client(timeout=20) as browser:
        page = browser.get(start.headers["location"], follow_redirects=True)
        assert page.status_code == 200, page.text[:500]
        answer = browser.post(
            str(page.url),
            follow_redirects=True,
            data={"username": user, "password": password, "AuthState": _hidden(page.text, "AuthState")},
        )
        assert answer.status_code == 200, answer.text[:500]
        assert "SAMLResponse" in answer.text, re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", answer.text))[:3000]
    form = {"SAMLResponse": _hidden(answer.text, "SAMLResponse")}
    if 'name="RelayState"' in answer.text:
        form["RelayState"] = _hidden(answer.text, "RelayState")
    return form


def _session_cookie(response: httpx.Response) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{SESSION_COOKIE}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError("no session cookie")


def _xml(form: dict[str, str]) -> bytes:
    return base64.b64decode(form["SAMLResponse"])


def _reissue(gw: Gateway, xml: bytes) -> None:
    """Make the response's InResponseTo answerable again, to reach the checks behind it."""
    in_response_to = etree.fromstring(xml).get("InResponseTo")
    assert gw.runtime.security is not None
    gw.runtime.security.store.remember_request(in_response_to)


def _post(gw: Gateway, xml: bytes) -> httpx.Response:
    return gw.client.post(
        "/saml/acs", data={"SAMLResponse": base64.b64encode(xml).decode()}, follow_redirects=False
    )


def test_round_trip_signs_in_with_roles_then_logs_out_everywhere(gateway: Gateway) -> None:
    gw = gateway
    form = _idp_sign_in(gw, "auditor", "auditor-pw")
    done = gw.client.post("/saml/acs", data=form, follow_redirects=False)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"{SP_BASE}/console/", "people land on the console"
    cookies = done.headers.get_list("set-cookie")
    session_header = next(c for c in cookies if c.startswith(SESSION_COOKIE))
    assert {"Secure", "HttpOnly", "SameSite=Strict"} <= {p.strip() for p in session_header.split(";")}
    cookie = {"Cookie": f"{SESSION_COOKIE}={_session_cookie(done)}"}
    assert gw.client.get("/v1/audit", headers=cookie).status_code == 200
    sign_in = gw.runtime.audit.records(event="sign_in")
    assert [(r.actor, r.details["roles"]) for r in sign_in] == [("user:auditor", "security_auditor")]
    assert gw.runtime.security is not None
    row = next(p for p in gw.runtime.security.store.principals() if p.kind == "person")
    assert row.principal_id == "auditor"

    session = gw.runtime.security.store.execute("SELECT csrf FROM sessions")[0][0]
    assert gw.client.post("/saml/logout", headers=cookie, follow_redirects=False).status_code == 403
    out = gw.client.post(
        "/saml/logout", headers={**cookie, CSRF_HEADER: str(session)}, follow_redirects=False
    )
    assert out.status_code == 303 and "SAMLRequest=" in out.headers["location"]
    assert gw.client.get("/v1/audit", headers=cookie).status_code == 401
    assert [r.actor for r in gw.runtime.audit.records(event="sign_out")] == ["user:auditor"]


def test_unknown_idp_roles_are_ignored(gateway: Gateway) -> None:
    form = _idp_sign_in(gateway, "biller", "biller-pw")
    done = gateway.client.post("/saml/acs", data=form, follow_redirects=False)
    assert done.status_code == 303
    assert gateway.runtime.audit.records(event="sign_in")[0].details["roles"] == "billing_specialist"
    cookie = {"Cookie": f"{SESSION_COOKIE}={_session_cookie(done)}"}
    assert gateway.client.get("/v1/audit", headers=cookie).status_code == 403


def test_replayed_response_is_refused(gateway: Gateway) -> None:
    form = _idp_sign_in(gateway, "auditor", "auditor-pw")
    assert gateway.client.post("/saml/acs", data=form, follow_redirects=False).status_code == 303
    again = gateway.client.post("/saml/acs", data=form, follow_redirects=False)
    assert again.status_code == 401 and again.json()["detail"] == "a valid bearer token is required"
    _reissue(gateway, _xml(form))  # even with its request id answerable again, the assertion id is spent
    assert gateway.client.post("/saml/acs", data=form, follow_redirects=False).status_code == 401
    reasons = [r.details["reason"] for r in gateway.runtime.audit.records(event="sign_in.failed")]
    assert reasons == ["saml_unsolicited", "saml_replay"]


def test_edited_assertion_is_refused(gateway: Gateway) -> None:
    xml = _xml(_idp_sign_in(gateway, "biller", "biller-pw"))
    edited = xml.replace(b"billing_specialist", b"admin")
    assert edited != xml
    _reissue(gateway, edited)
    assert _post(gateway, edited).status_code == 401
    assert gateway.runtime.audit.records(event="sign_in.failed")[0].details["reason"] == "saml_invalid"


def test_signature_wrapping_is_refused(gateway: Gateway) -> None:
    xml = _xml(_idp_sign_in(gateway, "biller", "biller-pw"))
    root = etree.fromstring(xml)
    original = root.find("saml:Assertion", NS)
    evil = copy.deepcopy(original)
    for signature in evil.findall("{http://www.w3.org/2000/09/xmldsig#}Signature"):
        evil.remove(signature)
    evil.set("ID", "_evil")
    for value in evil.iter("{urn:oasis:names:tc:SAML:2.0:assertion}AttributeValue"):
        value.text = "admin"
    original.addprevious(evil)
    wrapped = etree.tostring(root)
    _reissue(gateway, wrapped)
    assert _post(gateway, wrapped).status_code == 401


def test_wrong_audience_is_refused(gateway: Gateway) -> None:
    form = _idp_sign_in(gateway, "auditor", "auditor-pw")
    _reissue(gateway, _xml(form))
    assert gateway.runtime.security is not None
    other = SamlServiceProvider(
        gateway.settings.saml.model_copy(update={"sp_entity_id": "http://localhost/another-sp"}),
        keys_dir=gateway.settings.keys_dir,
        store=gateway.runtime.security.store,
    )
    with pytest.raises(AuthenticationFailed) as caught:
        other.acs(form)
    assert caught.value.reason == "saml_invalid"


def test_expired_response_is_refused(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    form = _idp_sign_in(gateway, "auditor", "auditor-pw")
    real_now = OneLogin_Saml2_Utils.now
    monkeypatch.setattr(
        OneLogin_Saml2_Utils,
        "now",
        staticmethod(lambda: real_now() + int(timedelta(hours=2).total_seconds())),
    )
    assert gateway.client.post("/saml/acs", data=form, follow_redirects=False).status_code == 401


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"SAMLResponse": "%%%not-base64"}, "saml_malformed"),
        ({"SAMLResponse": base64.b64encode(b"<a>" * 100 + b"</a>" * 100).decode()}, "saml_too_deep"),
        (
            {"SAMLResponse": base64.b64encode(b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>').decode()},
            "saml_dtd",
        ),
        ({"SAMLResponse": base64.b64encode(b"<x>" + b"y" * 300_000 + b"</x>").decode()}, "saml_too_large"),
        ({"SAMLResponse": base64.b64encode(b"<samlp:Response").decode()}, "saml_malformed"),
        ({"SAMLResponse": base64.b64encode(b"<Response InResponseTo='nope'/>").decode()}, "saml_unsolicited"),
        ({}, "saml_missing"),
    ],
)
def test_bad_responses_get_a_generic_401_and_an_audit_record(
    gateway: Gateway, body: dict[str, str], reason: str
) -> None:
    response = gateway.client.post("/saml/acs", data=body)
    assert response.status_code == 401
    assert response.json()["detail"] == "a valid bearer token is required"
    assert "Traceback" not in response.text
    assert [r.details["reason"] for r in gateway.runtime.audit.records(event="sign_in.failed")] == [reason]


def test_metadata_is_served(gateway: Gateway) -> None:
    response = gateway.client.get("/saml/metadata")
    assert response.status_code == 200 and b"AssertionConsumerService" in response.content
    assert urlsplit(SP_BASE).netloc in response.text
    from gateway.dataflow import build_dataflow

    assert "saml_idp" in {node.id for node in build_dataflow(gateway.runtime).nodes}


def _signed_in(gw: Gateway, browser: httpx.Client) -> dict[str, str]:
    """Sign ``auditor`` in through ``browser``; the session cookie header for the gateway."""
    done = gw.client.post(
        "/saml/acs", data=_idp_sign_in(gw, "auditor", "auditor-pw", browser), follow_redirects=False
    )
    assert done.status_code == 303, done.text
    cookie = {"Cookie": f"{SESSION_COOKIE}={_session_cookie(done)}"}
    assert gw.client.get("/v1/audit", headers=cookie).status_code == 200
    return cookie


def _follow_to_sp(browser: httpx.Client, url: str) -> str:
    """Follow the IdP's redirects like a browser until one points back at the SP; that URL."""
    for _ in range(10):
        if url.startswith(SP_BASE):
            return url
        reply = browser.get(url, follow_redirects=False)
        assert reply.status_code in (302, 303), re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", reply.text))[:2000]
        url = reply.headers["location"]
    raise AssertionError("the IdP never redirected back to the SP")


def _local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_sp_initiated_logout_accepts_the_idps_logout_response(gateway: Gateway) -> None:
    gw = gateway
    with httpx.Client(timeout=20) as browser:
        cookie = _signed_in(gw, browser)
        assert gw.runtime.security is not None
        csrf = str(gw.runtime.security.store.execute("SELECT csrf FROM sessions")[0][0])
        out = gw.client.post("/saml/logout", headers={**cookie, CSRF_HEADER: csrf}, follow_redirects=False)
        assert out.status_code == 303
        back = _follow_to_sp(browser, out.headers["location"])
    assert urlsplit(back).path == "/saml/sls" and "SAMLResponse=" in back and "&Signature=" in back
    # Unsigned, it is refused ...
    unsigned = re.sub(r"&Signature=[^&]+", "", _local(back))
    assert gw.client.get(unsigned, follow_redirects=False).status_code == 401
    # A tampered signature is refused (generic 401 and an audit record) ...
    forged = re.sub(r"Signature=[^&]+", "Signature=AAAA", _local(back))
    assert gw.client.get(forged, follow_redirects=False).status_code == 401
    assert [r.details["reason"] for r in gw.runtime.audit.records(event="sign_out.failed")] == [
        "saml_invalid"
    ] * 2
    # ... the IdP's real LogoutResponse is accepted and lands the browser on the console's sign-in page.
    done = gw.client.get(_local(back), follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"{SP_BASE}/console/login"
    assert len(gw.runtime.audit.records(event="sign_out.failed")) == 2
    assert gw.client.get("/v1/audit", headers=cookie).status_code == 401


def test_idp_initiated_logout_ends_the_session_and_answers_the_idp(gateway: Gateway) -> None:
    gw = gateway
    with httpx.Client(timeout=20) as browser:
        cookie = _signed_in(gw, browser)
        relay = f"{gw.idp.base}/module.php/core/frontpage_welcome.php"
        start = f"{gw.idp.base}/saml2/idp/initSLO.php?RelayState={relay}"
        request = _follow_to_sp(browser, start)
        assert (
            urlsplit(request).path == "/saml/sls" and "SAMLRequest=" in request and "&Signature=" in request
        )
        # An unsigned LogoutRequest, or one whose signature does not verify, ends nothing.
        unsigned = re.sub(r"&Signature=[^&]+", "", _local(request))
        assert gw.client.get(unsigned, follow_redirects=False).status_code == 401
        forged = re.sub(r"Signature=[^&]+", "Signature=AAAA", _local(request))
        assert gw.client.get(forged, follow_redirects=False).status_code == 401
        assert gw.client.get("/v1/audit", headers=cookie).status_code == 200
        answer = gw.client.get(_local(request), follow_redirects=False)
        assert answer.status_code == 303
        assert (
            answer.headers["location"].startswith(gw.idp.base)
            and "SAMLResponse=" in answer.headers["location"]
        )
        assert gw.client.get("/v1/audit", headers=cookie).status_code == 401
        by_idp = gw.runtime.audit.records(event="sign_out")
        assert [(r.actor, r.details["by"]) for r in by_idp] == [("user:auditor", "idp")]
        # The IdP accepts our signed LogoutResponse and finishes at its RelayState.
        finished = browser.get(answer.headers["location"], follow_redirects=True)
        assert finished.status_code == 200 and str(finished.url) == relay
