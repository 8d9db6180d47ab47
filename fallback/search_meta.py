"""PHI-free search metadata kept in clear beside each spool payload, so `SpoolAdmin.find` can filter
on it with indexes instead of decrypting candidates.

Only identifiers and codes of the sealed (already PHI-free) payload are kept: the fingerprint, the
category, the payer id (a business identifier, `normalizers.payload.Payer`) and every code as a
search term (bare and ``system:code``). Never the summary, the description, code descriptions, the
payer name or any other free text.
"""

from __future__ import annotations

from dataclasses import dataclass

from normalizers.sealed import SealedTicket


@dataclass(frozen=True, slots=True)
class SearchMeta:
    """What a spool stores in clear about a payload for searching."""

    fingerprint: str
    category: str
    payer: str | None
    code_terms: tuple[str, ...]
    """Distinct search terms of the payload's codes: each code bare and as ``system:code``."""


def search_meta(ticket: SealedTicket) -> SearchMeta:
    """The search metadata of a sealed ticket's payload."""
    payload = ticket.payload
    terms: dict[str, None] = {}
    for code in payload.codes:
        terms[code.code] = None
        terms[f"{code.system}:{code.code}"] = None
    return SearchMeta(
        fingerprint=payload.fingerprint,
        category=payload.category,
        payer=payload.payer.id if payload.payer is not None else None,
        code_terms=tuple(terms),
    )


def fingerprint_upper(prefix: str) -> str:
    """The exclusive upper bound of the fingerprints starting with ``prefix`` (fingerprints are
    ``fp_`` and lowercase hex, all below ``~``), so a prefix match is an index range."""
    return prefix + "~"


def meta_matches(meta: SearchMeta, *, fingerprint: str | None, payer: str | None, code: str | None) -> bool:
    """Whether ``meta`` passes the search filters (None: any): the reference semantics."""
    return (
        (fingerprint is None or meta.fingerprint.startswith(fingerprint))
        and (payer is None or meta.payer == payer)
        and (code is None or code in meta.code_terms)
    )


__all__ = ["SearchMeta", "fingerprint_upper", "meta_matches", "search_meta"]
