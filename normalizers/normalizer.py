"""`Normalizer`: picks the builder for a record type, then folds the rule chain over the draft."""

from __future__ import annotations

from collections.abc import Callable

from adapters.base import SourceRecord
from normalizers.draft import TicketDraft
from normalizers.errors import UnsupportedRecord
from normalizers.evidence import normalize_evidence
from normalizers.fhir import RECORD_TYPES as FHIR_RECORD_TYPES
from normalizers.fhir import normalize_fhir
from normalizers.hl7v2 import RECORD_TYPES as HL7V2_RECORD_TYPES
from normalizers.hl7v2 import normalize_hl7v2
from normalizers.json_event import normalize_json_event
from normalizers.lifecycle import EVIDENCE_RECORD_TYPES
from normalizers.rules import RuleChain, default_rules
from normalizers.taxonomy import Taxonomy, load_taxonomy
from normalizers.x12 import register_x12

DraftBuilder = Callable[[SourceRecord, Taxonomy], TicketDraft]


class Normalizer:
    """Record -> draft. Builders are registered per record type; rules apply to every draft."""

    def __init__(self, taxonomy: Taxonomy | None = None, rules: RuleChain | None = None) -> None:
        self.taxonomy = taxonomy or load_taxonomy()
        self._rules = rules or default_rules(self.taxonomy)
        self._builders: dict[str, DraftBuilder] = {}
        self.register("json-event", normalize_json_event)
        register_x12(self)
        for record_type in HL7V2_RECORD_TYPES:
            self.register(record_type, normalize_hl7v2)
        for record_type in FHIR_RECORD_TYPES:
            self.register(record_type, normalize_fhir)
        for record_type in EVIDENCE_RECORD_TYPES:
            self.register(record_type, normalize_evidence)

    def register(self, record_type: str, builder: DraftBuilder) -> None:
        """Use ``builder`` for records of ``record_type``."""
        self._builders[record_type] = builder

    def normalize(self, record: SourceRecord) -> TicketDraft:
        """The routed draft for ``record``; `UnsupportedRecord` when no builder handles its type."""
        try:
            builder = self._builders[record.record_type]
        except KeyError:
            raise UnsupportedRecord(f"no normalizer for record type {record.record_type!r}") from None
        return self._rules.apply(record, builder(record, self.taxonomy))
