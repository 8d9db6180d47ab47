"""The `Redactor`: clear identifiers and free text in, pseudonyms and PHI-free text out.

Layers, in order, for one record:

1. **structural**: every `Identifier` an adapter marked becomes its token (``outcome.tokens``);
2. **known**: each identifier's value and its variants (`redaction.known`) are searched in every
   text, so a name typed into a comment is caught because the same name was in PID-5;
3. **detector**: every `Detector` scans every text for identifiers nobody marked.

Spans from layers 2 and 3 are merged: where two overlap the longer wins, and on equal length the
known value wins over a detector (then the earlier span). Each kept span is replaced by a token of
its kind: a known-value match takes its identifier's own token (so one patient is one token in
every field and every ticket), a detector span the token of the text it matched.

Then the **leak check** (`redaction.leak`) looks for every identifier again in the output; a hit
raises `LeakCheckFailure`. A detector that raises, or returns a span outside the text, raises
`DetectorFailure`. Either way nothing is returned and the caller fails closed.

No clear value is ever put into a message, a ``repr`` or an outcome.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Literal

from redaction.detector import Detector, Span
from redaction.errors import DetectorFailure, LeakCheckFailure
from redaction.kinds import IdentifierKind
from redaction.known import KnownValueMatcher
from redaction.leak import LeakChecker
from redaction.pseudonym import Pseudonymizer

POLICY_VERSION = "2026.11-p1"

Layer = Literal["structural", "known", "detector"]


@dataclass(frozen=True, slots=True)
class Identifier:
    """A clear value that an adapter marked as PHI, and the source field it came from.

    ``value`` is excluded from ``repr``, ``str`` and comparisons' output; ``field`` is a field path
    such as ``PID-5`` or ``NM1*QC.NM103`` and is safe to log.
    """

    kind: IdentifierKind
    value: str = dataclass_field(repr=False)
    field: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One replaced span of a text: ``[start, end)`` of the *original* text became ``token``.

    ``layer`` is ``"known"`` or ``"detector"`` for text findings (``"structural"`` is reserved for
    whole-field replacements); ``detector`` names the detector for the detector layer, else None.
    """

    start: int
    end: int
    kind: IdentifierKind
    token: str
    layer: Layer
    detector: str | None = None


@dataclass(frozen=True, slots=True)
class RedactionOutcome:
    """Everything redaction produced for one record; it holds no clear value.

    ``tokens`` has one token per input identifier, in input order. ``texts`` has the same keys as
    the input texts, redacted. ``findings`` gives, per text field, the replaced spans as offsets into
    the original text, sorted by start. ``counts`` counts replacements per kind label (structural
    plus text). ``key_id`` and ``policy_version`` say how to reproduce or compare the tokens.
    """

    tokens: tuple[str, ...]
    texts: dict[str, str]
    findings: dict[str, tuple[Finding, ...]]
    counts: dict[str, int]
    key_id: str
    policy_version: str


@dataclass(frozen=True, slots=True)
class _Candidate:
    start: int
    end: int
    kind: IdentifierKind
    token: str
    layer: Layer
    detector: str | None
    order: int

    def rank(self) -> tuple[int, int, int, int]:
        return (self.start - self.end, 0 if self.layer != "detector" else 1, self.start, self.order)


def _select(candidates: Iterable[_Candidate]) -> list[_Candidate]:
    """Non-overlapping candidates: longest first, known before detector, earlier before later."""
    starts: list[int] = []
    kept: list[_Candidate] = []
    for candidate in sorted(candidates, key=_Candidate.rank):
        position = bisect.bisect_right(starts, candidate.start)
        if position > 0 and kept[position - 1].end > candidate.start:
            continue
        if position < len(kept) and kept[position].start < candidate.end:
            continue
        starts.insert(position, candidate.start)
        kept.insert(position, candidate)
    return kept


def _inside(span: object, length: int) -> bool:
    """Whether ``span`` is a `Span` within a text of ``length`` (detector output is not trusted)."""
    return isinstance(span, Span) and 0 <= span.start < span.end <= length


def _finding(candidate: _Candidate) -> Finding:
    return Finding(
        candidate.start, candidate.end, candidate.kind, candidate.token, candidate.layer, candidate.detector
    )


