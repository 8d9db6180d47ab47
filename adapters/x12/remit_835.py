"""835 remittance advice (005010X221A1 and 004010X091A1): denied and adjusted claims, provider
adjustments (PLB) and the balancing check whose failure means auto-posting will fail.

Records (``record_type``):

- ``x12-835-claim``: a claim that needs work as a whole: CLP02 4 (denied) or 22 (reversal), an
  adjustment at claim level other than the routine ones (contractual CO-45/CO-253/CO-A2, patient
  share PR-1/2/3, prior payer OA-23), or every service line denied or adjusted for one same reason.
  Claim- and line-level CAS, LQ, MOA and MIA remark codes are facts.
- ``x12-835-line``: a denied or adjusted service line (SVC with a non-routine CAS, or paid zero)
  that the claim record does not already stand for: its procedure (SVC01), amounts, line CAS and
  LQ remarks, and the claim reference (CLP01). Grouping, so a claim is not N+1 tickets: a line
  whose reason (first non-routine group-CARC) is the claim record's reason is folded into the claim
  record (``lines.folded``, ``lines.procedures``) instead of becoming its own record; so a claim
  whose lines are all denied for one reason is ONE record, and a paid claim with one denied line is
  one line record (no claim record). Lines of one claim left over with the same reason and
  procedure are one record (``line.count``). See docs/x12.md.
- ``x12-835-plb``: one per PLB segment (payment-posting work).
- ``x12-835-unbalanced``: the set does not balance (BPR02 against the sum of CLP04 less PLB, or
  claims against their lines): the poster's system will reject it.
- ``x12-835-payment``: a claim paid with nothing to work (CLP02 1, 2, 3 or 19-21, CLP04 > 0, no
  record above for it): auto-resolve evidence for the dedup lifecycle (`normalizers.lifecycle`), no
  ticket of its own. It carries only CLP01 as ``PhiValue(kind="CLAIM", field="CLP-01")`` (the same
  value the denial record marks) and the facts ``status.code``, ``amounts.paid``, ``payer.id``.
- ``x12-835-remittance``: evidence only (no ticket) for a set that gave no other record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

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
    money,
)

ROUTINE_ADJUSTMENTS = frozenset({"CO-45", "CO-253", "CO-A2", "PR-1", "PR-2", "PR-3", "OA-23"})
DENIED, REVERSAL = "4", "22"
PAID_STATUSES = frozenset({"1", "2", "3", "19", "20", "21"})
_ZERO = Decimal("0")
_CENT = Decimal("0.01")
_EVIDENCE_SEGMENTS = 40
_PHI_TAGS = frozenset({"NM1", "REF", "DTM", "N3", "N4"})


def _marked(segments: list[list[str]]) -> list[PhiValue]:
    found: list[PhiValue] = []
    for elements in segments:
        tag = elements[0]
        if tag == "NM1":
            found += phi.nm1(elements)
        elif tag == "REF":
            found += phi.ref(elements)
        elif tag == "DTM":
            found += phi.date(elements, 2)
        else:
            found += phi.address(elements)
    return found


@dataclass(slots=True)
class _Line:
    billed: Decimal = _ZERO
    paid: Decimal = _ZERO
    adjusted: Decimal = _ZERO
    has_cas: bool = False
    number: int = 0
    ordinal: int = 0
    elements: list[str] = field(default_factory=list)
    segments: list[list[str]] = field(default_factory=list)
    phi_segments: list[list[str]] = field(default_factory=list)
    adjustments: list[tuple[str, str, Decimal]] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)

    def unusual(self) -> list[tuple[str, str, Decimal]]:
        """The line's adjustments other than the routine ones."""
        return [(g, r, a) for g, r, a in self.adjustments if f"{g}-{r}" not in ROUTINE_ADJUSTMENTS]

    def needs_work(self) -> bool:
        """Denied or adjusted: a non-routine CAS, or nothing paid on a billed line."""
        return bool(self.unusual()) or (self.paid == _ZERO and self.billed > _ZERO)

    def reason(self) -> tuple[str, str]:
        """The line's group and CARC: its first non-routine adjustment, else its first."""
        first = self.unusual() or self.adjustments
        return (first[0][0], first[0][1]) if first else ("", "")


@dataclass(slots=True)
class _Claim:
    number: int
    ordinal: int
    elements: list[str]
    segments: list[list[str]] = field(default_factory=list)
    phi: list[PhiValue] = field(default_factory=list)
    phi_segments: list[list[str]] = field(default_factory=list)
    adjustments: list[tuple[str, str, Decimal, bool]] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    lines: list[_Line] = field(default_factory=list)
    claim_adjusted: Decimal = _ZERO


