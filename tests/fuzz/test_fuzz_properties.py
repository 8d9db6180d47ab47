"""Property tests (hypothesis) for the parsers and the redactor: the short, regular-suite version of
the fuzzing behind `make fuzz` (docs/fuzzing.md).

For every target in `fuzzkit.TARGETS`: any input either succeeds or raises one of the component's
documented errors, within the per-input time bound; the MLLP decoder agrees with a reference
framer however the bytes are split; no canary identifier survives redaction. Inputs are mutations
of the repo's fixtures (byte edits, and for FHIR also JSON-tree edits) plus raw random bytes.
``RCMGW_FUZZ_EXAMPLES`` raises the example count (`make fuzz` uses it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import fuzzkit
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.hl7v2.mllp import END, START
from redaction.redactor import Identifier

EXAMPLES = int(os.environ.get("RCMGW_FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # load on the shared machine varies; hangs are caught by fuzzkit.time_bound
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
    derandomize=os.environ.get("RCMGW_FUZZ_EXAMPLES") is None,  # the regular suite is repeatable
)

_EDIT = st.tuples(
    st.sampled_from(["delete", "insert", "replace", "duplicate", "truncate"]),
    st.integers(min_value=0, max_value=1 << 20),
    st.integers(min_value=0, max_value=64),
    st.binary(max_size=24),
)


def _apply(base: bytes, edits: list[tuple[str, int, int, bytes]]) -> bytes:
    data = bytearray(base)
    for op, where, length, blob in edits:
        at = where % (len(data) + 1)
        if op == "delete":
            del data[at : at + length]
        elif op == "insert":
            data[at:at] = blob
        elif op == "replace":
            data[at : at + len(blob)] = blob
        elif op == "duplicate":
            data[at:at] = data[at : at + length]
        else:
            del data[at:]
    return bytes(data)


def mutated(target: str) -> st.SearchStrategy[bytes]:
    """A fixture of ``target`` with up to eight byte edits, or random bytes."""
    edited = st.builds(
        _apply, st.sampled_from(fuzzkit.seeds(target)), st.lists(_EDIT, min_size=1, max_size=8)
    )
    return st.one_of(edited, edited, st.binary(max_size=512))


_JSON_LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["", "Patient/P1", "#P1", "error", "ClaimResponse", "Bundle", "2026-02-30"]),
)
_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _nodes(item, (*path, index))
    return found


@st.composite
def fhir_bodies(draw: st.DrawFn) -> bytes:
    """A seed resource with up to four of its nodes replaced by random JSON."""
    resource = draw(st.sampled_from(fuzzkit.fhir_seed_resources()))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _nodes(resource)
        path = draw(st.sampled_from(paths[1:] or paths))
        replacement = draw(_JSON)
        if not path:
            resource = replacement
            continue
        parent = resource
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = replacement
    return json.dumps(resource).encode()


@FUZZ
@given(mutated("x12"))
def test_x12_reader_raises_only_x12_rejected(data: bytes) -> None:
    fuzzkit.check("x12", data)


@FUZZ
@given(mutated("hl7"))
def test_hl7_parser_raises_only_input_rejected(data: bytes) -> None:
    fuzzkit.check("hl7", data)


@FUZZ
@given(
    st.binary(min_size=9, max_size=9),
    st.lists(
        st.one_of(
            st.builds(lambda b: START + b + END, st.binary(max_size=300)),
            st.sampled_from([START, END, b"\x1c", b"\r", b"\x0b\x1c"]),
            st.binary(max_size=40),
        ),
        max_size=12,
    ),
)
def test_mllp_decoder_matches_reference_framer(header: bytes, pieces: list[bytes]) -> None:
    fuzzkit.check("mllp", header + b"".join(pieces))


@FUZZ
@given(st.one_of(fhir_bodies(), mutated("fhir")))
def test_fhir_mapper_raises_only_fhir_input_rejected(data: bytes) -> None:
    fuzzkit.check("fhir", data)


@FUZZ
@given(st.binary(min_size=1, max_size=9), st.text(max_size=200))
def test_redactor_never_lets_a_canary_through(picks: bytes, text: str) -> None:
    fuzzkit.check("redaction", picks.ljust(9, b"\x00") + text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize(
    ("target", "path"),
    fuzzkit.regression_inputs() or [pytest.param("", Path(), marks=pytest.mark.skip(reason="none saved"))],
    ids=lambda value: value.name if isinstance(value, Path) else str(value),
)
def test_saved_crash_seeds_stay_fixed(target: str, path: Path) -> None:
    """Every input a fuzzer once crashed on (tests/fuzz/regressions/<target>/) now passes."""
    fuzzkit.check(target, path.read_bytes())


GLUED_ID_SEEDS = sorted((fuzzkit.REGRESSIONS / "redaction").glob("id-glued-*"))


@pytest.mark.parametrize("path", GLUED_ID_SEEDS, ids=lambda path: path.name)
def test_an_id_glued_to_a_word_is_redacted(path: Path) -> None:
    """Found by atheris (docs/fuzzing.md): ``COPCN-7731-0099`` kept the claim number
    ``PCN-7731-0099``. Now no canary id survives in the output, glued or not."""
    text = fuzzkit.canary_text(path.read_bytes())
    assert "pcn-7731-0099" in text.casefold()
    identifiers = [
        Identifier(kind, value, f"fuzz.{kind.value}") for kind, value in fuzzkit.CANARY_IDENTIFIERS
    ]
    outcome = fuzzkit.redactor().redact(identifiers, {"summary": text, "description": text.upper()})
    for redacted in outcome.texts.values():
        for kind, value in fuzzkit.CANARY_IDENTIFIERS:
            if fuzzkit.glued_counts(kind, value):
                assert not fuzzkit.surviving(value, redacted, glued=True), kind


def test_a_hang_is_reported() -> None:
    """The time bound fires (so a hanging parser fails the test instead of stalling the suite)."""
    with pytest.raises(fuzzkit.FuzzHang), fuzzkit.time_bound(0.05):
        while True:
            pass


def test_an_unexpected_exception_type_fails_the_target(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(data: bytes) -> None:
        raise KeyError("bug")

    monkeypatch.setitem(fuzzkit.TARGETS, "x12", broken)
    with pytest.raises(KeyError):
        fuzzkit.check("x12", b"ISA")
