"""Test doubles for normalizers' extension points."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from adapters.base import SourceRecord
from normalizers.draft import TicketDraft


class TagRule:
    """A `Rule` double: adds one tag and one rationale line to every draft."""

    id: ClassVar[str] = "test.tag"

    def __init__(self, tag: str = "tested") -> None:
        self._tag = tag

    def apply(self, record: SourceRecord, draft: TicketDraft) -> TicketDraft:
        """Tag the draft."""
        if self._tag in draft.tags:
            return draft
        return dataclasses.replace(
            draft, tags=(*draft.tags, self._tag), rationale=(*draft.rationale, f"{self.id}: +{self._tag}")
        )
