"""Fuzz targets shared by the hypothesis property tests and the atheris harnesses (importable as
``fuzzkit``; see docs/fuzzing.md).

Each target takes the fuzzer's bytes, runs one component on them, and either returns or raises one
of the component's documented error classes (`EXPECTED`). Anything else is a bug: the target
raises it unchanged, so hypothesis shrinks it and atheris records a crash file. Every input runs
under `time_bound` (a hang is reported as `FuzzHang`).

Targets: ``x12`` (`adapters.x12.reader.read_x12`), ``hl7`` (`adapters.hl7v2.intake.parse_input`:
envelope, parser, header checks, record building), ``mllp`` (`adapters.hl7v2.mllp.MllpDecoder`
fed in fuzzer-chosen pieces, checked against a reference framer), ``fhir``
(`adapters.fhir.validation.parse_fhir` then `adapters.fhir.records.records_from_resource`) and
``redaction`` (`redaction.Redactor.redact` with canary identifiers placed in the text: no canary
may survive; a distinctive id canary not even glued to letters or digits).
"""

from __future__ import annotations

import io
import json
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.errors import InputRejected
from adapters.fhir.records import records_from_resource
from adapters.fhir.validation import parse_fhir
from adapters.hl7v2.intake import parse_input
from adapters.hl7v2.mllp import END, START, FrameTooLarge, MllpDecoder
from adapters.x12.reader import read_x12
from redaction import Redactor
from redaction.detectors import builtin_detectors
from redaction.errors import RedactionError
from redaction.fastfind import distinctive_id
from redaction.kinds import IdentifierKind
from redaction.normalize import ValueFamily, family_of, id_chars, phone_digits
from redaction.redactor import Identifier
from redaction.testing import deterministic_pseudonymizer

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
REGRESSIONS = Path(__file__).resolve().parent / "fuzz" / "regressions"
WHEN = datetime(2026, 11, 1, tzinfo=UTC)
SECONDS_PER_INPUT = 10.0
"""The hang bound: generous, so a loaded 2-core machine never trips it on a legitimate input."""

EXPECTED: dict[str, tuple[type[BaseException], ...]] = {
    "x12": (InputRejected,),  # X12Rejected, X12NotRecognized
    "hl7": (InputRejected,),  # Hl7Rejected, Hl7Unsupported, MllpFrameTooLarge
    "mllp": (),  # the decoder never raises
    "fhir": (InputRejected,),  # the FhirInputRejected tree
    "redaction": (RedactionError,),  # fail closed: LeakCheckFailure, DetectorFailure
}


class FuzzHang(Exception):
    """An input took longer than `SECONDS_PER_INPUT`."""


class FuzzPropertyViolated(AssertionError):
    """A target's property failed (an MLLP frame lost or invented, a canary in redacted output)."""


@contextmanager
def time_bound(seconds: float = SECONDS_PER_INPUT) -> Iterator[None]:
    """Raise `FuzzHang` in the main thread if the body runs longer than ``seconds``."""

    def expired(signum: int, frame: object) -> None:
        raise FuzzHang(f"one input ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def seeds(target: str) -> list[bytes]:
    """Valid inputs for ``target`` the mutators start from (fixtures shipped in the repo)."""
    if target == "x12":
        return [path.read_bytes() for path in sorted((FIXTURES / "x12").iterdir())]
    if target in {"hl7", "mllp"}:
        return [path.read_bytes() for path in sorted((FIXTURES / "hl7v2").glob("*.hl7"))]
    if target == "fhir":
        return [json.dumps(resource).encode() for resource in fhir_seed_resources()]
    return [b"Claim PCN-7731-0099 for Zebediah Quixote, DOB 03/14/1957, call (617) 555-0143."]


def fhir_seed_resources() -> list[dict[str, Any]]:
    """A denied ClaimResponse and an OperationOutcome in a searchset Bundle (synthetic, canary PHI)."""
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "processing",
                "details": {"coding": [{"system": "urn:x", "code": "4101"}], "text": "bad"},
                "diagnostics": "Patient QUIXOTE, ZEBEDIAH MRN88812345 not found",
            }
        ],
    }
    claim_response = {
        "resourceType": "ClaimResponse",
        "id": "CR-1",
        "status": "active",
        "use": "claim",
        "outcome": "error",
        "patient": {"reference": "Patient/P1", "display": "Zebediah Quixote"},
        "insurer": {"display": "ACME HEALTH PLAN"},
        "error": [{"code": {"coding": [{"system": "urn:carc", "code": "97"}]}}],
        "item": [
            {
                "itemSequence": 1,
                "adjudication": [
                    {
                        "category": {"coding": [{"code": "denied"}]},
                        "amount": {"value": 100, "currency": "USD"},
                    }
                ],
            }
        ],
        "contained": [
            {
                "resourceType": "Patient",
                "id": "P1",
                "identifier": [{"system": "urn:mrn", "value": "MRN88812345"}],
                "name": [{"family": "Quixote", "given": ["Zebediah"]}],
                "birthDate": "1957-03-14",
            }
        ],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": claim_response, "search": {"mode": "match"}},
            {"resource": outcome, "search": {"mode": "outcome"}},
        ],
    }
    return [outcome, claim_response, bundle]