def _cas(elements: list[str]) -> list[tuple[str, str, Decimal]]:
    group = element(elements, 1)
    found: list[tuple[str, str, Decimal]] = []
    for index in range(2, min(len(elements), 20), 3):
        reason = element(elements, index)
        if reason:
            found.append((group, reason, money(element(elements, index + 1)) or _ZERO))
    return found


class Remit835Parser:
    """Parses one 835 transaction set (see the module docstring)."""

    def __init__(self, ctx: SetContext) -> None:
        self._ctx = ctx
        self._text = SegmentText(ctx.delimiters)
        self._bpr_total: Decimal | None = None
        self._bpr_seen = False
        self._payment_method = ""
        self._trace = ""
        self._payer_id = ""
        self._payer_name = ""
        self._payee_npi = ""
        self._n1 = ""
        self._claim: _Claim | None = None
        self._claims = 0
        self._paid_total = _ZERO
        self._plb_total = _ZERO
        self._unbalanced_claims = 0
        self._emitted = 0
        self._plb_segments: list[list[str]] = []

    def feed(self, elements: list[str], in_set: int, in_file: int) -> list[X12Item] | None:
        """Take one segment of the set."""
        tag = elements[0]
        claim = self._claim
        if tag == "CLP":
            done = self._close_claim()
            self._claims += 1
            self._claim = _Claim(number=in_set, ordinal=self._claims, elements=elements, segments=[elements])
            self._claim.phi += phi.value("CLAIM", "CLP-01", element(elements, 1))
            self._claim.phi += phi.value("ID", "CLP-07", element(elements, 7))
            self._paid_total += money(element(elements, 4)) or _ZERO
            if len(elements) < 5:
                problem = X12Problem(self._ctx.interchange, in_file, "CLP has fewer than 4 elements")
                self._claim = None
                return [*done, problem]
            return done or None
        if claim is not None:
            if tag in ("LX", "PLB", "TS3", "TS2"):
                done = self._close_claim()
                if tag == "PLB":
                    done.append(self._plb(elements, in_set))
                return done or None
            self._claim_segment(claim, tag, elements, in_set)
            return None
        if tag == "PLB":
            return [self._plb(elements, in_set)]
        self._header(tag, elements)
        return None

    def _header(self, tag: str, elements: list[str]) -> None:
        if tag == "BPR":
            self._bpr_seen = True
            self._bpr_total = money(element(elements, 2))
            self._payment_method = element(elements, 4)
        elif tag == "TRN":
            self._trace = element(elements, 2)
            self._payer_id = self._payer_id or element(elements, 3)
        elif tag == "N1":
            self._n1 = element(elements, 1)
            if self._n1 == "PR":
                self._payer_name = element(elements, 2)
            elif self._n1 == "PE" and element(elements, 3) == "XX":
                self._payee_npi = element(elements, 4)
        elif tag == "REF" and self._n1 == "PR" and element(elements, 1) == "2U":
            self._payer_id = element(elements, 2)

    def _claim_segment(self, claim: _Claim, tag: str, elements: list[str], in_set: int) -> None:
        if len(claim.segments) < _EVIDENCE_SEGMENTS:
            claim.segments.append(elements)
        line = claim.lines[-1] if claim.lines else None
        if line is not None and tag != "SVC" and len(line.segments) < _EVIDENCE_SEGMENTS:
            line.segments.append(elements)
        if tag == "CAS":
            for group, reason, amount in _cas(elements):
                claim.adjustments.append((group, reason, amount, line is not None))
                if line is not None:
                    line.adjusted += amount
                    line.has_cas = True
                    line.adjustments.append((group, reason, amount))
                else:
                    claim.claim_adjusted += amount
        elif tag == "SVC":
            claim.lines.append(
                _Line(
                    billed=money(element(elements, 2)) or _ZERO,
                    paid=money(element(elements, 3)) or _ZERO,
                    number=in_set,
                    ordinal=len(claim.lines) + 1,
                    elements=elements,
                    segments=[elements],
                )
            )
        elif tag == "LQ":
            code = element(elements, 2)
            if code:
                claim.remarks.append(f"{element(elements, 1)}:{code}")
                if line is not None:
                    line.remarks.append(f"{element(elements, 1)}:{code}")
        elif tag == "MOA":
            claim.remarks += [f"HE:{element(elements, i)}" for i in range(3, 8) if element(elements, i)]
        elif tag == "MIA":
            indexes = (5, 20, 21, 22, 23)
            claim.remarks += [f"HE:{element(elements, i)}" for i in indexes if element(elements, i)]
        elif tag in _PHI_TAGS:
            claim.phi_segments.append(elements)  # marked only if the claim becomes a record
            if line is not None:
                line.phi_segments.append(elements)

    def _close_claim(self) -> list[X12Item]:
        claim, self._claim = self._claim, None
        if claim is None:
            return []
        status = element(claim.elements, 2)
        billed = money(element(claim.elements, 3))
        paid = money(element(claim.elements, 4))
        if not self._balances(claim, billed or _ZERO, paid or _ZERO):
            self._unbalanced_claims += 1
        unusual = [
            (g, r, a, line) for g, r, a, line in claim.adjustments if f"{g}-{r}" not in ROUTINE_ADJUSTMENTS
        ]
        zero_lines = sum(1 for line in claim.lines if line.paid == _ZERO and line.billed > _ZERO)
        working = [line for line in claim.lines if line.needs_work()]
        if status not in (DENIED, REVERSAL) and not unusual and not working:
            return self._payment(claim, status, paid)
        if unusual:
            group, reason = unusual[0][0], unusual[0][1]
        elif claim.adjustments:
            group, reason = claim.adjustments[0][0], claim.adjustments[0][1]
        else:
            group, reason = "", ""
        claim_level = status in (DENIED, REVERSAL) or any(not at_line for *_, at_line in unusual)
        reasons = {line.reason() for line in working}
        one_reason = bool(claim.lines) and len(working) == len(claim.lines) and len(reasons) == 1
        items: list[X12Item] = []
        folded: list[_Line] = []
        if claim_level or one_reason:
            folded = [line for line in working if line.reason() == (group, reason)]
        loose = [line for line in working if line not in folded]
        if claim_level or one_reason:
            facts: dict[str, FactValue] = {
                "claim.status": status,
                "claim.ordinal": claim.ordinal,
                "claim.filing_indicator": element(claim.elements, 6),
                "claim.facility_type": element(claim.elements, 8),
                "amount.billed": billed,
                "amount.paid": paid,
                "amount.patient_responsibility": money(element(claim.elements, 5)),
                "adjustment.group": group,
                "adjustment.carc": reason,
                "adjustments": " ".join(
                    f"{g}-{r}={a}{'@line' if line else ''}" for g, r, a, line in claim.adjustments
                ),
                "remarks": " ".join(dict.fromkeys(claim.remarks)),
                "lines": len(claim.lines),
                "lines.paid_zero": zero_lines,
                "lines.folded": len(folded),
                "lines.procedures": " ".join(dict.fromkeys(self._procedure(line) for line in folded)),
                "lines.separate": len(loose),
                **self._payer_facts(),
            }
            self._emitted += 1
            items.append(
                make_record(
                    self._ctx,
                    "x12-835-claim",
                    f"CLP@{claim.number}",
                    facts,
                    [*claim.phi, *_marked(claim.phi_segments)],
                    self._text.join(claim.segments),
                )
            )
        groups: dict[tuple[tuple[str, str], str], list[_Line]] = {}
        for line in loose:
            groups.setdefault((line.reason(), self._procedure(line)), []).append(line)
        items += [self._line_record(claim, lines, status) for lines in groups.values()]
        return items

    def _procedure(self, line: _Line) -> str:
        """SVC01's qualifier and procedure code (``HC:99213``), modifiers left out."""
        parts = self._composite(element(line.elements, 1))
        return ":".join(parts[:2])

    def _composite(self, text: str) -> list[str]:
        component = self._ctx.delimiters.component
        return text.split(component) if component in text else text.split(":")

    def _line_record(self, claim: _Claim, lines: list[_Line], status: str) -> X12Item:
        """The denied or adjusted service lines of one claim with one reason and procedure (see
        the module docstring): one record, amounts summed, every line's segments as evidence."""
        line = lines[0]
        group, reason = line.reason()
        parts = self._composite(element(line.elements, 1))
        facts: dict[str, FactValue] = {
            "claim.status": status,
            "claim.ordinal": claim.ordinal,
            "line.ordinal": " ".join(str(item.ordinal) for item in lines),
            "line.count": len(lines),
            "line.procedure": ":".join(parts[:2]),
            "line.modifiers": " ".join(part for part in parts[2:6] if part),
            "line.units": " ".join(element(item.elements, 5) for item in lines),
            "amount.billed": sum((item.billed for item in lines), _ZERO),
            "amount.paid": sum((item.paid for item in lines), _ZERO),
            "adjustment.group": group,
            "adjustment.carc": reason,
            "adjustments": " ".join(f"{g}-{r}={a}" for item in lines for g, r, a in item.adjustments),
            "remarks": " ".join(dict.fromkeys(remark for item in lines for remark in item.remarks)),
            **self._payer_facts(),
        }
        self._emitted += 1
        return make_record(
            self._ctx,
            "x12-835-line",
            f"SVC@{line.number}",
            facts,
            [*claim.phi, *(value for item in lines for value in _marked(item.phi_segments))],
            self._text.join([claim.elements, *(segment for item in lines for segment in item.segments)]),
        )

    def _payment(self, claim: _Claim, status: str, paid: Decimal | None) -> list[X12Item]:
        """The evidence record of a paid claim (see the module docstring), or nothing."""
        if status not in PAID_STATUSES or paid is None or paid <= _ZERO:
            return []
        facts: dict[str, FactValue] = {
            EVIDENCE: True,
            "status.code": status,
            "amounts.paid": paid,
            "claim.ordinal": claim.ordinal,
            **self._payer_facts(),
        }
        self._emitted += 1
        reference = phi.value("CLAIM", "CLP-01", element(claim.elements, 1))
        return [make_record(self._ctx, "x12-835-payment", f"CLP@{claim.number}", facts, reference, "")]

    def _balances(self, claim: _Claim, billed: Decimal, paid: Decimal) -> bool:
        for line in claim.lines:
            if line.has_cas and abs(line.billed - line.adjusted - line.paid) >= _CENT:
                return False
        if claim.lines:
            line_paid = sum((line.paid for line in claim.lines), _ZERO)
            return abs(line_paid - claim.claim_adjusted - paid) < _CENT
        if not claim.adjustments:
            return True
        return abs(billed - claim.claim_adjusted - paid) < _CENT

    def _payer_facts(self) -> dict[str, FactValue]:
        return {
            "payer.id": self._payer_id,
            "payer.name": self._payer_name,
            "payee.npi": self._payee_npi,
            "payment.trace": self._trace,
            "payment.method": self._payment_method,
        }

    def _plb(self, elements: list[str], in_set: int) -> X12Item:
        component = self._ctx.delimiters.component
        reasons: list[str] = []
        marked: list[PhiValue] = []
        total = _ZERO
        for index in range(3, min(len(elements), 15), 2):
            composite = element(elements, index)
            if not composite:
                continue
            parts = composite.split(component) if component in composite else composite.split(">")
            reasons.append(parts[0])
            if len(parts) > 1 and parts[1]:
                marked += phi.value("ACCT", f"PLB-{index:02d}-2", parts[1])
            amount = money(element(elements, index + 1)) or _ZERO
            total += amount
        self._plb_total += total
        self._emitted += 1
        facts: dict[str, FactValue] = {
            "plb.reason": reasons[0] if reasons else "",
            "plb.reasons": " ".join(reasons),
            "plb.total": total,
            "plb.provider": element(elements, 1),
            **self._payer_facts(),
        }
        return make_record(
            self._ctx, "x12-835-plb", f"PLB@{in_set}", facts, marked, self._text.join([elements])
        )

    def finish(self, in_file: int) -> list[X12Item]:
        """Close the last claim; check the set balances; say something about every set."""
        items = self._close_claim()
        if not self._bpr_seen:
            return [*items, X12Problem(self._ctx.interchange, in_file, "835 has no BPR segment")]
        expected = self._paid_total - self._plb_total
        difference = (self._bpr_total - expected) if self._bpr_total is not None else None
        if difference is None or abs(difference) >= _CENT or self._unbalanced_claims:
            facts: dict[str, FactValue] = {
                "balance.bpr02": self._bpr_total,
                "balance.clp04_total": self._paid_total,
                "balance.plb_total": self._plb_total,
                "balance.expected": expected,
                "balance.difference": difference,
                "balance.claims": self._claims,
                "balance.claims_unbalanced": self._unbalanced_claims,
                **self._payer_facts(),
            }
            items.append(make_record(self._ctx, "x12-835-unbalanced", "BPR", facts, (), ""))
        elif not self._emitted:
            facts = {EVIDENCE: True, "balance.claims": self._claims, **self._payer_facts()}
            items.append(make_record(self._ctx, "x12-835-remittance", "BPR", facts, (), ""))
        return items
