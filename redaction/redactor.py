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
import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date
from typing import Literal, Protocol

from redaction.detector import Detector, Span
from redaction.errors import DetectorFailure, LeakCheckFailure
from redaction.kinds import IdentifierKind
from redaction.known import KnownValueMatcher
from redaction.leak import LeakChecker
from redaction.pseudonym import Pseudonymizer
from redaction.render import TokenRenderer, today_utc

POLICY_VERSION = "2026.11-p1"
# Texts whose detector spans are remembered (per `Redactor`): a remittance stream repeats the same
# denial texts record after record, and detectors are pure functions of the text.
DETECTION_CACHE_SIZE = 1024

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
class Mark:
    """A span ``[start, end)`` of a document that its format says is an identifier of ``kind``
    (X12 NM103, HL7 PID-5, FHIR ``Patient.birthDate``); ``field`` names the source field."""

    start: int
    end: int
    kind: IdentifierKind
    field: str


class TokenObserver(Protocol):
    """Told every token the redactor writes and the clear value behind it (the re-identification
    vault is one). Any exception it raises makes the redaction fail closed."""

    def remember(self, token: str, kind: IdentifierKind, value: str) -> None:
        """Record that ``token`` stands for ``value``."""
        ...


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

    def rank(self) -> tuple[int, int, int, int, int]:
        # Structural marks always win; then the longest span; then known values over detectors.
        first = 0 if self.layer == "structural" else 1
        return (first, self.start - self.end, 0 if self.layer != "detector" else 1, self.start, self.order)


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


class _TokenMemo:
    """The renderer's tokens for one call: each distinct ``(kind, value)`` costs one HMAC (a document
    names its patient in several segments; a note repeats a date). Lives for one call only."""

    def __init__(self, renderer: TokenRenderer) -> None:
        self._renderer = renderer
        self._pairs: dict[tuple[IdentifierKind, str], tuple[str, str]] = {}

    def pair(self, kind: IdentifierKind, value: str) -> tuple[str, str]:
        """``renderer.render_pair(kind, value)``."""
        key = (kind, value)
        pair = self._pairs.get(key)
        if pair is None:
            pair = self._pairs[key] = self._renderer.render_pair(kind, value)
        return pair

    def render(self, kind: IdentifierKind, value: str) -> str:
        """``renderer.render(kind, value)``."""
        return self.pair(kind, value)[1]


