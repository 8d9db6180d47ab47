"""Shared test helpers (importable as ``testkit`` thanks to pytest's ``pythonpath``)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
if not CORPUS.is_dir() and (REPO.parent.parent / "shared" / "corpus").is_dir():
    CORPUS = REPO.parent.parent / "shared" / "corpus"  # a git worktree one level further down

# Synthetic identifiers that must never appear in any output channel.
CANARY = {
    "name_structured": "QUIXOTE^ZEBEDIAH",
    "name_text": "Zebediah Quixote",
    "ssn": "219-09-9999",
    "dob_structured": "1957-03-14",
    "dob_text": "03/14/1957",
    "phone": "(617) 555-0143",
    "email": "zeb.quixote@example.org",
    "mrn": "MRN88812345",
    "claim": "PCN-7731-0099",
}
CANARY_NEEDLES = (
    "QUIXOTE",
    "Quixote",
    "quixote",
    "ZEBEDIAH",
    "Zebediah",
    "219-09-9999",
    "219099999",
    "1957-03-14",
    "03/14/1957",
    "555-0143",
    "5550143",
    "zeb.quixote",
    "MRN88812345",
    "88812345",
    "PCN-7731-0099",
)


def canary_event(event_id: str = "canary-0001", *, distinct: bool = False) -> dict[str, object]:
    """A JSON event with canary PHI in structured fields and in free text. Events of one test share
    a fingerprint (one problem, folded by the dedup lifecycle) unless ``distinct``: then the event id
    is also its facility, so each event is a problem of its own and opens its own ticket."""
    event = _canary_event(event_id)
    if distinct:
        event["facility"] = event_id[:64]
    return event


def _canary_event(event_id: str) -> dict[str, object]:
    return {
        "event_id": event_id,
        "source": {"system": "epic", "instance": "test", "module": "resolute-pb"},
        "error": {
            "code": "16",
            "code_system": "CARC",
            "message": (
                f"Claim {CANARY['claim']} for {CANARY['name_text']} (SSN {CANARY['ssn']}, DOB "
                f"{CANARY['dob_text']}) denied: missing information. Call {CANARY['phone']} or "
                f"mail {CANARY['email']}; chart {CANARY['mrn']}."
            ),
        },
        "payer": {"id": "87726", "name": "Example Health Plan"},
        "amounts": {"billed": "310.00", "paid": "0.00"},
        "patient": {
            "name": CANARY["name_structured"],
            "ssn": CANARY["ssn"],
            "dob": CANARY["dob_structured"],
            "phone": CANARY["phone"],
            "email": CANARY["email"],
            "mrn": CANARY["mrn"],
        },
        "claim": {"id": CANARY["claim"]},
        "note": f"Guarantor {CANARY['name_text']} called from {CANARY['phone']}.",
    }


def find_canaries(data: bytes | str) -> list[str]:
    """Canary needles present in ``data`` (case-sensitive substrings and their UTF-16 forms)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    found = [needle for needle in CANARY_NEEDLES if needle in text]
    if isinstance(data, bytes):
        found += [n for n in CANARY_NEEDLES if n.encode("utf-16-le") in data and n not in found]
    return found
