"""999 implementation acknowledgments and their 4010 predecessor, 997 functional acknowledgments.

For each acknowledged transaction set (AK2 ... IK5/AK5) whose IK501/AK501 is not ``A``, one
``x12-999-rejection`` record names the set (AK201/AK202), the first segment error (IK3/AK3: segment
id, position, loop, code), the first element error (IK4/AK4: position, data element number, code)
and the IK5 codes; all IK3/IK4/CTX lines are its evidence. IK4-04 / AK4-04 copy the bad data as
sent, so they are marked as PHI, as are CTX01 references (a CLM01 context is a claim number).
A group answered with AK9 R/E/P but without any rejected set yields one group-level record.
An ack that rejects nothing yields one ``x12-999-accepted`` evidence record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.base import FactValue, PhiValue
from adapters.x12 import phi
from adapters.x12.context import (
    EVIDENCE,
    SegmentText,
    SetContext,
    X12Item,
    X12Problem,
    element,
    make_record,
)

_DETAIL = {"IK3": "segment", "AK3": "segment", "IK4": "element", "AK4": "element", "CTX": "context"}


@dataclass(slots=True)
class _SetAck:
    number: int
    elements: list[str]
    segments: list[list[str]] = field(default_factory=list)
    phi: list[PhiValue] = field(default_factory=list)
    segment_error: list[str] | None = None
    element_error: list[str] | None = None
    segment_errors: int = 0
    element_errors: int = 0


class Ack999Parser:
    """Parses one 999 or 997 transaction set (see the module docstring)."""

    def __init__(self, ctx: SetContext) -> None:
        self._ctx = ctx
        self._text = SegmentText(ctx.delimiters)
        self._group: list[str] = []
        self._set: _SetAck | None = None
        self._rejected = 0
        self._acknowledged = 0

    def feed(self, elements: list[str], in_set: int, in_file: int) -> list[X12Item] | None:
        """Take one segment of the set."""
        tag = elements[0]
        current = self._set
        if tag == "AK1":
            self._group = elements
        elif tag == "AK2":
            self._set = _SetAck(number=in_set, elements=elements, segments=[elements])
        elif current is not None and tag in _DETAIL:
            if len(current.segments) < 40:
                current.segments.append(elements)
            self._detail(current, tag, elements)
        elif tag in ("IK5", "AK5"):
            self._set = None
            self._acknowledged += 1
            if current is None:
                current = _SetAck(number=in_set, elements=["AK2"])
            current.segments.append(elements)
            if element(elements, 1) != "A":
                self._rejected += 1
                return [self._record(current, elements, in_set)]
        elif tag == "AK9":
            return self._group_result(elements, in_set)
        return None

    def _detail(self, current: _SetAck, tag: str, elements: list[str]) -> None:
        if tag in ("IK3", "AK3"):
            current.segment_errors += 1
            current.segment_error = current.segment_error or elements
        elif tag in ("IK4", "AK4"):
            current.element_errors += 1
            current.element_error = current.element_error or elements
            current.phi += phi.value("ID", f"{tag}-04", element(elements, 4))
        else:
            reference = element(elements, 1)
            for separator in (self._ctx.delimiters.component, ":"):
                if separator in reference:
                    name, _, value = reference.partition(separator)
                    kind = "CLAIM" if name.strip().upper().startswith("CLM") else "ID"
                    current.phi += phi.value(kind, "CTX-01-2", value)
                    break

    def _record(self, current: _SetAck, result: list[str], in_set: int) -> X12Item:
        segment_error = current.segment_error or []
        element_error = current.element_error or []
        position = element(element_error, 1)
        facts: dict[str, FactValue] = {
            "ack.type": self._ctx.set_id,
            "ack.level": "set",
            "ack.code": element(result, 1),
            "ack.set_codes": " ".join(element(result, i) for i in range(2, 7) if element(result, i)),
            "group.functional_id": element(self._group, 1),
            "group.control": element(self._group, 2),
            "set.id": element(current.elements, 1),
            "set.control": element(current.elements, 2),
            "set.guide": element(current.elements, 3),
            "segment.id": element(segment_error, 1),
            "segment.position": element(segment_error, 2),
            "segment.loop": element(segment_error, 3),
            "segment.code": element(segment_error, 4),
            "element.position": position.replace(self._ctx.delimiters.component, ":"),
            "element.reference": element(element_error, 2),
            "element.code": element(element_error, 3),
            "errors.segments": current.segment_errors,
            "errors.elements": current.element_errors,
        }
        return make_record(
            self._ctx,
            "x12-999-rejection",
            f"AK2@{current.number}",
            facts,
            current.phi,
            self._text.join(current.segments),
        )

    def _group_result(self, elements: list[str], in_set: int) -> list[X12Item] | None:
        code = element(elements, 1)
        if code == "A" or self._rejected:
            return None
        facts: dict[str, FactValue] = {
            "ack.type": self._ctx.set_id,
            "ack.level": "group",
            "ack.code": code,
            "ack.group_codes": " ".join(element(elements, i) for i in range(5, 10) if element(elements, i)),
            "group.functional_id": element(self._group, 1),
            "group.control": element(self._group, 2),
            "group.sets_included": element(elements, 2),
            "group.sets_received": element(elements, 3),
            "group.sets_accepted": element(elements, 4),
        }
        self._rejected += 1
        segments = [self._group, elements] if self._group else [elements]
        return [
            make_record(self._ctx, "x12-999-rejection", f"AK9@{in_set}", facts, (), self._text.join(segments))
        ]

    def finish(self, in_file: int) -> list[X12Item]:
        """One evidence record when nothing was rejected; a problem when there is no AK1."""
        if not self._group:
            return [X12Problem(self._ctx.interchange, in_file, f"{self._ctx.set_id} has no AK1 segment")]
        if self._rejected:
            return []
        facts: dict[str, FactValue] = {
            EVIDENCE: True,
            "ack.type": self._ctx.set_id,
            "group.functional_id": element(self._group, 1),
            "group.control": element(self._group, 2),
            "sets": self._acknowledged,
        }
        return [make_record(self._ctx, "x12-999-accepted", "AK1", facts, (), "")]
