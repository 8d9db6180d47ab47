"""`FileSink`: delivers tickets by appending them to a JSON Lines file, the sink of last resort.

Each ticket is one line: exactly ``ticket.body`` (the canonical payload JSON, which never contains a
raw newline) followed by ``\\n``. Every append is flushed and fsynced before ``deliver`` returns.

Idempotency survives restarts because the file is its own index: ``open`` reads the file and
records the ``id`` of every complete line, so a redelivery after a crash writes no second line. A
torn last line (a crash mid-write leaves bytes without the final newline) is cut off on open; the
entry that was being written is still unsettled in the spool and is delivered again. The index
holds one id per line in memory, which suits a fallback file, not an archive of millions of lines.

Because the index is rebuilt from the payload, the idempotency key must be the ticket id (which is
what the delivery worker passes); any other key is a wiring error reported as
`PermanentDeliveryError`.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from fallback.errors import PermanentDeliveryError, TransientDeliveryError
from fallback.fsync import fsync_directory
from fallback.sink import DeliveryReceipt
from normalizers.sealed import SealedTicket

logger = logging.getLogger(__name__)


class FileSink:
    """Appends sealed tickets to the JSONL file ``path`` (see the module docstring)."""

    def __init__(self, path: Path, name: str = "file") -> None:
        self.name = name
        self._path = Path(path)
        self._file: BinaryIO | None = None
        self._lines: dict[str, int] = {}
        self._size = 0
        self._line_count = 0
        self._lock = asyncio.Lock()

    @property
    def path(self) -> Path:
        """The JSONL file."""
        return self._path

    async def __aenter__(self) -> FileSink:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Create parent directories, repair a torn last line, index the ids already written.
        Idempotent. Raises `TransientDeliveryError` when the file cannot be opened or read."""
        if self._file is None:
            await asyncio.to_thread(self._open_sync)

    async def aclose(self) -> None:
        """Close the file. Idempotent."""
        file, self._file = self._file, None
        if file is not None:
            await asyncio.to_thread(file.close)

    async def deliver(self, ticket: SealedTicket, idempotency_key: str) -> DeliveryReceipt:
        """See `Sink.deliver`. ``remote_id`` is the 1-based line number of the ticket's line."""
        if idempotency_key != ticket.id:
            raise PermanentDeliveryError(
                f"{self.name}: idempotency key must be the ticket id (ticket {ticket.id})"
            )
        async with self._lock:
            file = self._file
            if file is None:
                raise RuntimeError(f"sink {self.name!r} is not open")
            line_no = self._lines.get(ticket.id)
            if line_no is not None:
                return DeliveryReceipt(remote_id=str(line_no), duplicate=True)
            await asyncio.to_thread(self._append, file, ticket.body + b"\n")
            self._line_count += 1
            self._lines[ticket.id] = self._line_count
            return DeliveryReceipt(remote_id=str(self._line_count), duplicate=False)

    def _open_sync(self) -> None:
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            file = self._path.open("a+b")
        except OSError as exc:
            raise TransientDeliveryError(f"{self.name}: cannot open file ({_errno_name(exc)})") from exc
        try:
            file.seek(0)
            data = file.read()
            complete = data.rfind(b"\n") + 1
            if complete < len(data):
                file.truncate(complete)
                file.flush()
                os.fsync(file.fileno())
                logger.warning(
                    "file sink cut a torn last line",
                    extra={"sink": self.name, "dropped_bytes": len(data) - complete},
                )
            self._index(data[:complete])
            self._size = complete
            fsync_directory(self._path.parent)
        except OSError as exc:
            file.close()
            raise TransientDeliveryError(f"{self.name}: cannot read file ({_errno_name(exc)})") from exc
        self._file = file

    def _index(self, data: bytes) -> None:
        self._lines.clear()
        lines = data.split(b"\n")[:-1] if data else []
        for line_no, line in enumerate(lines, start=1):
            try:
                ticket_id = json.loads(line)["id"]
            except (ValueError, KeyError, TypeError):
                logger.warning(
                    "file sink skipped an unreadable line", extra={"sink": self.name, "line": line_no}
                )
                continue
            if isinstance(ticket_id, str):
                self._lines.setdefault(ticket_id, line_no)
        self._line_count = len(lines)

    def _append(self, file: BinaryIO, line: bytes) -> None:
        try:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())
        except OSError as exc:
            # Cut a partial write so the next line does not glue onto it.
            try:
                file.truncate(self._size)
            except OSError:
                logger.error("file sink could not cut a failed write", extra={"sink": self.name})
            raise TransientDeliveryError(f"{self.name}: write failed ({_errno_name(exc)})") from exc
        self._size += len(line)


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)


__all__ = ["FileSink"]
