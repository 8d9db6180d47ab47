"""277CA claim acknowledgments (005010X214) and 277 claim status responses (005010X212).

Each STC (STC01, STC10, STC11 composites: category, status, entity) is read at its HL level:
information receiver (21), billing provider (19), claim (PT) or service line (SVC under PT).
Rejection families (A3, A4, A6, A7, A8, E0-E4, D0, F2 and the R requests) become records of type
``x12-277ca-rejection``: claims of one set rejected for the same category, status and entity at
the same level are grouped into ONE record whose claim references are its children (fields
``child.claim``).

A claim whose every STC is in an acceptance category (`ACCEPTED_CATEGORIES`: A0, A1, A2, A5, and
F1 finalized/paid) becomes one ``x12-277ca-acceptance`` record: auto-resolve evidence for the dedup
lifecycle (`normalizers.lifecycle`), no ticket of its own. It carries only the claim reference
(TRN02, ``PhiValue(kind="CLAIM", field="TRN*2-02")``, the same value the rejection record marks)
and the facts ``status.code`` (``category:status``), ``payer.id``. Any other claim-level status
(pending P*, other finalized F*) becomes an ``x12-277-status`` record, kept as evidence (counted,
no ticket, resolves nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from adapters.base import FactValue, PhiValue
from adapters.x12 import phi
from adapters.x12.context import EVIDENCE, SegmentText, SetContext, X12Item, element, make_record, money

REJECTION_CATEGORIES = frozenset({"A3", "A4", "A6", "A7", "A8", "D0", "E0", "E1", "E2", "E3", "E4", "F2"})
LEVELS = {"20": "payer", "21": "receiver", "19": "provider", "PT": "claim", "22": "claim"}
ACCEPTED_CATEGORIES = frozenset({"A0", "A1", "A2", "A5", "F1"})
_GROUP_EVIDENCE = 5


def is_rejection(category: str) -> bool:
    """Whether a claim status category needs work (rejections, denials, requests for more)."""
    return category in REJECTION_CATEGORIES or (category.startswith("R") and category[1:].isdigit())


@dataclass(slots=True)
class _Unit:
    """One HL (or service line) with its segments, marked values and statuses."""

    level: str
    number: int
    segments: list[list[str]] = field(default_factory=list)
    phi: list[PhiValue] = field(default_factory=list)
    statuses: list[tuple[str, str, Decimal | None, int]] = field(default_factory=list)
    trace: str = ""


@dataclass(slots=True)
class _Group:
    level: str
    category: str
    status: str
    entity: str
    first: int
    units: list[_Unit] = field(default_factory=list)
    amount: Decimal = Decimal("0")


class Status277Parser:
    """Parses one 277 transaction set (see the module docstring)."""

    def __init__(self, ctx: SetContext) -> None:
        self._ctx = ctx
        self._text = SegmentText(ctx.delimiters)
        self._unit: _Unit | None = None
        self._payer_id = ""
        self._payer_name = ""
        self._groups: dict[tuple[str, str, str, str], _Group] = {}
        self._in_line = False

    def feed(self, elements: list[str], in_set: int, in_file: int) -> list[X12Item] | None:
        """Take one segment of the set."""
        tag = elements[0]
        if tag == "HL":
            done = self._close()
            self._unit = _Unit(level=LEVELS.get(element(elements, 3), "other"), number=in_set)
            self._unit.segments.append(elements)
            self._in_line = False
            return done or None
        unit = self._unit
        if unit is None:
            return None
        if len(unit.segments) < 40:
            unit.segments.append(elements)
        if tag == "NM1":
            if element(elements, 1) == "PR":
                self._payer_name = element(elements, 3)
                self._payer_id = element(elements, 9)
            else:
                unit.phi += phi.nm1(elements)
        elif tag == "TRN":
            if unit.level == "claim" and element(elements, 1) == "2":
                unit.trace = element(elements, 2)
                unit.phi += phi.value("CLAIM", "TRN*2-02", unit.trace)
        elif tag == "STC":
            self._stc(unit, elements, in_set)
        elif tag == "SVC":
            self._in_line = True
        elif tag == "REF":
            unit.phi += phi.ref(elements)
        elif tag == "DTP":
            unit.phi += phi.date(elements, 3)
        elif tag == "DMG":
            unit.phi += phi.dmg(elements)
        elif tag in ("N3", "N4"):
            unit.phi += phi.address(elements)
        return None

    def _stc(self, unit: _Unit, elements: list[str], in_set: int) -> None:
        component = self._ctx.delimiters.component
        amount = money(element(elements, 4))
        for index in (1, 10, 11):
            composite = element(elements, index)
            if not composite:
                continue
            parts = composite.split(component)
            if len(parts) == 1 and ":" in composite:
                parts = composite.split(":")
            category = parts[0]
            status = parts[1] if len(parts) > 1 else ""
            entity = parts[2] if len(parts) > 2 else ""
            level = "line" if self._in_line and unit.level == "claim" else unit.level
            unit.statuses.append(
                (level, f"{category}:{status}:{entity}", amount if index == 1 else None, in_set)
            )

    def _close(self) -> list[X12Item]:
        unit, self._unit = self._unit, None
        if unit is None or not unit.statuses:
            return []
        accepted: list[str] = []
        for level, key, amount, number in unit.statuses:
            category, status, entity = key.split(":", 2)
            if not is_rejection(category):
                accepted.append(key)
                continue
            group = self._groups.get((level, category, status, entity))
            if group is None:
                group = _Group(level, category, status, entity, first=number)
                self._groups[(level, category, status, entity)] = group
            if unit not in group.units:
                group.units.append(unit)
                group.amount += amount or Decimal("0")
        if accepted and unit.level == "claim" and len(accepted) == len(unit.statuses):
            category, status, entity = accepted[0].split(":", 2)
            categories = {key.split(":", 1)[0] for key in accepted}
            facts: dict[str, FactValue] = {
                EVIDENCE: True,
                "status.code": f"{category}:{status}",
                "stc.category": category,
                "stc.status": status,
                "stc.entity": entity,
                "stc.level": unit.level,
                **self._payer_facts(),
            }
            if categories <= ACCEPTED_CATEGORIES and unit.trace:
                claim = phi.value("CLAIM", "TRN*2-02", unit.trace)
                key = f"HL@{unit.number}"
                return [make_record(self._ctx, "x12-277ca-acceptance", key, facts, claim, "")]
            return [make_record(self._ctx, "x12-277-status", f"HL@{unit.number}", facts, unit.phi, "")]
        return []

    def _payer_facts(self) -> dict[str, FactValue]:
        return {"payer.id": self._payer_id, "payer.name": self._payer_name}

    def finish(self, in_file: int) -> list[X12Item]:
        """Close the last HL and emit one record per rejection group."""
        items = self._close()
        for group in self._groups.values():
            marked: list[PhiValue] = []
            if len(group.units) == 1:
                marked = list(group.units[0].phi)
            else:
                for unit in group.units:
                    if unit.trace:
                        marked.append(PhiValue(kind="CLAIM", field="child.claim", value=unit.trace))
                    marked += [item for item in unit.phi if item.kind != "CLAIM" or item.value != unit.trace]
            facts: dict[str, FactValue] = {
                "stc.category": group.category,
                "stc.status": group.status,
                "stc.entity": group.entity,
                "stc.level": group.level,
                "claims": len(group.units),
                "amount.billed": group.amount if group.amount else None,
                **self._payer_facts(),
            }
            evidence = "\n".join(self._text.join(unit.segments) for unit in group.units[:_GROUP_EVIDENCE])
            if len(group.units) > _GROUP_EVIDENCE:
                evidence += f"\n... and {len(group.units) - _GROUP_EVIDENCE} more claims"
            key = f"STC@{group.first}:{group.level}:{group.category}:{group.status}:{group.entity}"
            items.append(make_record(self._ctx, "x12-277ca-rejection", key, facts, marked, evidence))
        return items
