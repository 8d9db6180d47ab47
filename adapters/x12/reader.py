"""Reading X12 files: tokenizer -> envelope checks -> one parser per transaction set.

`read_x12` yields records and problems in file order, streaming. Envelope checks: every ST has an
SE with the same control number and the right segment count; every GS a GE (control number, set
count); every ISA an IEA (control number, group count). A problem is reported with the
interchange (ISA13), the segment number in the file and the reason; the rest of the file is still
read, so one bad transaction set never sinks the good ones. TA1 segments (an interchange
acknowledgment, right after ISA) yield ``x12-ta1-rejection`` records unless TA104 is ``A``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import BinaryIO

from adapters.base import FactValue
from adapters.x12.ack_999 import Ack999Parser
from adapters.x12.context import (
    EVIDENCE,
    SegmentText,
    SetContext,
    SetParser,
    X12Item,
    X12Problem,
    element,
    make_record,
)
from adapters.x12.remit_835 import Remit835Parser
from adapters.x12.status_277 import Status277Parser
from adapters.x12.tokenizer import CHUNK_SIZE, Delimiters, X12Tokenizer

PARSERS: dict[str, Callable[[SetContext], SetParser]] = {
    "835": Remit835Parser,
    "277": Status277Parser,
    "999": Ack999Parser,
    "997": Ack999Parser,
}
"""Transaction set id (ST01) -> parser. Other sets are checked for their envelope only."""
_ENVELOPE = frozenset({"ISA", "IEA", "GS", "GE", "ST", "SE", "TA1", "ISB", "ISE"})
_NO_DELIMITERS = Delimiters("*", ":", None, "~")


class _Skip:
    """The parser of transaction sets we do not handle: counts segments, yields nothing."""

    def feed(self, elements: list[str], in_set: int, in_file: int) -> list[X12Item] | None:
        return None

    def finish(self, in_file: int) -> list[X12Item]:
        return []


class _Walker:
    """The envelope state machine (see the module docstring)."""

    def __init__(self, tokenizer: X12Tokenizer, received_at: datetime) -> None:
        self._tokenizer = tokenizer
        self._received_at = received_at
        self._isa: list[str] | None = None
        self._gs: list[str] | None = None
        self._st: list[str] | None = None
        self._parser: SetParser | None = None
        self._in_set = 0
        self._groups = 0
        self._sets = 0
        self._handled = 0
        self._ta1 = 0
        self._unhandled: list[tuple[str, int]] = []
        self._stray_reported = False
        self._last = 0
        self._isa_ta1 = 0
        self._last_ctrl = "-"

    @property
    def _ctrl(self) -> str:
        return element(self._isa, 13) if self._isa else "-"

    def _problem(self, number: int, reason: str) -> X12Problem:
        return X12Problem(self._ctrl or "-", number, reason)

    def run(self) -> Iterator[X12Item]:
        for number, elements in self._tokenizer:
            self._last = number
            parser = self._parser
            tag = elements[0]
            if parser is not None and tag not in _ENVELOPE:
                self._in_set += 1
                out = parser.feed(elements, self._in_set, number)
                if out:
                    yield from out
                continue
            yield from self._envelope(tag, elements, number)
        yield from self._end_of_input(self._last)

    def _envelope(self, tag: str, elements: list[str], number: int) -> Iterator[X12Item]:
        if tag == "ISA":
            if self._isa is not None:
                yield from self._close_all(number, "a new ISA starts")
            self._isa, self._groups, self._stray_reported = elements, 0, False
            self._isa_ta1, self._last_ctrl = 0, element(elements, 13)
        elif tag == "TA1":
            yield self._ta1_record(elements, number)
        elif tag in ("ISB", "ISE"):
            return
        elif tag == "GS":
            if self._gs is not None:
                yield from self._close_group(number, "a new GS starts")
            self._gs, self._sets = elements, 0
            self._groups += 1
        elif tag == "ST":
            yield from self._open_set(elements, number)
        elif tag == "SE":
            yield from self._close_set(elements, number)
        elif tag == "GE":
            yield from self._end_group(elements, number)
        elif tag == "IEA":
            yield from self._end_interchange(elements, number)
        elif not self._stray_reported:
            self._stray_reported = True
            yield self._problem(number, f"segment {tag[:3]} is outside a transaction set")

    def _open_set(self, elements: list[str], number: int) -> Iterator[X12Item]:
        if self._parser is not None:
            yield from self._finish_set(number, f"ST {element(self._st or [], 2)} has no SE")
        if self._gs is None:
            yield self._problem(number, "ST is outside a functional group (no GS)")
        self._sets += 1
        set_id = element(elements, 1)
        gs = self._gs or []
        ctx = SetContext(
            sender=element(self._isa or [], 6),
            receiver=element(self._isa or [], 8),
            interchange=self._ctrl,
            group=element(gs, 6),
            functional_id=element(gs, 1),
            version=element(gs, 8),
            set_id=set_id,
            set_control=element(elements, 2),
            guide=element(elements, 3) or element(gs, 8),
            delimiters=self._tokenizer.delimiters or _NO_DELIMITERS,
            received_at=self._received_at,
        )
        factory = PARSERS.get(set_id)
        if factory is None:
            self._unhandled.append((set_id[:6], number))
            self._parser = _Skip()
        else:
            self._handled += 1
            self._parser = factory(ctx)
        self._st, self._in_set = elements, 1

    def _finish_set(self, number: int, problem: str | None) -> Iterator[X12Item]:
        parser, self._parser, self._st = self._parser, None, None
        if parser is not None:
            yield from parser.finish(number)
        if problem:
            yield self._problem(number, problem)

    def _close_set(self, elements: list[str], number: int) -> Iterator[X12Item]:
        if self._parser is None or self._st is None:
            yield self._problem(number, "SE without ST")
            return
        self._in_set += 1
        control = element(self._st, 2)
        declared = element(elements, 1)
        problems: list[str] = []
        if declared != str(self._in_set):
            problems.append(f"SE01 says {declared[:12] or 'nothing'} segments, the set has {self._in_set}")
        if element(elements, 2) != control:
            problems.append(f"SE02 does not match ST02 {control[:12]}")
        yield from self._finish_set(number, None)
        for reason in problems:
            yield self._problem(number, f"transaction set {control[:12]}: {reason}")

    def _end_group(self, elements: list[str], number: int) -> Iterator[X12Item]:
        if self._parser is not None:
            yield from self._finish_set(number, "GE before SE")
        if self._gs is None:
            yield self._problem(number, "GE without GS")
            return
        control = element(self._gs, 6)
        if element(elements, 1) != str(self._sets):
            yield self._problem(number, f"group {control[:12]}: GE01 does not match its {self._sets} sets")
        if element(elements, 2) != control:
            yield self._problem(number, f"group {control[:12]}: GE02 does not match GS06")
        self._gs = None

    def _end_interchange(self, elements: list[str], number: int) -> Iterator[X12Item]:
        if self._gs is not None:
            yield from self._close_group(number, "IEA before GE")
        if self._isa is None:
            yield self._problem(number, "IEA without ISA")
            return
        declared = element(elements, 1)
        if declared != str(self._groups) and not (self._groups == 0 and self._isa_ta1 and declared == "1"):
            yield self._problem(number, f"IEA01 does not match the {self._groups} groups")
        if element(elements, 2) != self._ctrl:
            yield self._problem(number, "IEA02 does not match ISA13")
        self._isa = None

    def _close_group(self, number: int, why: str) -> Iterator[X12Item]:
        if self._parser is not None:
            yield from self._finish_set(number, f"transaction set ended without SE ({why})")
        if self._gs is not None:
            yield self._problem(number, f"group {element(self._gs, 6)[:12]} ended without GE ({why})")
        self._gs = None

    def _close_all(self, number: int, why: str) -> Iterator[X12Item]:
        yield from self._close_group(number, why)
        if self._isa is not None:
            yield self._problem(number, f"interchange ended without IEA ({why})")
        self._isa = None

    def _end_of_input(self, number: int) -> Iterator[X12Item]:
        yield from self._close_all(number, "end of input")
        if not self._handled and not self._ta1:
            found = ", ".join(sorted({set_id for set_id, _ in self._unhandled})) or "no transaction set"
            at = self._unhandled[0][1] if self._unhandled else number
            yield X12Problem(
                self._last_ctrl, at, f"nothing to read: no 835, 277, 999, 997 or TA1 (found {found})"
            )

    def _ta1_record(self, elements: list[str], number: int) -> X12Item:
        self._ta1 += 1
        self._isa_ta1 += 1
        isa = self._isa or []
        ctx = SetContext(
            sender=element(isa, 6),
            receiver=element(isa, 8),
            interchange=self._ctrl,
            group="",
            functional_id="",
            version=element(isa, 12),
            set_id="TA1",
            set_control=element(elements, 1),
            guide=element(isa, 12),
            delimiters=self._tokenizer.delimiters or _NO_DELIMITERS,
            received_at=self._received_at,
        )
        code = element(elements, 4)
        facts: dict[str, FactValue] = {
            "ta1.control": element(elements, 1),
            "ta1.ack": code,
            "ta1.note": element(elements, 5),
        }
        if code == "A":
            facts[EVIDENCE] = True
        kind = "x12-ta1-accepted" if code == "A" else "x12-ta1-rejection"
        text = SegmentText(ctx.delimiters).join([elements])
        return make_record(ctx, kind, f"TA1@{number}", facts, (), text)


def read_x12(
    stream: BinaryIO, *, received_at: datetime | None = None, chunk_size: int = CHUNK_SIZE
) -> Iterator[X12Item]:
    """Records and problems of ``stream`` in file order (see the module docstring). Raises
    `adapters.x12.errors.X12Rejected` only when nothing can be read (no ISA, a broken first ISA)."""
    tokenizer = X12Tokenizer(stream, chunk_size=chunk_size)
    return _Walker(tokenizer, received_at or datetime.now(UTC)).run()