class _ScanFailure(Exception):
    """A detector raised or returned a bad span; the caller names the text field."""

    def __init__(self, detector: str, problem: str, detail: str = "") -> None:
        super().__init__(detector)
        self.detector = detector
        self.problem = problem
        self.detail = detail


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
        observer: TokenObserver | None = None,
        today: Callable[[], date] = today_utc,
        detection_cache: int = DETECTION_CACHE_SIZE,
    ) -> None:
        self._pseudonymizer = pseudonymizer
        self._renderer = TokenRenderer(pseudonymizer, today)
        self._detectors = tuple(detectors)
        self._policy_version = policy_version
        self._observer = observer
        # The detectors' spans of the last ``detection_cache`` distinct texts (0: none). Failures
        # are never remembered. The texts are held in this process's memory only, like every text
        # being redacted.
        self._scan: Callable[[str], tuple[tuple[str, Span], ...]] = (
            functools.lru_cache(maxsize=detection_cache)(self._scan_text)
            if detection_cache > 0
            else self._scan_text
        )

    @property
    def policy_version(self) -> str:
        """The redaction policy version written into every outcome."""
        return self._policy_version

    def redact(self, identifiers: Sequence[Identifier], texts: Mapping[str, str]) -> RedactionOutcome:
        """Tokens for ``identifiers`` and redacted copies of ``texts`` (field name -> text)."""
        memo = _TokenMemo(self._renderer)
        pairs = [memo.pair(item.kind, item.value) for item in identifiers]
        tokens = tuple(pair[0] for pair in pairs)
        rendered = tuple(pair[1] for pair in pairs)
        counts: Counter[str] = Counter(item.kind.value for item in identifiers)
        values = [(item.kind, item.value) for item in identifiers]
        matcher = KnownValueMatcher(values)
        redacted: dict[str, str] = {}
        findings: dict[str, tuple[Finding, ...]] = {}
        done: dict[str, str] = {}  # text -> the first field that held it (redaction is per text)
        for name, text in texts.items():
            if text in done:
                redacted[name], findings[name] = redacted[done[text]], findings[done[text]]
            else:
                done[text] = name
                redacted[name], findings[name] = self._redact_field(
                    name, text, identifiers, rendered, matcher, (), memo
                )
            counts.update(finding.kind.value for finding in findings[name])
        self._check_leaks(identifiers, values, redacted)
        self._observe(identifiers, tokens, rendered, texts, findings)
        return RedactionOutcome(
            tokens=tokens,
            texts=redacted,
            findings=findings,
            counts=dict(sorted(counts.items())),
            key_id=self._pseudonymizer.key_id,
            policy_version=self._policy_version,
        )

    def redact_marked(
        self,
        text: str,
        marks: Sequence[Mark],
        identifiers: Sequence[Identifier] = (),
        *,
        quiet: Sequence[tuple[int, int]] = (),
    ) -> tuple[str, tuple[Finding, ...]]:
        """A whole document redacted: ``marks`` (structural spans found by a format parser) are
        replaced first and always; their values and ``identifiers`` are then searched for in the
        rest as known values, and every detector scans it. The leak check covers every marked value.
        Findings are offsets into ``text``; structural ones have layer ``"structural"``. Detector
        spans that lie wholly inside one of the ``quiet`` regions (envelope segments) are ignored.
        """
        for mark in marks:
            if not 0 <= mark.start < mark.end <= len(text):
                raise DetectorFailure(f"structural mark of field {mark.field!r} is outside the text")
        marked = [Identifier(mark.kind, text[mark.start : mark.end], mark.field) for mark in marks]
        everything = [*marked, *identifiers]
        values = [(item.kind, item.value) for item in everything]
        memo = _TokenMemo(self._renderer)
        pairs = [memo.pair(item.kind, item.value) for item in everything]
        rendered = tuple(pair[1] for pair in pairs)
        structural = [
            _Candidate(mark.start, mark.end, mark.kind, rendered[i], "structural", None, i)
            for i, mark in enumerate(marks)
        ]
        redacted, findings = self._redact_field(
            "text", text, everything, rendered, KnownValueMatcher(values), structural, memo, quiet
        )
        self._check_leaks(everything, values, {"text": redacted})
        tokens = tuple(pair[0] for pair in pairs)
        self._observe(everything, tokens, rendered, {"text": text}, {"text": findings})
        return redacted, findings

    def redact_text(
        self, text: str, identifiers: Sequence[Identifier] = ()
    ) -> tuple[str, tuple[Finding, ...]]:
        """``text`` redacted with the known values of ``identifiers`` and every detector.

        The same layers and leak check as `redact`, for one text (reported as field ``"text"``).
        """
        outcome = self.redact(identifiers, {"text": text})
        return outcome.texts["text"], outcome.findings["text"]

    def _redact_field(  # noqa: PLR0917 - private, called from two places with every layer
        self,
        name: str,
        text: str,
        identifiers: Sequence[Identifier],
        tokens: Sequence[str],
        matcher: KnownValueMatcher,
        structural: Sequence[_Candidate],
        memo: _TokenMemo,
        quiet: Sequence[tuple[int, int]] = (),
    ) -> tuple[str, tuple[Finding, ...]]:
        if not text:
            return text, ()
        candidates = list(structural)
        candidates += [
            _Candidate(
                match.start,
                match.end,
                identifiers[match.index].kind,
                tokens[match.index],
                "known",
                None,
                len(structural) + i,
            )
            for i, match in enumerate(matcher.find(text))
        ]
        for detector_name, span in self._detected(name, text):
            if any(start <= span.start and span.end <= end for start, end in quiet):
                continue
            token = memo.render(span.kind, text[span.start : span.end])
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

    def _detected(self, name: str, text: str) -> tuple[tuple[str, Span], ...]:
        """Every detector's spans as ``(detector name, span)``; any failure -> `DetectorFailure`."""
        try:
            return self._scan(text)
        except _ScanFailure as failure:
            raise DetectorFailure(
                f"detector {failure.detector!r} {failure.problem} on text field {name!r}{failure.detail}"
            ) from failure.__cause__

    def _scan_text(self, text: str) -> tuple[tuple[str, Span], ...]:
        found: list[tuple[str, Span]] = []
        for detector in self._detectors:
            detector_name = str(detector.name)
            try:
                spans = list(detector.find(text))
            except Exception as error:
                raise _ScanFailure(detector_name, "failed", f" ({type(error).__name__})") from error
            for span in spans:
                if not _inside(span, len(text)):
                    raise _ScanFailure(detector_name, "returned an invalid span")
            found += [(detector_name, span) for span in spans]
        return tuple(found)

    def _observe(
        self,
        identifiers: Sequence[Identifier],
        tokens: Sequence[str],
        rendered: Sequence[str],
        texts: Mapping[str, str],
        findings: Mapping[str, Sequence[Finding]],
    ) -> None:
        """Tell the observer (if any) every token written and its value; only after success."""
        if self._observer is None:
            return
        for item, token, text_token in zip(identifiers, tokens, rendered, strict=True):
            self._observer.remember(token, item.kind, item.value)
            if text_token != token:
                self._observer.remember(text_token, item.kind, item.value)
        for name, found in findings.items():
            for finding in found:
                if finding.layer == "detector":
                    self._observer.remember(
                        finding.token, finding.kind, texts[name][finding.start : finding.end]
                    )

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
