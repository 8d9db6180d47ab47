"""Adapters: one module or subpackage per source. Each turns raw input into `SourceRecord`s with
their PHI fields marked, and hands each record out with the `Ack` that makes the input safe to forget.

Imports nothing else of rcm-gateway.
"""

from adapters.base import Ack, Adapter, AdapterRegistry, PhiValue, SourceRecord
from adapters.errors import AdapterError, InputRejected

__all__ = [
    "Ack",
    "Adapter",
    "AdapterError",
    "AdapterRegistry",
    "InputRejected",
    "PhiValue",
    "SourceRecord",
]
