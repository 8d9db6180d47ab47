"""Rendering console pages: one Jinja2 environment (autoescaping on), the stylesheet inlined and
allowed by its hash, and the security headers every page carries.

The Content-Security-Policy allows no script at all (the console needs none), styles only by the
hash of the one inlined stylesheet, images and forms only from this origin, and no framing.
Pages are never cached (they show live operational data).
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from importlib import resources
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

PAGE_SIZE = 50


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("gateway.console", "templates"),
        autoescape=select_autoescape(("html",)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The console's CSS (inlined into every page)."""
    return resources.files("gateway.console").joinpath("static/console.css").read_text("utf-8")


@lru_cache(maxsize=1)
def content_security_policy() -> str:
    """The CSP header value: no scripts, the stylesheet by its SHA-256."""
    digest = base64.b64encode(hashlib.sha256(stylesheet().encode("utf-8")).digest()).decode("ascii")
    return (
        "default-src 'none'; "
        f"style-src 'sha256-{digest}'; "
        "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


def secure(response: HTMLResponse) -> HTMLResponse:
    """Add the security headers to ``response``."""
    response.headers["Content-Security-Policy"] = content_security_policy()
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with ``context`` plus the signed-in principal, its CSRF token and the
    stylesheet; with the security headers."""
    principal = getattr(request.state, "principal", None)
    html = (
        _environment()
        .get_template(template)
        .render(
            principal=principal,
            scopes=frozenset(principal.scopes) if principal is not None else frozenset(),
            csrf=getattr(request.state, "console_csrf", ""),
            stylesheet=stylesheet(),
            **context,
        )
    )
    return secure(HTMLResponse(html, status_code=status_code))


__all__ = ["PAGE_SIZE", "SECURITY_HEADERS", "content_security_policy", "page", "secure", "stylesheet"]
