"""`RestSink`: a ticketing sink defined entirely by configuration (`RestSpec`), for backends without
a dedicated sink.

The spec names up to four requests, each a method, a path (or absolute URL), query parameters,
headers and a body template:

* ``search`` (required): finds the remote ticket holding the fingerprint in an external-id field;
  ``id_pointer`` (RFC 6901 JSON pointer) reads its id from the response; a missing or null value
  means "not found";
* ``create`` (required): creates the ticket; its id is read with ``id_pointer`` from the JSON
  response, or from the ``id_header`` response header (e.g. ``Location``, last path segment);
* ``comment`` (optional): records a recurrence on the found ticket (``{{remote_id}}`` available);
  without it a recurrence is recorded as delivered to the existing ticket and nothing is written;
* ``mentions`` (optional): reads the found ticket (or its comments); when the response text
  contains ``contains`` (default ``{{ticket.id}}``) the delivery is a replay and nothing is written.
  Without it, a replay after a restart adds a second comment (never a second ticket).

Templates are logic-less: ``{{ticket.summary}}``, ``{{ticket.fingerprint}}``, ``{{ticket.routing.queue}}``
(any payload field by dotted path), ``{{ticket.text}}`` (the standard ticket text),
``{{ticket.recurrence_text}}`` and ``{{remote_id}}``. Unknown names are rejected when the spec is
loaded. Substitution is context-escaped and never evaluated: in a *string* body each value is
JSON-escaped (write ``"title": "{{ticket.summary}}"``); in a *structured* body (a YAML mapping/list,
sent as JSON) string leaves are substituted and a leaf that is exactly one placeholder keeps the
value's JSON type; in paths values are percent-encoded; query parameters are encoded by the HTTP
client; header values must not contain line breaks.

Auth (secrets are ``env:NAME`` / ``file:/path`` references resolved by the caller's ``resolve``):
``header`` (``name``, ``secret``, optional ``prefix`` such as ``"Bearer "``), ``basic``
(``username``, ``password``) or ``oauth2_client_credentials`` (``token_url``, ``client_id``,
``client_secret``, optional ``scope``/``audience``; the token is fetched on first use, cached until
shortly before ``expires_in``, and refetched once when the backend answers 401).

Errors are the shared HTTP mapping of `fallback.http_delivery` (408/409/425/429/5xx transient with
``Retry-After``, 410 disables the sink, other 4xx dead-letter; connection failures retried in call).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal, get_type_hints
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fallback.client_credentials import ClientCredentials
from fallback.errors import PermanentDeliveryError
from fallback.http_delivery import check_response, require_safe_url, send
from fallback.http_sink import HttpSink
from fallback.sink import DeliveryReceipt
from fallback.ticketing_sink import recurrence_text, ticket_text
from normalizers.sealed import SealedTicket

_PLACEHOLDER: Final = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}")
_COMPUTED: Final = frozenset({"text", "recurrence_text"})
_PAYLOAD_FIELDS: Final[frozenset[str]] = frozenset(
    get_type_hints(SealedTicket.payload.fget)["return"].model_fields  # type: ignore[attr-defined]
)  # the payload model's fields (fallback may import only the sealed ticket)
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
SecretRefText = Annotated[str, Field(pattern=r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$")]


def placeholders(template: object) -> set[str]:
    """Every placeholder name used in ``template`` (a string or nested mapping/list)."""
    if isinstance(template, str):
        return set(_PLACEHOLDER.findall(template))
    if isinstance(template, dict):
        return set().union(*(placeholders(k) | placeholders(v) for k, v in template.items()))
    if isinstance(template, list):
        return set().union(*(placeholders(v) for v in template))
    return set()


def check_placeholder(name: str, *, remote_id: bool) -> None:
    """ValueError unless ``name`` is a known template variable."""
    if name == "remote_id":
        if not remote_id:
            raise ValueError("{{remote_id}} is only available in comment and mentions requests")
        return
    head, _, rest = name.partition(".")
    top = rest.split(".", 1)[0]
    if head != "ticket" or not rest or (top not in _PAYLOAD_FIELDS and top not in _COMPUTED):
        raise ValueError(f"unknown template variable {{{{{name}}}}}")


def json_pointer(document: Any, pointer: str) -> Any:
    """The value at RFC 6901 ``pointer`` in ``document``; None when it is absent."""
    if pointer == "":
        return document
    node = document
    for raw in pointer.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            if token not in node:
                return None
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or int(token) >= len(node):
                return None
            node = node[int(token)]
        else:
            return None
    return node


class Variables:
    """The values templates may name, for one ticket (and the remote id, when known)."""

    def __init__(self, ticket: SealedTicket, remote_id: str | None = None) -> None:
        self._ticket = ticket
        self._data: dict[str, Any] | None = None
        self._remote_id = remote_id

    def value(self, name: str) -> Any:
        if name == "remote_id":
            return self._remote_id or ""
        path = name.split(".")[1:]
        if path == ["text"]:
            return ticket_text(self._ticket)
        if path == ["recurrence_text"]:
            return recurrence_text(self._ticket)
        if self._data is None:
            self._data = self._ticket.payload.model_dump(mode="json")
        node: Any = self._data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        return node

    def text(self, name: str) -> str:
        value = self.value(name)
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def render(template: str, variables: Variables, escape: Callable[[str], str]) -> str:
    """``template`` with every placeholder replaced by ``escape(value as text)``."""
    return _PLACEHOLDER.sub(lambda m: escape(variables.text(m.group(1))), template)


def render_structure(template: Any, variables: Variables) -> Any:
    """A mapping/list template rendered leaf by leaf (see the module docstring)."""
    if isinstance(template, dict):
        return {render(str(k), variables, str): render_structure(v, variables) for k, v in template.items()}
    if isinstance(template, list):
        return [render_structure(v, variables) for v in template]
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template.strip())
        if whole is not None:
            value = variables.value(whole.group(1))
            return "" if value is None else value
        return render(template, variables, str)
    return template


def _json_escape(text: str) -> str:
    return json.dumps(text)[1:-1]


def _header_value(text: str) -> str:
    if "\r" in text or "\n" in text:
        raise PermanentDeliveryError("rest: a header value would contain a line break")
    return text


class RestRequest(BaseModel):
    """One configured request (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    method: Method = "GET"
    path: Annotated[str, Field(min_length=1)] = Field(
        description="Path under the sink URL, or an absolute URL (https; http only for loopback)."
    )
    params: dict[str, str] = Field(default_factory=dict, description="Query parameters (templates).")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra headers (templates).")
    body: str | dict[str, Any] | list[Any] | None = Field(
        None, description="Body template: a string (values JSON-escaped) or a mapping/list sent as JSON."
    )
    content_type: str = "application/json"
    id_pointer: str | None = Field(None, description="JSON pointer to the id in the response.")
    id_header: str | None = Field(None, description="Response header holding the id (last path segment).")
    contains: str = Field("{{ticket.id}}", description="mentions: text whose presence means 'already there'.")

    @field_validator("id_pointer")
    @classmethod
    def _pointer(cls, value: str | None) -> str | None:
        if value is not None and value != "" and not value.startswith("/"):
            raise ValueError("id_pointer must be a JSON pointer starting with '/'")
        return value

    def names(self) -> set[str]:
        return (
            placeholders(self.path)
            | placeholders(self.params)
            | placeholders(self.headers)
            | placeholders(self.body)
            | placeholders(self.contains)
        )


class RestAuth(BaseModel):
    """How the sink authenticates (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["none", "header", "basic", "oauth2_client_credentials"] = "none"
    name: str = Field("Authorization", description="header: the header name.")
    prefix: str = Field("", description="header: text before the secret, e.g. 'Bearer '.")
    secret: SecretRefText | None = Field(None, description="header: the secret reference.")
    username: str | None = Field(None, description="basic: the user name.")
    password: SecretRefText | None = Field(None, description="basic: the password reference.")
    token_url: str | None = Field(None, description="oauth2: the token endpoint (path or URL).")
    client_id: str | None = None
    client_secret: SecretRefText | None = None
    scope: str | None = None
    audience: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> RestAuth:
        need = {
            "none": (),
            "header": ("secret",),
            "basic": ("username", "password"),
            "oauth2_client_credentials": ("token_url", "client_id", "client_secret"),
        }[self.type]
        missing = [field for field in need if not getattr(self, field)]
        if missing:
            raise ValueError(f"auth type {self.type} needs {', '.join(missing)}")
        return self


class RestSpec(BaseModel):
    """The ``options`` of a ``rest`` sink (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    auth: RestAuth = Field(default_factory=RestAuth)
    headers: dict[str, str] = Field(default_factory=dict, description="Headers sent on every request.")
    search: RestRequest
    create: RestRequest
    comment: RestRequest | None = None
    mentions: RestRequest | None = None

    @model_validator(mode="after")
    def _check(self) -> RestSpec:
        if self.search.id_pointer is None:
            raise ValueError("search needs id_pointer (where the found ticket's id is)")
        if self.create.id_pointer is None and self.create.id_header is None:
            raise ValueError("create needs id_pointer or id_header (where the new ticket's id is)")
        for what, request, remote in (
            ("search", self.search, False),
            ("create", self.create, False),
            ("comment", self.comment, True),
            ("mentions", self.mentions, True),
        ):
            if request is None:
                continue
            try:
                for name in request.names():
                    check_placeholder(name, remote_id=remote)
            except ValueError as exc:
                raise ValueError(f"{what}: {exc}") from None
        for name in placeholders(self.headers):
            check_placeholder(name, remote_id=False)
        return self


class RestSink(HttpSink):
    """The configured sink (see the module docstring). ``resolve`` turns secret references into
    secrets (the gateway passes `gateway.delivery_settings.resolve_secret`)."""

    def __init__(
        self,
        url: str,
        spec: RestSpec | dict[str, Any],
        *,
        resolve: Callable[[str], str],
        name: str = "rest",
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, url, **kwargs)
        self._spec = spec if isinstance(spec, RestSpec) else RestSpec.model_validate(spec)
        auth = self._spec.auth
        self._auth_header: tuple[str, str] | None = None
        self._basic: httpx.BasicAuth | None = None
        self._credentials: ClientCredentials | None = None
        if auth.type == "header":
            assert auth.secret is not None
            self._auth_header = (auth.name, auth.prefix + resolve(auth.secret))
        elif auth.type == "basic":
            assert auth.username is not None and auth.password is not None
            self._basic = httpx.BasicAuth(auth.username, resolve(auth.password))
        elif auth.type == "oauth2_client_credentials":
            assert auth.token_url is not None and auth.client_secret is not None
            token_url = auth.token_url if "://" in auth.token_url else self._base_url + auth.token_url
            form = {"scope": auth.scope} if auth.scope else {}
            if auth.audience:
                form["audience"] = auth.audience
            assert auth.client_id is not None
            self._credentials = ClientCredentials(
                name, require_safe_url(name, token_url), auth.client_id, resolve(auth.client_secret),
                clock=clock, form=form,
            )  # fmt: skip
        for request in (self._spec.search, self._spec.create, self._spec.comment, self._spec.mentions):
            if request is not None and "://" in request.path:
                require_safe_url(name, request.path.split("{{", 1)[0] or request.path)

    @property
    def token_fetches(self) -> int:
        """How many OAuth access tokens were fetched (each is reused until shortly before expiry)."""
        return 0 if self._credentials is None else self._credentials.fetches

    async def _deliver(
        self, client: httpx.AsyncClient, ticket: SealedTicket, idempotency_key: str
    ) -> DeliveryReceipt:
        found = await self.find(ticket)
        if found is not None:
            if await self.mentions(found, ticket):
                return DeliveryReceipt(remote_id=found, duplicate=True)
            await self.comment(found, ticket)
            return DeliveryReceipt(remote_id=found, duplicate=False)
        return DeliveryReceipt(remote_id=await self.create(ticket), duplicate=False)

    async def find(self, ticket: SealedTicket) -> str | None:
        """The id of the remote ticket holding ``ticket``'s fingerprint, or None."""
        response = await self._request(self._spec.search, Variables(ticket))
        found = json_pointer(self._json(response), self._spec.search.id_pointer or "")
        return None if found is None or found == "" else str(found)

    async def mentions(self, remote_id: str, ticket: SealedTicket) -> bool:
        """Does the remote ticket already record ``ticket`` (a replay)? False without ``mentions``."""
        spec = self._spec.mentions
        if spec is None:
            return False
        variables = Variables(ticket, remote_id)
        response = await self._request(spec, variables)
        return render(spec.contains, variables, str) in response.text

    async def create(self, ticket: SealedTicket) -> str:
        """Create the remote ticket; its id."""
        spec = self._spec.create
        response = await self._request(spec, Variables(ticket))
        if spec.id_pointer is not None:
            remote = json_pointer(self._json(response), spec.id_pointer)
        else:
            header = response.headers.get(spec.id_header or "")
            remote = header.rstrip("/").rsplit("/", 1)[-1] if header else None
        if remote is None or remote == "":
            raise PermanentDeliveryError(f"{self.name}: the create response holds no id")
        return str(remote)

    async def comment(self, remote_id: str, ticket: SealedTicket) -> None:
        """Record a recurrence (nothing without a ``comment`` request)."""
        if self._spec.comment is not None:
            await self._request(self._spec.comment, Variables(ticket, remote_id))

    async def _request(self, spec: RestRequest, variables: Variables) -> httpx.Response:
        path = render(spec.path, variables, lambda v: quote(v, safe=""))
        url = path if "://" in path else self._base_url + path
        headers = {k: _header_value(render(v, variables, str)) for k, v in self._spec.headers.items()}
        headers.update({k: _header_value(render(v, variables, str)) for k, v in spec.headers.items()})
        kwargs: dict[str, Any] = {"params": {k: render(v, variables, str) for k, v in spec.params.items()}}
        if isinstance(spec.body, str):
            kwargs["content"] = render(spec.body, variables, _json_escape).encode("utf-8")
            headers.setdefault("Content-Type", spec.content_type)
        elif spec.body is not None:
            kwargs["json"] = render_structure(spec.body, variables)
        response = await self._send(spec.method, url, headers, kwargs)
        if response.status_code == 401 and self._credentials is not None:
            self._credentials.forget()  # expired or revoked early: fetch a new one, once
            response = await self._send(spec.method, url, headers, kwargs)
        check_response(self.name, response)
        return response

    async def _send(
        self, method: str, url: str, headers: dict[str, str], kwargs: dict[str, Any]
    ) -> httpx.Response:
        headers = dict(headers)
        if self._auth_header is not None:
            headers[self._auth_header[0]] = _header_value(self._auth_header[1])
        elif self._credentials is not None:
            headers["Authorization"] = "Bearer " + await self._credentials.bearer(self._require_client())
        if self._basic is not None:
            kwargs = {**kwargs, "auth": self._basic}
        return await send(self.name, self._require_client(), method, url, headers=headers, **kwargs)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise PermanentDeliveryError(f"{self.name}: response is not JSON") from None


__all__ = ["RestAuth", "RestRequest", "RestSink", "RestSpec", "json_pointer", "placeholders", "render"]
