"""Audit records for a SIEM: JSON lines, or RFC 5424 syslog messages.

Syslog lines use facility 13 (log audit), severity notice (5) for ``ok`` and warning (4) for any
other outcome, APP-NAME ``rcmgw``, MSGID the event name, and one structured-data element
``[rcmgw@32473 seq=.. actor=.. outcome=.. mac=..]`` followed by the details as compact JSON. Records
hold no PHI and no secrets, so exporting them exposes none.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from datetime import UTC

from gateway.audit import AuditLog, AuditRecord

FACILITY_LOG_AUDIT = 13
ENTERPRISE_ID = 32473  # the IANA example number (RFC 5612); replace with your own PEN if you have one
_SD_ESCAPE = re.compile(r'(["\\\]])')
_NON_PRINTABLE = re.compile(r"[^\x21-\x7e]")
PAGE = 1000


def as_json(record: AuditRecord) -> str:
    """One record as a compact JSON object."""
    return json.dumps(
        {
            "seq": record.seq,
            "at": record.at.astimezone(UTC).isoformat(timespec="microseconds"),
            "event": record.event,
            "actor": record.actor,
            "outcome": record.outcome,
            "details": record.details,
            "mac": record.mac,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def _header_field(value: str, limit: int) -> str:
    cleaned = _NON_PRINTABLE.sub("_", value)[:limit]
    return cleaned or "-"


def _sd_value(value: str) -> str:
    return _SD_ESCAPE.sub(r"\\\1", value)


def as_syslog(record: AuditRecord, *, hostname: str | None = None) -> str:
    """One record as an RFC 5424 message (without transport framing)."""
    severity = 5 if record.outcome == "ok" else 4
    pri = FACILITY_LOG_AUDIT * 8 + severity
    timestamp = record.at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    host = _header_field(hostname or socket.gethostname(), 255)
    params = " ".join(
        f'{name}="{_sd_value(value)}"'
        for name, value in (
            ("seq", str(record.seq)),
            ("actor", record.actor),
            ("outcome", record.outcome),
            ("mac", record.mac),
        )
    )
    message = json.dumps(record.details, separators=(",", ":"), sort_keys=True)
    msgid = _header_field(record.event, 32)
    return f"<{pri}>1 {timestamp} {host} rcmgw - {msgid} [rcmgw@{ENTERPRISE_ID} {params}] {message}"


def iter_records(audit: AuditLog, **filters: object) -> Iterator[AuditRecord]:
    """Every matching record, read a page at a time."""
    after: int | None = None
    while True:
        page = audit.records(limit=PAGE, after_seq=after, **filters)  # type: ignore[arg-type]
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].seq
