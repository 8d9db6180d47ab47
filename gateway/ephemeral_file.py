"""A scratch file whose bytes are encrypted with a key that lives only in memory.

Used to hold a large request body (an X12 file posted over HTTP) without keeping it all in memory
and without writing PHI to disk in the clear: AES-256-CTR with a random key and nonce per file, so
a crash leaves only unreadable bytes (and the file is unlinked as soon as it is opened).
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, cast

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class EphemeralFile:
    """Write bytes, then `reader()` them back once. Close (or use ``with``) to drop the file."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._key = os.urandom(32)
        self._nonce = os.urandom(16)
        self._file: BinaryIO = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed by close()
        self._encryptor = Cipher(algorithms.AES(self._key), modes.CTR(self._nonce)).encryptor()
        self.size = 0

    def write(self, data: bytes) -> None:
        """Append ``data`` (encrypted)."""
        self._file.write(self._encryptor.update(data))
        self.size += len(data)

    def reader(self) -> BinaryIO:
        """A binary stream of the clear bytes written so far, from the start."""
        self._file.flush()
        self._file.seek(0)
        cipher = Cipher(algorithms.AES(self._key), modes.CTR(self._nonce))
        return cast(BinaryIO, _DecryptingReader(self._file, cipher))

    def read_all(self) -> bytes:
        """Every clear byte written (for quarantining a rejected file)."""
        return self.reader().read()

    def close(self) -> None:
        """Drop the file (it has no name on disk already)."""
        self._file.close()

    def __enter__(self) -> EphemeralFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _DecryptingReader(io.RawIOBase):
    def __init__(self, file: BinaryIO, cipher: Cipher[modes.CTR]) -> None:
        self._file = file
        self._decryptor = cipher.decryptor()

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._file.read() if size is None or size < 0 else self._file.read(size)
        return self._decryptor.update(data)

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
