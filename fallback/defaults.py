"""The registries the gateway starts from: every backend and sink this package ships, registered
explicitly by name. Each call returns a fresh registry, so callers may add their own entries without
touching anyone else's."""

from __future__ import annotations

from fallback.file_sink import FileSink
from fallback.memory_sink import MemorySink
from fallback.memory_spool import MemorySpool
from fallback.sink import SinkRegistry
from fallback.spool import SpoolRegistry
from fallback.sqlite_spool import SqliteSpool


def default_spool_registry() -> SpoolRegistry:
    """``"sqlite"`` -> `SqliteSpool` (durable), ``"memory"`` -> `MemorySpool` (tests only)."""
    registry = SpoolRegistry()
    registry.register("sqlite", SqliteSpool)
    registry.register("memory", MemorySpool)
    return registry


def default_sink_registry() -> SinkRegistry:
    """``"file"`` -> `FileSink`, ``"memory"`` -> `MemorySink` (tests only)."""
    registry = SinkRegistry()
    registry.register("file", FileSink)
    registry.register("memory", MemorySink)
    return registry


__all__ = ["default_sink_registry", "default_spool_registry"]
