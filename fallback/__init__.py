"""fallback: the durable spool between ingest and delivery, the sinks, and the delivery worker.

Public surface (everything below is re-exported here):

- Errors (`fallback.errors`, tree in its docstring): `FallbackError`, `SpoolError`,
  `SpoolUnavailable`, `SpoolFull`, `SpoolCorrupt`, `LeaseLost`, `DeliveryError`, `TransientDeliveryError`,
  `PermanentDeliveryError`, `translate_sqlite_error`, `SQLITE_ERROR_MAP`.
- Spool interface (`fallback.spool`): `SpoolBackend`, `EntryState`, `PutResult`, `LeasedEntry`,
  `Delivered`, `RetryAt`, `DeadLetter`, `Outcome`, `EntryInfo`, `SpoolRegistry`.
- Spool backends: `SqliteSpool` (durable, encrypted), `MemorySpool` (test double, not durable);
  `PayloadCipher` (AES-256-GCM with key rotation).
- Sink interface (`fallback.sink`): `Sink`, `DeliveryReceipt`, `SinkRegistry`; sinks `FileSink`
  and `MemorySink` (test double).
- Retry schedule (`fallback.retry`): `RetryPolicy`, `RetryState`, `WaitStrategy`, `ScheduleWait`,
  `ExponentialFullJitter`, `ProportionalJitter`, `RetryAfterWait`, `WaitMax`,
  `STANDARD_WEBHOOKS_SCHEDULE`.
- `DeliveryWorker` (`fallback.worker`); `Clock`, `utc_now` (`fallback.clock`);
  `default_spool_registry`, `default_sink_registry` (`fallback.defaults`).

Import rule: this package imports nothing of ours except `normalizers.sealed` (a test enforces it).
"""

from fallback.cipher import PayloadCipher
from fallback.clock import Clock, utc_now
from fallback.defaults import default_sink_registry, default_spool_registry
from fallback.errors import (
    SQLITE_ERROR_MAP,
    DeliveryError,
    FallbackError,
    LeaseLost,
    PermanentDeliveryError,
    SpoolCorrupt,
    SpoolError,
    SpoolFull,
    SpoolUnavailable,
    TransientDeliveryError,
    translate_sqlite_error,
)
from fallback.file_sink import FileSink
from fallback.memory_sink import MemorySink
from fallback.memory_spool import MemorySpool
from fallback.retry import (
    STANDARD_WEBHOOKS_SCHEDULE,
    ExponentialFullJitter,
    ProportionalJitter,
    RetryAfterWait,
    RetryPolicy,
    RetryState,
    ScheduleWait,
    WaitMax,
    WaitStrategy,
)
from fallback.sink import DeliveryReceipt, Sink, SinkRegistry
from fallback.spool import (
    DeadLetter,
    Delivered,
    EntryInfo,
    EntryState,
    LeasedEntry,
    Outcome,
    PutRequest,
    PutResult,
    RetryAt,
    SpoolBackend,
    SpoolRegistry,
)
from fallback.sqlite_spool import SqliteSpool
from fallback.worker import DeliveryWorker

__all__ = [
    "SQLITE_ERROR_MAP",
    "STANDARD_WEBHOOKS_SCHEDULE",
    "Clock",
    "DeadLetter",
    "Delivered",
    "DeliveryError",
    "DeliveryReceipt",
    "DeliveryWorker",
    "EntryInfo",
    "EntryState",
    "ExponentialFullJitter",
    "FallbackError",
    "FileSink",
    "LeaseLost",
    "LeasedEntry",
    "MemorySink",
    "MemorySpool",
    "Outcome",
    "PayloadCipher",
    "PermanentDeliveryError",
    "ProportionalJitter",
    "PutRequest",
    "PutResult",
    "RetryAfterWait",
    "RetryAt",
    "RetryPolicy",
    "RetryState",
    "ScheduleWait",
    "Sink",
    "SinkRegistry",
    "SpoolBackend",
    "SpoolCorrupt",
    "SpoolError",
    "SpoolFull",
    "SpoolRegistry",
    "SpoolUnavailable",
    "SqliteSpool",
    "TransientDeliveryError",
    "WaitMax",
    "WaitStrategy",
    "default_sink_registry",
    "default_spool_registry",
    "translate_sqlite_error",
    "utc_now",
]