class Redactor:
    """Pseudonymizes a record's identifiers and redacts its free text; fails closed.

    Contract: ``redact`` either returns a `RedactionOutcome` whose texts contain none of the given
    identifiers (as far as the leak check can see) and no span any detector reported, or raises a
    `redaction.errors.RedactionError` subclass. It is deterministic for a given key, detector list
    and policy version. Detectors are called in the order given.
    """

    def __init__(
        self,
        pseudonymizer: Pseudonymizer,
        detectors: Iterable[Detector],
        *,
        policy_version: str = POLICY_VERSION,
    ) -> None:
        self._pseudonymizer = pseudonymizer
        self._detectors = tuple(detectors)
        self._policy_version = policy_version

    @property
    def policy_version(self) -> str:
        """The redaction policy version written into every outcome."""
        return self._policy_version

    def redact(self, identifiers: Sequence[Identifier], texts: Mapping[str, str]) -> RedactionOutcome:
        """Tokens for ``identifiers`` and redacted copies of ``texts`` (field name -> text)."""
        tokens = tuple(self._pseudonymizer.token(item.kind, item.value) for item in identifiers)
        counts: Counter[str] = Counter(item.kind.value for item in identifiers)
        values = [(item.kind, item.value) for item in identifiers]
        matcher = KnownValueMatcher(values)
        redacted: dict[str, str] = {}
        findings: dict[str, tuple[Finding, ...]] = {}
        for name, text in texts.items():
            redacted[name], findings[name] = self._redact_field(name, text, identifiers, tokens, matcher)
            counts.update(finding.kind.value for finding in findings[name])
        self._check_leaks(identifiers, values, redacted)
        return RedactionOutcome(
            tokens=tokens,
            texts=redacted,
            findings=findings,
            counts=dict(sorted(counts.items())),
            key_id=self._pseudonymizer.key_id,
            policy_version=self._policy_version,
        )

    def redact_text(
        self, text: str, identifiers: Sequence[Identifier] = ()
    ) -> tuple[str, tuple[Finding, ...]]:
        """``text`` redacted with the known values of ``identifiers`` and every detector.

        The same layers and leak check as `redact`, for one text (reported as field ``"text"``).
        """
        outcome = self.redact(identifiers, {"text": text})
        return outcome.texts["text"], outcome.findings["text"]

    def _redact_field(
        self,
        name: str,
        text: str,
        identifiers: Sequence[Identifier],
        tokens: Sequence[str],
        matcher: KnownValueMatcher,
    ) -> tuple[str, tuple[Finding, ...]]:
        if not text:
            return text, ()
        candidates = [
            _Candidate(
                match.start, match.end, identifiers[match.index].kind, tokens[match.index], "known", None, i
            )
            for i, match in enumerate(matcher.find(text))
        ]
        for detector_name, span in self._detected(name, text):
            token = self._pseudonymizer.token(span.kind, text[span.start : span.end])
            order = len(candidates)
            candidates.append(
                _Candidate(span.start, span.end, span.kind, token, "detector", detector_name, order)
            )
        kept = _select(candidates)
        pieces: list[str] = []
        cursor = 0
        for candidate in kept:
            pieces.append(text[cursor : candidate.start])
            pieces.append(candidate.token)
            cursor = candidate.end
        pieces.append(text[cursor:])
        return "".join(pieces), tuple(_finding(candidate) for candidate in kept)

    def _detected(self, name: str, text: str) -> list[tuple[str, Span]]:
        """Every detector's spans as ``(detector name, span)``; any failure -> `DetectorFailure`."""
        found: list[tuple[str, Span]] = []
        for detector in self._detectors:
            detector_name = str(detector.name)
            try:
                spans = list(detector.find(text))
            except Exception as error:
                raise DetectorFailure(
                    f"detector {detector_name!r} failed on text field {name!r} ({type(error).__name__})"
                ) from error
            for span in spans:
                if not _inside(span, len(text)):
                    raise DetectorFailure(
                        f"detector {detector_name!r} returned an invalid span on text field {name!r}"
                    )
                found.append((detector_name, span))
        return found

    def _check_leaks(
        self,
        identifiers: Sequence[Identifier],
        values: Sequence[tuple[IdentifierKind, str]],
        redacted: Mapping[str, str],
    ) -> None:
        leak = LeakChecker(values).first_leak(redacted)
        if leak is not None:
            identifier = identifiers[leak.index]
            raise LeakCheckFailure(
                f"a {identifier.kind.value} identifier from field {identifier.field!r} survived "
                f"redaction in text field {leak.field!r}"
            )