def run_x12(data: bytes) -> None:
    """Read every item of ``data`` as an X12 file."""
    for _item in read_x12(io.BytesIO(data), received_at=WHEN, chunk_size=64):
        pass


def run_hl7(data: bytes) -> None:
    """Parse ``data`` as an HL7 v2 input (one message, a batch, or garbage)."""
    parse_input(data, received_at=WHEN, source_system="fuzz")


def reference_frames(stream: bytes) -> tuple[list[bytes], bytes | None]:
    """What an MLLP reader must make of ``stream`` (no size limit): the bytes between each START
    and the next END (bytes outside frames dropped), and the unterminated last frame, if any."""
    frames: list[bytes] = []
    position = 0
    while True:
        start = stream.find(START, position)
        if start == -1:
            return frames, None
        end = stream.find(END, start + 1)
        if end == -1:
            return frames, stream[start + 1 :]
        frames.append(stream[start + 1 : end])
        position = end + len(END)


def run_mllp(data: bytes) -> None:
    """Feed ``data`` to an `MllpDecoder` in pieces whose sizes come from the first bytes; the
    frames must equal `reference_frames` (oversize frames reported as `FrameTooLarge`)."""
    if not data:
        return
    limit = 16 + data[0] * 4
    cuts = [1 + b % 17 for b in data[1:9]] or [1]
    stream = data[9:]
    decoder = MllpDecoder(max_frame_bytes=limit)
    got: list[bytes | FrameTooLarge] = []
    position, turn = 0, 0
    while position < len(stream):
        size = cuts[turn % len(cuts)]
        got += decoder.feed(stream[position : position + size])
        position += size
        turn += 1
    frames, tail = reference_frames(stream)
    expected: list[bytes | None] = list(frames)
    if tail is not None and len(tail) - tail.endswith(b"\x1c") > limit:
        expected.append(None)  # an unterminated frame already over the limit is reported once
    if len(got) != len(expected):
        raise FuzzPropertyViolated(f"decoder returned {len(got)} frames, reference {len(expected)}")
    for frame, want in zip(got, expected, strict=True):
        if want is None:
            if not isinstance(frame, FrameTooLarge):
                raise FuzzPropertyViolated("an unterminated oversize frame was not reported")
        elif isinstance(frame, FrameTooLarge):
            if len(want) <= limit or not want.startswith(frame.head):
                raise FuzzPropertyViolated("a frame within the limit was reported as too large")
        elif frame != want:
            raise FuzzPropertyViolated("a frame's bytes differ from the reference framer's")


def run_fhir(data: bytes) -> None:
    """Validate ``data`` as a FHIR JSON body and map it to records."""
    resource = parse_fhir(data)
    records_from_resource(resource, vendor="epic", instance="fuzz", received_at=WHEN)


CANARY_IDENTIFIERS: tuple[tuple[IdentifierKind, str], ...] = (
    (IdentifierKind.NAME, "QUIXOTE^ZEBEDIAH"),
    (IdentifierKind.NAME, "Zebediah Quixote"),
    (IdentifierKind.SSN, "219-09-9999"),
    (IdentifierKind.DOB, "1957-03-14"),
    (IdentifierKind.PHONE, "(617) 555-0143"),
    (IdentifierKind.EMAIL, "zeb.quixote@example.org"),
    (IdentifierKind.MRN, "MRN88812345"),
    (IdentifierKind.CLAIM, "PCN-7731-0099"),
    (IdentifierKind.MEMBER_ID, "MBR88812345"),
)
_REDACTOR: list[Redactor] = []


def redactor() -> Redactor:
    """The production layering (every built-in detector) on a fixed test key, built once."""
    if not _REDACTOR:
        _REDACTOR.append(Redactor(deterministic_pseudonymizer("fuzz"), builtin_detectors()))
    return _REDACTOR[0]


