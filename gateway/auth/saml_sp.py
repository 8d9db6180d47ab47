"""The gateway as a SAML 2.0 service provider (python3-saml): metadata, login, ACS, single logout.

Hardening, in the order a response meets it:
1. size and shape before any parser sees it: base64 must decode, the XML must be at most
   ``max_response_bytes``, nest at most ``max_xml_depth`` deep, and carry no DTD or entity;
2. ``InResponseTo`` must name an AuthnRequest this gateway issued (and not yet used) within
   ``request_max_age_seconds``: unsolicited (IdP-initiated) responses are refused;
3. python3-saml in strict mode: signed assertions required, deprecated algorithms (SHA-1) rejected,
   audience, recipient/destination, issuer, time conditions and signature-wrapping checks;
4. the assertion id is remembered until its ``NotOnOrAfter``: a replayed response is refused.
Every failure is `AuthenticationFailed` with a ``saml_*`` reason; callers answer a generic 401.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from gateway.auth.errors import AuthenticationFailed
from gateway.auth.roles import parse_roles, scopes_for
from gateway.auth.saml_config import SamlSettings
from gateway.auth.saml_keys import load_or_create_sp_keys
from gateway.auth.store import AuthStore

log = logging.getLogger("rcmgw.saml")
_TAG = re.compile(rb"<(/?)[A-Za-z_][^<>]*?(/?)>")
_FORBIDDEN = (b"<!DOCTYPE", b"<!ENTITY", b"<!doctype", b"<!entity")
_SAFE_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


@dataclass(frozen=True, slots=True)
class SignedInUser:
    """A person the IdP vouched for, with the roles and scopes the gateway grants them."""

    subject: str
    roles: frozenset[str]
    scopes: frozenset[str]
    session_index: str | None


def decode_message(encoded: str, *, max_bytes: int, max_depth: int) -> bytes:
    """The XML of a base64 SAML message, checked for size, nesting and DTDs before parsing."""
    if len(encoded) > (max_bytes * 4) // 3 + 8:
        raise AuthenticationFailed("saml_too_large")
    try:
        xml = base64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        raise AuthenticationFailed("saml_malformed") from None
    if len(xml) > max_bytes:
        raise AuthenticationFailed("saml_too_large")
    if any(marker in xml for marker in _FORBIDDEN):
        raise AuthenticationFailed("saml_dtd")
    depth = deepest = 0
    for match in _TAG.finditer(xml):
        closing, self_closing = match.group(1), match.group(2)
        if closing:
            depth -= 1
        elif not self_closing:
            depth += 1
            deepest = max(deepest, depth)
            if deepest > max_depth:
                raise AuthenticationFailed("saml_too_deep")
    return xml


class SamlServiceProvider:
    """SAML sign-in and logout for one IdP."""

    def __init__(self, settings: SamlSettings, *, keys_dir: Path, store: AuthStore) -> None:
        assert settings.base_url is not None and settings.idp_metadata_file is not None
        self.config = settings
        self.base_url = settings.base_url.rstrip("/")
        self.store = store
        self.entity_id = settings.sp_entity_id or f"{self.base_url}/saml/metadata"
        key, cert = load_or_create_sp_keys(keys_dir)
        idp = OneLogin_Saml2_IdPMetadataParser.parse(settings.idp_metadata_file.read_text("utf-8"))
        self._settings: dict[str, object] = {
            "strict": True,
            "debug": False,
            "sp": {
                "entityId": self.entity_id,
                "assertionConsumerService": {
                    "url": f"{self.base_url}/saml/acs",
                    "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
                },
                "singleLogoutService": {
                    "url": f"{self.base_url}/saml/sls",
                    "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
                },
                "NameIDFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
                "x509cert": cert,
                "privateKey": key,
            },
            "idp": idp["idp"],
            "security": {
                "authnRequestsSigned": True,
                "logoutRequestSigned": True,
                "logoutResponseSigned": True,
                "wantAssertionsSigned": True,
                "wantMessagesSigned": False,
                "wantNameId": True,
                "wantAttributeStatement": False,
                "requestedAuthnContext": False,
                "rejectDeprecatedAlgorithm": True,
                "signatureAlgorithm": "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "digestAlgorithm": "http://www.w3.org/2001/04/xmlenc#sha256",
                "allowRepeatAttributeName": False,
            },
        }

    @property
    def _sls_settings(self) -> dict[str, object]:
        security = self._settings["security"]
        assert isinstance(security, dict)
        return {**self._settings, "security": {**security, "wantMessagesSigned": True}}

    def _request_data(
        self, path: str, get: dict[str, str] | None = None, post: dict[str, str] | None = None
    ) -> dict[str, object]:
        parts = urlsplit(self.base_url)
        return {
            "https": "on" if parts.scheme == "https" else "off",
            "http_host": parts.netloc,
            "script_name": parts.path + path,
            "get_data": get or {},
            "post_data": post or {},
        }

    def _auth(
        self, path: str, get: dict[str, str] | None = None, post: dict[str, str] | None = None
    ) -> OneLogin_Saml2_Auth:
        request = self._request_data(path, get, post)
        if path == "/saml/sls":
            # Logout messages come by HTTP-Redirect with a detached signature: require it, or anyone
            # could end a person's sessions with an unsigned LogoutRequest naming them.
            return OneLogin_Saml2_Auth(request, self._sls_settings)
        return OneLogin_Saml2_Auth(request, self._settings)

    def metadata(self) -> str:
        """Our SP metadata XML."""
        metadata = OneLogin_Saml2_Settings(self._settings, sp_validation_only=True).get_sp_metadata()
        return metadata.decode("utf-8") if isinstance(metadata, bytes) else str(metadata)

    def login_url(self, return_to: str = "/") -> str:
        """The IdP URL (HTTP-Redirect binding) with a signed AuthnRequest; its id is remembered."""
        auth = self._auth("/saml/login")
        url = str(auth.login(return_to=return_to if return_to.startswith("/") else "/"))
        self.store.remember_request(str(auth.get_last_request_id()))
        return url

    def acs(self, form: dict[str, str]) -> SignedInUser:
        """Check a POSTed SAMLResponse; the signed-in user or `AuthenticationFailed`."""
        encoded = form.get("SAMLResponse")
        if not encoded:
            raise AuthenticationFailed("saml_missing")
        xml = decode_message(
            encoded, max_bytes=self.config.max_response_bytes, max_depth=self.config.max_xml_depth
        )
        try:
            root = etree.fromstring(xml, parser=_SAFE_PARSER)
        except etree.XMLSyntaxError:
            raise AuthenticationFailed("saml_malformed") from None
        in_response_to = root.get("InResponseTo")
        if not in_response_to or not self.store.consume_request(
            in_response_to, timedelta(seconds=self.config.request_max_age_seconds)
        ):
            raise AuthenticationFailed("saml_unsolicited")
        auth = self._auth(
            "/saml/acs", post={"SAMLResponse": encoded, "RelayState": form.get("RelayState", "")}
        )
        try:
            auth.process_response(request_id=in_response_to)
        except Exception as error:  # noqa: BLE001 - python3-saml raises many types; none may escape
            log.info("saml response rejected", extra={"error_class": type(error).__name__})
            raise AuthenticationFailed("saml_invalid") from None
        errors = auth.get_errors()
        if errors or not auth.is_authenticated():
            log.info("saml response rejected", extra={"saml_errors": ",".join(errors)[:200]})
            raise AuthenticationFailed("saml_invalid")
        assertion_id = str(auth.get_last_assertion_id())
        not_after = auth.get_last_assertion_not_on_or_after()
        expires = (
            datetime.fromtimestamp(int(not_after), UTC)
            if not_after
            else self.store.clock() + timedelta(hours=1)
        )
        if not self.store.remember_assertion(assertion_id, expires):
            raise AuthenticationFailed("saml_replay")
        subject = str(auth.get_nameid())
        values = [str(v) for v in auth.get_attribute(self.config.role_attribute) or []]
        mapped = [role for value in values for role in self.config.role_map.get(value, [value])]
        roles = parse_roles(mapped)
        return SignedInUser(
            subject=subject,
            roles=frozenset(role.value for role in roles),
            scopes=scopes_for(roles),
            session_index=auth.get_session_index(),
        )

    def logout_url(self, subject: str, session_index: str | None) -> str:
        """The IdP's single-logout URL with a signed LogoutRequest for ``subject``."""
        auth = self._auth("/saml/logout")
        return str(auth.logout(return_to=f"{self.base_url}/", name_id=subject, session_index=session_index))

    def idp_logout_subject(self, get: dict[str, str]) -> str | None:
        """For an IdP-initiated LogoutRequest (``SAMLRequest`` in the query), the NameID it ends."""
        encoded = get.get("SAMLRequest")
        if not encoded:
            return None
        auth = self._auth("/saml/sls", get=get)
        request = OneLogin_Saml2_Logout_Request(auth.get_settings(), encoded)
        if not request.is_valid(self._request_data("/saml/sls", get)):
            raise AuthenticationFailed("saml_invalid")
        return str(OneLogin_Saml2_Logout_Request.get_nameid(request.get_xml()))

    def process_slo(self, get: dict[str, str]) -> str | None:
        """Handle an IdP's LogoutResponse or LogoutRequest; the URL to send the browser to, if any."""
        auth = self._auth("/saml/sls", get=get)
        try:
            url = auth.process_slo(keep_local_session=True)
        except Exception as error:  # noqa: BLE001 - see acs
            log.info("saml logout rejected", extra={"error_class": type(error).__name__})
            raise AuthenticationFailed("saml_invalid") from None
        if auth.get_errors():
            raise AuthenticationFailed("saml_invalid")
        return None if url is None else str(url)
