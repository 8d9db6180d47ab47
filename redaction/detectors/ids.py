"""Record numbers that are identifiers only in context, and Medicare Beneficiary Identifiers.

A label followed by an id-shaped value (letters, digits and ``-`` ``/`` ``.``, at least one digit,
4-30 characters) is an identifier of the label's kind:

==========  ==================================================================================
kind        labels (any case; ``number``, ``no.``, ``#``, ``id`` and ``:`` may follow)
==========  ==================================================================================
MRN         MRN, MR#, medical record, chart, patient id, EMR id, enterprise id, X12 ``REF*EA``
MEMBER      member, subscriber, insured id, policy, Medicaid/Medicare id, HICN, beneficiary id,
            X12 ``REF*1W`` / ``REF*0F`` / ``NM1..*MI*``
ACCT        account, acct, patient control, PCN, HAR, FIN, CSN, encounter, visit, X12 ``REF*EJ``
CLAIM       claim, clm, TCN, DCN, document control, payer claim control, X12 ``REF*1K`` / ``F8``
LICENSE     license / licence, driver's license, DL, certificate, cert
VEHICLE     VIN, vehicle, license plate, plate
DEVICE      serial, S/N, device, UDI, IMEI, implant
==========  ==================================================================================

Labels for ids that are not PHI (NPI, TIN, EIN, ICN, payer id, ISA/GS control numbers) are not in
the table, so their values are kept. Values that are amounts (``310.00``) are skipped.

An MBI (``1EG4-TE5-MK73``: eleven characters in the CMS pattern, dashes optional, upper case) is
found anywhere: its letter and digit positions make it distinct enough without a label.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from redaction.date_forms import parse_date
from redaction.detector import Span
from redaction.detectors.anchored import AnchoredPattern
from redaction.detectors.precheck import has_digit
from redaction.kinds import IdentifierKind

_SUFFIX = r"(?:[\s.]{0,2}(?:number|num|nbr|no\.?|#|id|identifier|code))?"
_LABELS: dict[str, tuple[str, IdentifierKind]] = {
    "mrn": (
        r"mrn|mr\s?#|med(?:ical)?\.?\s+rec(?:ord)?s?|chart|patient\s+id|pat\s+id|emr\s+id|enterprise\s+id"
        r"|REF\*EA\*",
        IdentifierKind.MRN,
    ),
    "member": (
        r"member|mbr|mem\s?id|subscriber|subscr|sub\s?id|insured\s+id|policy(?:\s+holder)?|medicaid"
        r"|medicare\s+(?:id|number|no\.?|#)|hicn|beneficiary|id\s+card|REF\*(?:1W|0F)\*|\*MI\*",
        IdentifierKind.MEMBER_ID,
    ),
    "account": (
        r"account|acct|a/c|patient\s+control|pcn|har|fin|csn|encounter|enc|visit|REF\*EJ\*",
        IdentifierKind.ACCOUNT,
    ),
    "claim": (
        r"claim|clm|tcn|dcn|document\s+control|payer\s+claim\s+control|REF\*(?:1K|F8|D9)\*",
        IdentifierKind.CLAIM,
    ),
    "license": (r"(?:driver'?s?\s+)?licen[cs]e|dl|certificate|cert", IdentifierKind.LICENSE),
    "vehicle": (r"vin|vehicle|(?:license\s+)?plate", IdentifierKind.VEHICLE),
    "device": (r"serial|s/n|device|udi|imei|implant", IdentifierKind.DEVICE),
}
_VALUE = r"(?=[A-Za-z0-9\-/.]{0,29}[0-9])[A-Za-z0-9](?:[A-Za-z0-9\-/.]{2,28}[A-Za-z0-9])"
_LABELLED = re.compile(
    r"(?<![\w])(?:"
    + "|".join(f"(?P<{name}>{source})" for name, (source, _) in _LABELS.items())
    + rf"){_SUFFIX}(?:\s{{0,2}}(?:is|was|of))?[\s:#=\-]{{0,4}}(?P<value>{_VALUE})(?![\w]|[.\-/][A-Za-z0-9])",
    re.IGNORECASE,
)
# A match starts where a label starts, right after a non-word character: at a run of letters (the
# loop skips, whole, every run no label begins) or at ``*`` (``*MI*``). Same flags as the pattern.
_LABELLED_STARTS = AnchoredPattern(
    _LABELLED,
    r"(?:[^a-z*]+|\*(?!mi\*)|(?!"
    + "|".join(source for source, _ in _LABELS.values())
    + r")[a-z]+)*+(?P<at>[a-z]+|\*)?",
)
_AMOUNT = re.compile(r"[0-9]{1,9}\.[0-9]{2}")

_MBI_LETTER = "[AC-HJKMNP-RT-Y]"
_MBI_EITHER = "[AC-HJKMNP-RT-Y0-9]"
_MBI = re.compile(
    rf"(?<![A-Za-z0-9\-])[1-9]{_MBI_LETTER}{_MBI_EITHER}[0-9]-?{_MBI_LETTER}{_MBI_EITHER}[0-9]"
    rf"-?{_MBI_LETTER}{{2}}[0-9]{{2}}(?![A-Za-z0-9]|-[A-Za-z0-9])"
)


class ContextIdDetector:
    """Finds MRNs, member, account, claim, license, vehicle and device numbers after a label."""

    name: ClassVar[str] = "context-id"

    def find(self, text: str) -> Iterator[Span]:
        """Every labelled id-shaped value of ``text``, typed by its label."""
        if not has_digit(text):
            return
        for match in _LABELLED_STARTS.finditer(text):
            value = match["value"]
            if _AMOUNT.fullmatch(value) or parse_date(value) is not None:
                continue
            kind = next(kind for name, (_, kind) in _LABELS.items() if match[name] is not None)
            yield Span(match.start("value"), match.end("value"), kind)


class MbiDetector:
    """Finds Medicare Beneficiary Identifiers (kind MBI) anywhere; see the module docstring."""

    name: ClassVar[str] = "mbi"

    def find(self, text: str) -> Iterator[Span]:
        """Every MBI-shaped value of ``text``."""
        if not has_digit(text):
            return
        for match in _MBI.finditer(text):
            yield Span(match.start(), match.end(), IdentifierKind.MBI)
