"""Role-based access by job function: roles -> scopes, ticket queues and tiers; sensitive tickets.

People get roles from their IdP attributes (see `gateway.auth.saml_sp`); service clients get scopes
from their tokens (and, for the dev issuer's registered clients, from roles too). A role grants a
fixed set of scopes and a set of ticket queues up to a tier.

Tickets in a *sensitive* category (patient payment plans, charity care / financial assistance) are
pulled or shown only to principals holding ``tickets:sensitive``. Every place that lists, shows or
hands out tickets (the pull API of the delivery area, a UI) calls `may_see_ticket` or
`visible_tickets`; nothing else decides it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from gateway.auth.scopes import Scope
from gateway.auth.tokens import Principal


class Role(StrEnum):
    """A job function."""

    BILLING_SPECIALIST = "billing_specialist"
    REVENUE_INTEGRITY = "revenue_integrity"
    IT_INTEGRATION = "it_integration"
    SECURITY_AUDITOR = "security_auditor"
    ON_CALL = "on_call"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class QueueAccess:
    """The ticket queues a role works and the highest tier it handles (1 front line .. 3 expert)."""

    queues: frozenset[str]
    max_tier: int


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.BILLING_SPECIALIST: frozenset({Scope.TICKETS_READ, Scope.TICKETS_ACK}),
    Role.REVENUE_INTEGRITY: frozenset({Scope.TICKETS_READ, Scope.TICKETS_ACK, Scope.TICKETS_SENSITIVE}),
    Role.IT_INTEGRATION: frozenset(
        {Scope.EVENTS_WRITE, Scope.TICKETS_READ, Scope.SPOOL_READ, Scope.SPOOL_REPLAY, Scope.METRICS_READ}
    ),
    Role.SECURITY_AUDITOR: frozenset({Scope.AUDIT_READ, Scope.SPOOL_READ}),
    Role.ON_CALL: frozenset(
        {Scope.TICKETS_READ, Scope.TICKETS_ACK, Scope.SPOOL_READ, Scope.SPOOL_REPLAY, Scope.METRICS_READ}
    ),
    Role.ADMIN: frozenset({Scope.ADMIN}),
}
# Reports (anomalies, tickets per 1,000 claims, improvement) and change markers (issue 10).
ROLE_SCOPES[Role.REVENUE_INTEGRITY] |= {Scope.REPORTS_READ, Scope.MARKERS_WRITE}
ROLE_SCOPES[Role.IT_INTEGRATION] |= {Scope.REPORTS_READ}
ROLE_SCOPES[Role.ON_CALL] |= {Scope.REPORTS_READ}

ALL_QUEUES = "*"
ROLE_QUEUES: dict[Role, QueueAccess] = {
    Role.BILLING_SPECIALIST: QueueAccess(frozenset({"denials", "claim-status", "remittance"}), 1),
    Role.REVENUE_INTEGRITY: QueueAccess(
        frozenset({"denials", "underpayments", "payment-plans", "financial-assistance", "remittance"}), 3
    ),
    Role.IT_INTEGRATION: QueueAccess(frozenset({"interface-errors", "rejections", "eligibility"}), 3),
    Role.SECURITY_AUDITOR: QueueAccess(frozenset(), 0),
    Role.ON_CALL: QueueAccess(frozenset({"interface-errors", "rejections"}), 2),
    Role.ADMIN: QueueAccess(frozenset({ALL_QUEUES}), 3),
}

SENSITIVE_CATEGORIES = frozenset(
    {"patient_payment_plan", "payment_plan", "charity_care", "financial_assistance"}
)
"""Ticket categories (and tags) that need ``tickets:sensitive``."""


def parse_roles(values: Iterable[str]) -> frozenset[Role]:
    """The known roles among ``values`` (unknown names are ignored: deny by default)."""
    known = {role.value for role in Role}
    return frozenset(Role(value) for value in values if value in known)


def scopes_for(roles: Iterable[Role]) -> frozenset[str]:
    """Every scope the roles grant."""
    return frozenset(scope.value for role in roles for scope in ROLE_SCOPES[role])


def queue_access(roles: Iterable[Role]) -> QueueAccess:
    """The union of the roles' queues and the highest of their tiers."""
    roles = list(roles)
    queues = frozenset(queue for role in roles for queue in ROLE_QUEUES[role].queues)
    return QueueAccess(queues, max((ROLE_QUEUES[role].max_tier for role in roles), default=0))


def is_sensitive(category: str, tags: Iterable[str] = ()) -> bool:
    """Whether a ticket with this category and tags is sensitive (``-`` and ``_`` are the same:
    taxonomy keys use hyphens)."""
    names = {category, *tags}
    return any(name.replace("-", "_") in SENSITIVE_CATEGORIES for name in names)


def may_see_ticket(
    principal: Principal, *, category: str, tags: Iterable[str] = (), queue: str | None = None, tier: int = 1
) -> bool:
    """Whether ``principal`` may pull or see a ticket: it needs ``tickets:read``, and
    ``tickets:sensitive`` for a sensitive one. A person (who has roles) must also work the
    ticket's queue at or above its tier; services are limited by scopes only."""
    if not principal.has(Scope.TICKETS_READ.value):
        return False
    if is_sensitive(category, tags) and not principal.has(Scope.TICKETS_SENSITIVE.value):
        return False
    if principal.kind == "person" and queue is not None and Scope.ADMIN.value not in principal.scopes:
        access = queue_access(parse_roles(principal.roles))
        in_queue = queue in access.queues or ALL_QUEUES in access.queues
        return in_queue and tier <= access.max_tier
    return True


T = TypeVar("T")


def visible_tickets(
    principal: Principal, tickets: Iterable[T], *, describe: Callable[[T], tuple[str, list[str], str, int]]
) -> list[T]:
    """The tickets ``principal`` may see; ``describe`` gives (category, tags, queue, tier) of one
    (for a ``TicketPayload``: ``lambda p: (p.category, p.tags, p.routing.queue, p.tier)``)."""
    kept: list[T] = []
    for ticket in tickets:
        category, tags, queue, tier = describe(ticket)
        if may_see_ticket(principal, category=category, tags=tags, queue=queue, tier=tier):
            kept.append(ticket)
    return kept
