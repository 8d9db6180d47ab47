"""What in an HL7 v2 message becomes a ticket: `Hl7TicketRules` (configurable, defaults shipped).

Pure functions of a record's facts (never its PHI):

- an acknowledgement from downstream with MSA-1 AE/AR/CE/CR (and its ERR segments) ->
  integration-interface;
- a DFT (P03/P11) charge problem: FT1-7 missing or malformed, FT1-11 extended amount or FT1-12
  unit amount missing, zero, negative or not a number, FT1-11 != FT1-10 x FT1-12, no account
  (PID-18) or encounter (PV1-19) -> charge-capture;
- an ADT/BAR account update without IN1, or self-pay on an inpatient account ->
  eligibility-registration;
- anything else: no ticket (acknowledged without one) unless ``ticket_message_types`` names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, ConfigDict, Field

from adapters.base import FactValue, SourceRecord

CHARGE = "charge-capture"
ELIGIBILITY = "eligibility-registration"
INTERFACE = "integration-interface"


class Hl7TicketRules(BaseModel):
    """Which HL7 v2 messages become tickets (settings section ``mllp.tickets``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ack_codes: tuple[str, ...] = Field(
        ("AE", "AR", "CE", "CR"), description="MSA-1 codes of received ACKs that open a ticket."
    )
    charge_triggers: tuple[str, ...] = Field(("P03", "P11"), description="DFT triggers checked.")
    charge_code_pattern: str = Field(
        r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,19}$", description="What a valid FT1-7 charge code looks like."
    )
    require_account: bool = Field(True, description="A charge without PID-18 account is a problem.")
    require_encounter: bool = Field(True, description="A charge without PV1-19 visit number is a problem.")
    account_triggers: tuple[str, ...] = Field(
        ("ADT^A01", "ADT^A04", "ADT^A05", "ADT^A06", "ADT^A07", "ADT^A08", "BAR^P01", "BAR^P05", "BAR^P12"),
        description="ADT/BAR events checked for insurance.",
    )
    inpatient_classes: tuple[str, ...] = Field(
        ("I",), description="PV1-2 patient classes that are inpatient."
    )
    self_pay_markers: tuple[str, ...] = Field(
        ("SP", "SELF", "SELFPAY", "SELF-PAY", "SELF PAY"),
        description="PV1-20 financial classes or IN1 plan/company ids/names meaning self-pay.",
    )
    ticket_message_types: tuple[str, ...] = Field(
        (), description="Other message types (``ORU^R01``) that always open a ticket."
    )


@dataclass(frozen=True, slots=True)
class Hl7Problem:
    """One reason for a ticket: category, a stable code, a PHI-free sentence, evidence keys."""

    category: str
    code: str
    text: str
    evidence: tuple[str, ...] = ()


def _str(facts: dict[str, FactValue], key: str) -> str:
    value = facts.get(key)
    return "" if value is None else str(value)


