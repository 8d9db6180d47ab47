"""Dedup fingerprints: one stable key per *problem* (not per occurrence), so repeats of the same
error group onto one ticket. Built only from non-PHI fields of the draft.

The fields are configurable (settings ``lifecycle.fingerprint_fields``, any subset of
`FINGERPRINT_FIELDS` in any order; the default is all of them). `problem_key` is the same digest
without ``facility``: the lifecycle store counts the facilities a problem recurs at with it.
"""

from __future__ import annotations

import hashlib

from normalizers.draft import TicketDraft

FINGERPRINT_FIELDS = ("system", "instance", "module", "category", "code_system", "code", "payer", "facility")


def check_fields(fields: tuple[str, ...]) -> tuple[str, ...]:
    """``fields`` if each is a known fingerprint field (ValueError names the first unknown)."""
    for name in fields:
        if name not in FINGERPRINT_FIELDS:
            raise ValueError(f"unknown fingerprint field {name!r}; known: {', '.join(FINGERPRINT_FIELDS)}")
    return fields


def problem_key(draft: TicketDraft, fields: tuple[str, ...] = FINGERPRINT_FIELDS) -> str:
    """The fingerprint over ``fields`` less ``facility``: the same problem at any facility."""
    return fingerprint(draft, tuple(name for name in fields if name != "facility"))


def fingerprint(draft: TicketDraft, fields: tuple[str, ...] = FINGERPRINT_FIELDS) -> str:
    """``fp_`` + 32 hex chars of SHA-256 over the problem's identifying ``fields``."""
    first = draft.codes[0] if draft.codes else None
    parts = {
        "system": draft.source.system,
        "instance": draft.source.instance,
        "module": draft.source.module or "",
        "category": draft.category,
        "code_system": first.system if first else "",
        "code": first.code if first else "",
        "payer": draft.payer.id or "" if draft.payer else "",
        "facility": draft.facility or "",
    }
    basis = "\x1f".join(f"{name}={parts[name]}" for name in fields)
    return "fp_" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]