def canary_text(data: bytes) -> str:
    """Fuzzer text with canary values inserted: byte 0 picks how many, the next bytes where and
    which; the rest (decoded leniently) is the surrounding text."""
    if not data:
        return ""
    count = 1 + data[0] % 4
    picks = data[1 : 1 + 2 * count]
    text = data[1 + 2 * count :].decode("utf-8", "replace")
    for index in range(0, len(picks) - 1, 2):
        value = CANARY_IDENTIFIERS[picks[index] % len(CANARY_IDENTIFIERS)][1]
        at = picks[index + 1] * len(text) // 256
        text = f"{text[:at]} {value} {text[at:]}"
    return text


def _same_class(a: str, b: str) -> bool:
    return (a.isdigit() and b.isdigit()) or (a.isalpha() and b.isalpha())


def surviving(value: str, text: str, *, glued: bool = False) -> bool:
    """Whether ``value`` occurs in ``text`` (case-insensitively) as a value of its own: not continuing
    a letter or digit run on either side, which is what the redactor promises to catch for every
    value (`redaction.fastfind.IdSearch`). ``glued``: any occurrence counts, which the redactor
    promises for distinctive ids (`redaction.fastfind.distinctive_id`)."""
    folded, needle = text.casefold(), value.casefold()
    start = folded.find(needle)
    while start != -1:
        end = start + len(needle)
        before = folded[start - 1] if start else ""
        after = folded[end] if end < len(folded) else ""
        if glued or not (
            (before and _same_class(before, needle[0])) or (after and _same_class(after, needle[-1]))
        ):
            return True
        start = folded.find(needle, start + 1)
    return False


def glued_counts(kind: IdentifierKind, value: str) -> bool:
    """Whether a canary must not survive even glued to letters or digits: the distinctive ids."""
    family = family_of(kind)
    if family is ValueFamily.ID:
        return distinctive_id(id_chars(value))
    return family is ValueFamily.PHONE and distinctive_id(phone_digits(value))


def run_redaction(data: bytes, *, glued: bool = False) -> None:
    """Redact fuzzer text holding canary values, with the canaries marked as structured
    identifiers (as an adapter marks PID-5 or NM1*QC): the output holds none of them, and no
    distinctive id even glued to letters or digits. ``glued``: no canary at all, even glued."""
    text = canary_text(data)
    identifiers = [Identifier(kind, value, f"fuzz.{kind.value}") for kind, value in CANARY_IDENTIFIERS]
    outcome = redactor().redact(identifiers, {"summary": text, "description": text.upper()})
    for name, redacted in outcome.texts.items():
        for kind, value in CANARY_IDENTIFIERS:
            if surviving(value, redacted, glued=glued or glued_counts(kind, value)):
                raise FuzzPropertyViolated(f"a canary of kind {kind.value} survived in {name}")


TARGETS: dict[str, Callable[[bytes], None]] = {
    "x12": run_x12,
    "hl7": run_hl7,
    "mllp": run_mllp,
    "fhir": run_fhir,
    "redaction": run_redaction,
}


def check(target: str, data: bytes) -> None:
    """Run ``target`` on ``data`` under the time bound; documented errors are fine, anything else
    (including `FuzzHang` and `FuzzPropertyViolated`) propagates."""
    with time_bound():
        try:
            TARGETS[target](data)
        except EXPECTED[target]:
            return


def run_expected(target: str, data: bytes) -> None:
    """Run ``target`` on ``data`` without the time bound (atheris: libFuzzer's ``-timeout``
    bounds each input); documented errors are fine, anything else propagates."""
    try:
        TARGETS[target](data)
    except EXPECTED[target]:
        return


def atheris_main(target: str) -> None:
    """Entry point of ``tests/fuzz/harness_<target>.py``: fuzz ``target`` with atheris (libFuzzer
    flags from the command line). Call it after importing this module inside
    ``atheris.instrument_imports()``."""
    import sys

    import atheris  # type: ignore[import-untyped]

    atheris.Setup(sys.argv, lambda data: run_expected(target, data))
    atheris.Fuzz()


def regression_inputs() -> list[tuple[str, Path]]:
    """Every saved crash seed: ``tests/fuzz/regressions/<target>/<name>``."""
    if not REGRESSIONS.is_dir():
        return []
    return [
        (folder.name, path)
        for folder in sorted(REGRESSIONS.iterdir())
        if folder.is_dir() and folder.name in TARGETS
        for path in sorted(folder.iterdir())
        if path.is_file() and not path.name.startswith(".")
    ]
