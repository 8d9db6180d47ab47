"""Structured JSON logs that never carry payloads or exception text.

Every record is one JSON object per line with ``ts``, ``level``, ``logger``, ``event`` and the
``extra`` fields the caller passed (ids, codes, counts, class names). Exceptions are reduced to the
chain of their class names: exception *messages* and tracebacks are dropped, because a remote
system's or a library's message can echo PHI back (pydantic, sqlite, httpx all quote inputs).
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "color_message", "taskName"}
)
_SAFE_TYPES = (str, int, float, bool, type(None))
REQUEST_ID: ContextVar[str | None] = ContextVar("rcmgw_request_id", default=None)
"""The id of the HTTP request being served (set by the app's middleware); every record logged
while serving it carries it as ``request_id`` (worker threads too: `asyncio.to_thread` copies it)."""


def exception_chain(error: BaseException | None) -> list[str]:
    """Class names of ``error`` and its causes, outermost first."""
    names: list[str] = []
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        names.append(type(error).__name__)
        error = error.__cause__ or error.__context__
    return names


def _safe(value: object) -> object:
    """Scalars as they are, flat dicts of scalars (ids by name), anything else by type name only."""
    if isinstance(value, _SAFE_TYPES):
        return value
    if isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, _SAFE_TYPES) for k, v in value.items()
    ):
        return dict(value)
    return type(value).__name__


class JsonFormatter(logging.Formatter):
    """Formats records as JSON lines (see the module docstring for what is kept)."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object: time, level, logger, event, safe extras, exception class chain."""
        event = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        if record.name.startswith("uvicorn") and record.args:
            event = "uvicorn"  # uvicorn's own messages interpolate request data; keep only ids below
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": event,
        }
        for key, value in vars(record).items():
            if key in _STANDARD_ATTRS or key.startswith("_"):
                continue
            entry[key] = _safe(value)
        request_id = REQUEST_ID.get()
        if request_id is not None and "request_id" not in entry:
            entry["request_id"] = request_id
        if record.exc_info and record.exc_info[1] is not None:
            entry["error_chain"] = exception_chain(record.exc_info[1])
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, log_file: Path | None, stream: TextIO | None = None) -> None:
    """Send every logger (ours, uvicorn's, libraries') through `JsonFormatter` to stderr and, if
    given, ``log_file``. Replaces handlers installed earlier, so it can be called again."""
    formatter = JsonFormatter()
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
