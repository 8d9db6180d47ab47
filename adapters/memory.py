"""`MemoryAdapter`: the in-package test double for `Adapter`. It yields records given to it and
remembers which were acknowledged, so tests can check ack-after-commit ordering."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import ClassVar

from adapters.base import Ack, SourceRecord


class MemoryAdapter:
    """Yields the given records in order; ``acked`` lists the indexes whose ack was awaited.

    Records not acknowledged are offered again by the next ``read()`` (at-least-once), as a real
    source would offer them again after a restart.
    """

    name: ClassVar[str] = "memory"

    def __init__(self, records: Iterable[SourceRecord]) -> None:
        self._records = list(records)
        self.acked: list[int] = []
        self.opened = False
        self.closed = False

    async def open(self) -> None:
        """Mark the adapter open."""
        self.opened = True

    async def read(self) -> AsyncIterator[tuple[SourceRecord, Ack]]:
        """Yield every record not yet acknowledged."""
        for index, record in enumerate(self._records):
            if self.closed:
                return
            if index in self.acked:
                continue
            yield record, self._ack_for(index)

    def _ack_for(self, index: int) -> Ack:
        async def ack() -> None:
            if index not in self.acked:
                self.acked.append(index)

        return ack

    async def aclose(self) -> None:
        """Stop reading."""
        self.closed = True