def _amount(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _mismatch(quantity: Decimal | None, extended: Decimal | None, unit: Decimal | None) -> bool:
    if quantity is None or extended is None or unit is None or extended <= 0 or unit <= 0:
        return False
    cent = Decimal("0.01")
    return (quantity * unit).quantize(cent) != extended.quantize(cent)


def ack_problems(facts: dict[str, FactValue], rules: Hl7TicketRules) -> list[Hl7Problem]:
    """An ACK/NAK with a ticketed MSA-1 code: one problem naming its ERR codes."""
    code = _str(facts, "msa.code")
    if code not in rules.ack_codes:
        return []
    count = int(facts.get("err.count") or 0)  # type: ignore[arg-type]
    errs = [_str(facts, f"err.{n}.code") for n in range(1, count + 1)]
    keys = ("evidence.MSA.1", *(f"evidence.ERR.{n}" for n in range(1, count + 1)))
    listed = ", ".join(
        f"{err or '?'} at {_str(facts, f'err.{n}.location') or '?'}" for n, err in enumerate(errs, start=1)
    )
    text = f"downstream acknowledgement MSA-1 {code}" + (f" with ERR {listed}" if listed else " without ERR")
    return [Hl7Problem(INTERFACE, f"HL7-ACK-{code}", text, keys)]


def charge_problems(facts: dict[str, FactValue], rules: Hl7TicketRules) -> list[Hl7Problem]:
    """Charge-capture problems of a DFT."""
    if _str(facts, "hl7.trigger") not in rules.charge_triggers:
        return []
    problems: list[Hl7Problem] = []
    pattern = re.compile(rules.charge_code_pattern)
    count = int(facts.get("ft1.count") or 0)  # type: ignore[arg-type]
    for n in range(1, count + 1):
        key, where = (f"evidence.FT1.{n}",), f"FT1[{n}]"
        code = _str(facts, f"ft1.{n}.code")
        if not code:
            problems.append(
                Hl7Problem(CHARGE, "CHARGE-CODE-MISSING", f"{where} FT1-7 charge code missing", key)
            )
        elif not pattern.match(code):
            problems.append(
                Hl7Problem(CHARGE, "CHARGE-CODE-INVALID", f"{where} FT1-7 charge code invalid", key)
            )
        extended_text, unit_text = _str(facts, f"ft1.{n}.extended"), _str(facts, f"ft1.{n}.unit")
        extended, unit = _amount(extended_text), _amount(unit_text)
        if not extended_text and not unit_text:
            problems.append(
                Hl7Problem(CHARGE, "CHARGE-AMOUNT-MISSING", f"{where} FT1-11/12 amount missing", key)
            )
        for label, text, value in (("FT1-11", extended_text, extended), ("FT1-12", unit_text, unit)):
            if text and value is None:
                problems.append(
                    Hl7Problem(CHARGE, "CHARGE-AMOUNT-INVALID", f"{where} {label} not a number", key)
                )
            elif value is not None and value <= 0:
                word = "zero" if value == 0 else "negative"
                problems.append(
                    Hl7Problem(CHARGE, "CHARGE-AMOUNT-NONPOSITIVE", f"{where} {label} {word}", key)
                )
        quantity_text = _str(facts, f"ft1.{n}.quantity")
        quantity = _amount(quantity_text)
        if quantity_text and (quantity is None or quantity <= 0):
            problems.append(
                Hl7Problem(CHARGE, "CHARGE-QUANTITY-INVALID", f"{where} FT1-10 quantity invalid", key)
            )
        elif _mismatch(quantity, extended, unit):
            problems.append(
                Hl7Problem(
                    CHARGE,
                    "CHARGE-QUANTITY-MISMATCH",
                    f"{where} FT1-11 extended amount is not FT1-10 quantity x FT1-12 unit amount",
                    key,
                )
            )
    if rules.require_account and facts.get("account.present") is False:
        problems.append(Hl7Problem(CHARGE, "CHARGE-ACCOUNT-MISSING", "PID-18 patient account number missing"))
    if rules.require_encounter and facts.get("encounter.present") is False:
        problems.append(Hl7Problem(CHARGE, "CHARGE-ENCOUNTER-MISSING", "PV1-19 visit number missing"))
    return problems


def account_problems(facts: dict[str, FactValue], rules: Hl7TicketRules) -> list[Hl7Problem]:
    """Eligibility problems of an ADT/BAR account update."""
    event = f"{_str(facts, 'hl7.message_code')}^{_str(facts, 'hl7.trigger')}"
    if event not in rules.account_triggers:
        return []
    count = int(facts.get("in1.count") or 0)  # type: ignore[arg-type]
    keys = ("evidence.PV1.1",)
    if count == 0:
        return [
            Hl7Problem(ELIGIBILITY, "ELIGIBILITY-NO-INSURANCE", f"{event} account update without IN1", keys)
        ]
    markers = {marker.upper() for marker in rules.self_pay_markers}
    inpatient = _str(facts, "pv1.patient_class") in rules.inpatient_classes
    self_pay = _str(facts, "pv1.financial_class") in markers or any(
        _str(facts, f"in1.{n}.{part}").upper() in markers
        for n in range(1, count + 1)
        for part in ("plan", "company", "company_name", "plan_type")
    )
    if inpatient and self_pay:
        return [
            Hl7Problem(
                ELIGIBILITY,
                "ELIGIBILITY-SELF-PAY-INPATIENT",
                f"{event} inpatient account is self-pay",
                (*keys, *(f"evidence.IN1.{n}" for n in range(1, count + 1))),
            )
        ]
    return []


def find_problems(record: SourceRecord, rules: Hl7TicketRules | None = None) -> list[Hl7Problem]:
    """Every ticket-worthy problem of an HL7 v2 record; empty means "acknowledge, no ticket"."""
    rules = rules or Hl7TicketRules()
    facts = dict(record.facts)
    problems: list[Hl7Problem] = []
    if record.record_type == "hl7v2-ack":
        problems = ack_problems(facts, rules)
    elif record.record_type == "hl7v2-charge":
        problems = charge_problems(facts, rules)
    elif record.record_type == "hl7v2-account":
        problems = account_problems(facts, rules)
    event = f"{_str(facts, 'hl7.message_code')}^{_str(facts, 'hl7.trigger')}"
    if not problems and event in rules.ticket_message_types:
        problems = [Hl7Problem(INTERFACE, "HL7-MESSAGE", f"{event} message ticketed by configuration")]
    return problems
