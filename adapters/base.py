"""The `Adapter` extension point and the record type every adapter yields.

A `SourceRecord` splits what an adapter read into *facts* (non-PHI values the normalizer may copy:
codes, payer ids, amounts, control numbers) and *PHI* (`PhiValue`s the redactor must replace), plus
*texts*: free text that may hold PHI anywhere and must be scanned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import ClassVar, Protocol, runtime_checkable

FactValue = str | int | Decimal | datetime | bool | None


@dataclass(frozen=True, slots=True)
class PhiValue:
    """A value the adapter knows to be an identifier. ``kind`` is a redaction kind label
    (``"NAME"``, ``"SSN"``, ``"DOB"``, ``"MRN"``, ...); ``field`` names where it came from
    (``"PID-5"``, ``"patient.name"``). ``repr`` never shows the value."""

    kind: str
    field: str
    value: str = dataclasses.field(repr=False)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One error, as read. ``record_type`` tells the normalizer which rules apply
    (``"json-event"``, ``"x12-835-claim"``, ...). ``control_ids`` are non-PHI ids of the input.
    ``raw_digest_input`` holds the bytes used to derive the dedup key when the source gives no
    id of its own (never logged)."""

    record_type: str
    source_system: str
    source_format: str
    facts: Mapping[str, FactValue]
    phi: tuple[PhiValue, ...] = ()
    texts: Mapping[str, str] = dataclasses.field(default_factory=dict)
    control_ids: Mapping[str, str] = dataclasses.field(default_factory=dict)
    received_at: datetime | None = None
    idempotency_id: str | None = None
    raw_digest_input: bytes = dataclasses.field(default=b"", repr=False)


Ack = Callable[[], Awaitable[None]]
"""Called once the record's ticket (or the decision that it needs none) is durably committed. It is
what makes the source's data safe to forget: the HTTP 202, the MLLP AA, moving a file to done/."""


@runtime_checkable
class Adapter(Protocol):
    """A source of records.

    Contract (checked by ``tests/adapters/test_adapter_contract.py`` for every adapter and the
    `adapters.memory.MemoryAdapter` double):

    - ``open()`` connects or prepares; it may raise `SourceUnavailable`.
    - ``read()`` yields ``(record, ack)`` pairs. The adapter must not treat a record as consumed
      until its ``ack`` is awaited; a record whose ack is never called is offered again after a
      restart (at-least-once). Malformed input raises or is reported as `InputRejected` for that
      input only: one bad input never stops the records after it.
    - ``ack`` is idempotent: calling it twice has the effect of calling it once.
    - ``aclose()`` releases resources; ``read()`` ends after it.
    """

    name: ClassVar[str]

    async def open(self) -> None:
        """Prepare to read."""
        ...

    def read(self) -> AsyncIterator[tuple[SourceRecord, Ack]]:
        """Yield each record with its acknowledgement callback."""
        ...

    async def aclose(self) -> None:
        """Release resources."""
        ...


AdapterFactory = Callable[..., Adapter]


class AdapterRegistry:
    """An explicit name -> adapter factory map (no discovery by module names)."""

    def __init__(self) -> None:
        self._factories: dict[str, AdapterFactory] = {}

    def register(self, name: str, factory: AdapterFactory) -> None:
        """Add ``factory`` under ``name``; registering a name twice is an error."""
        if name in self._factories:
            raise ValueError(f"adapter {name!r} is already registered")
        self._factories[name] = factory

    def create(self, name: str, **config: object) -> Adapter:
        """A new adapter ``name`` built with ``config``."""
        try:
            factory = self._factories[name]
        except KeyError:
            raise KeyError(f"unknown adapter {name!r}; known: {sorted(self._factories)}") from None
        return factory(**config)

    def names(self) -> list[str]:
        """Registered adapter names, sorted."""
        return sorted(self._factories)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._factories))


def facts_view(record: SourceRecord) -> Mapping[str, FactValue]:
    """The record's facts (a read-only view), for rules that must not see PHI."""
    return record.facts
