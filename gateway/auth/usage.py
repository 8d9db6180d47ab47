"""Who used the gateway, when: last use per principal (for access reviews) and ``token.accepted``
audit records, written once per token id (never per request, never the token)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from gateway.audit import AuditLog
from gateway.auth.store import AuthStore
from gateway.auth.tokens import Principal

log = logging.getLogger("rcmgw.auth")
SEEN_TOKENS = 50_000
TOUCH_EVERY_SECONDS = 60.0


class AccessTracker:
    """Records accepted principals. Bounded memory; at most one database write a minute each."""

    def __init__(
        self, store: AuthStore, audit: AuditLog, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._audit = audit
        self._clock = clock
        self._seen_tokens: OrderedDict[str, None] = OrderedDict()
        self._touched: dict[tuple[str, str], float] = {}

    async def accepted(self, principal: Principal, *, route: str) -> None:
        """Note that ``principal`` passed authentication on ``route``."""
        if principal.kind == "service" and principal.token_id and principal.token_id not in self._seen_tokens:
            self._seen_tokens[principal.token_id] = None
            while len(self._seen_tokens) > SEEN_TOKENS:
                self._seen_tokens.popitem(last=False)
            await self._audit.record(
                "token.accepted",
                actor=principal.actor,
                client_id=principal.client_id,
                token_id=principal.token_id,
                scopes=" ".join(sorted(principal.scopes)),
                route=route,
            )
        key = (principal.kind, principal.subject if principal.kind == "person" else principal.client_id)
        now = self._clock()
        last = self._touched.get(key)
        if last is None or now - last >= TOUCH_EVERY_SECONDS:
            self._touched[key] = now
            await asyncio.to_thread(self._store.record_use, key[0], key[1], principal.roles, principal.scopes)
