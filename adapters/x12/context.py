"""What every X12 record shares: its envelope context, problems, and how records are built."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol

from adapters.base import FactValue, PhiValue, SourceRecord
from adapters.x12.errors import X12Rejected
from adapters.x12.tokenizer import Delimiters

SOURCE_SYSTEM = "x12"
EVIDENCE = "evidence"
"""Fact key: True on records kept as evidence (accepted statuses), which become no ticket."""


@dataclass(frozen=True, slots=True)
class SetContext:
    """The envelope around one transaction set (control numbers are not PHI)."""

    sender: str
    receiver: str
    interchange: str
    group: str
    functional_id: str
    version: str
    set_id: str
    set_control: str
    guide: str
    delimiters: Delimiters
    received_at: datetime

    def control_ids(self) -> dict[str, str]:
        """ISA13, GS06, ST02 and the sender, by their standard names."""
        return {
            "ISA06": self.sender,
            "ISA13": self.interchange,
            "GS06": self.group,
            "ST01": self.set_id,
            "ST02": self.set_control,
        }


@dataclass(frozen=True, slots=True)
class X12Problem:
    """A malformed part of a file: the interchange (ISA13), the 1-based segment number in the file
    and a reason that quotes no values. Other parts of the file are still read."""

    interchange: str
    segment: int
    reason: str

    def error(self) -> X12Rejected:
        """The problem as an exception."""
        return X12Rejected(self.interchange, self.segment, self.reason)

    def __str__(self) -> str:
        return f"interchange {self.interchange}, segment {self.segment}: {self.reason}"


X12Item = SourceRecord | X12Problem


class SetParser(Protocol):
    """Parses one transaction set, segment by segment, yielding records as soon as they are whole.

    ``feed`` gets each segment after ST (SE excluded) with its number in the set and in the file;
    ``finish`` is called at SE (or at the end of input for a truncated set)."""

    def feed(self, elements: list[str], in_set: int, in_file: int) -> list[X12Item] | None:
        """Take one segment; return any records completed by it."""
        ...

    def finish(self, in_file: int) -> list[X12Item]:
        """The set ended: return the remaining records."""
        ...


def element(elements: list[str], index: int) -> str:
    """Element ``index`` (1-based as in the standard) or ``""`` when absent."""
    return elements[index].strip() if index < len(elements) else ""


def money(text: str) -> Decimal | None:
    """A decimal amount, or None when empty or not a number."""
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def make_record(  # noqa: PLR0917 - mirrors the SourceRecord fields in order
    ctx: SetContext,
    record_type: str,
    key: str,
    facts: Mapping[str, FactValue],
    phi: Iterable[PhiValue],
    evidence: str,
) -> SourceRecord:
    """A record of ``ctx``'s set; ``key`` (positions, never values) makes its id stable across
    re-reads of the same file. ``evidence`` is the offending segments' text (scanned, redacted)."""
    ident = f"{ctx.sender}|{ctx.interchange}|{ctx.group}|{ctx.set_control}|{key}"
    return SourceRecord(
        record_type=record_type,
        source_system=SOURCE_SYSTEM,
        source_format="x12",
        facts={
            "x12.version": ctx.version,
            "x12.guide": ctx.guide,
            "x12.sender": ctx.sender,
            "x12.set_id": ctx.set_id,
            **facts,
        },
        phi=tuple(phi),
        texts={"evidence": evidence} if evidence else {},
        control_ids=ctx.control_ids(),
        received_at=ctx.received_at,
        idempotency_id=ident,
        raw_digest_input=ident.encode("utf-8"),
    )


class SegmentText:
    """Rebuilds segment text for evidence excerpts, with the file's own delimiters."""

    def __init__(self, delimiters: Delimiters, limit: int = 40) -> None:
        self._element = delimiters.element
        self._terminator = "~" if delimiters.segment == "\n" else delimiters.segment
        self._limit = limit

    def join(self, segments: Iterable[list[str]]) -> str:
        """The segments as text, one per line, at most ``limit`` of them."""
        lines: list[str] = []
        for index, elements in enumerate(segments):
            if index >= self._limit:
                lines.append("...")
                break
            text = self._element.join(elements) + self._terminator
            lines.append(_readable(text))
        return "\n".join(lines)


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f]")


def _readable(text: str) -> str:
    """Latin-1 view back to text (UTF-8 where it decodes), control characters shown as ``\\xNN``."""
    if not text.isascii():
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            text = text.encode("latin-1").decode("utf-8")
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)
