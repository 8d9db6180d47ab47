"""Dedup fingerprints: one stable key per *problem* (not per occurrence), so repeats of the same
error group onto one ticket. Built only from non-PHI fields of the draft."""

from __future__ import annotations

import hashlib

from normalizers.draft import TicketDraft

FINGERPRINT_FIELDS = ("system", "instance", "module", "category", "code_system", "code", "payer", "facility")


def fingerprint(draft: TicketDraft) -> str:
    """``fp_`` + 32 hex chars of SHA-256 over the problem's identifying fields."""
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
    basis = "\x1f".join(f"{name}={parts[name]}" for name in FINGERPRINT_FIELDS)
    return "fp_" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]
