"""Settings sections of the X12 intake: ``x12`` (HTTP body limit), ``inbox`` (the watched
directory) and ``sftp`` (a clearinghouse mailbox polled over SFTP).

Set them as ``RCMGW_INBOX__ENABLED=false``, ``RCMGW_SFTP__HOST=...`` or under ``inbox:`` / ``sftp:``
in the YAML file. The SFTP private key is a file path (never inline); the pinned host key is the
``known_hosts`` line(s) of the server, which are public.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class X12Settings(BaseModel):
    """X12 over HTTP (``POST /v1/ingest/x12``)."""

    model_config = ConfigDict(extra="forbid")

    max_body_bytes: Annotated[int, Field(ge=1024)] = Field(
        256 * 1024 * 1024,
        description="Largest X12 file accepted by POST /v1/ingest/x12, in bytes (streamed to disk).",
    )
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = Field(
        500, description="Records of an X12 file sealed and committed to the spool per transaction."
    )


class InboxSettings(BaseModel):
    """The watched X12 inbox (see gateway/inbox.py for the file protocol)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Watch the X12 inbox while `rcmgw serve` runs.")
    directory: Path | None = Field(
        None, description="Inbox directory; default $HOME/inbox/x12 (with processing/, done/, quarantine/)."
    )
    poll_interval: Annotated[float, Field(gt=0, le=3600)] = Field(
        2.0, description="Seconds between inbox scans."
    )
    settle_polls: Annotated[int, Field(ge=1, le=10)] = Field(
        1,
        description=(
            "A file is claimed only after its size and mtime stayed the same for this many scans "
            "(files named .* or *.tmp / *.part are never claimed)."
        ),
    )


class SftpSettings(BaseModel):
    """A clearinghouse SFTP mailbox polled for X12 files (key authentication, pinned host key)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(False, description="Poll the SFTP mailbox while `rcmgw serve` runs.")
    host: str = Field("", description="SFTP server host name or address.")
    port: Annotated[int, Field(ge=1, le=65535)] = Field(22, description="SFTP server port.")
    username: str = Field("", description="SFTP user name.")
    private_key_file: Path | None = Field(None, description="Path of the client's private key (OpenSSH).")
    known_hosts: str = Field(
        "",
        description="known_hosts line(s) pinning the server's host key; any other key is refused.",
    )
    remote_dir: str = Field(".", description="Remote directory to poll.")
    archive_dir: str = Field(
        "", description="Remote directory to move ingested files to; empty: delete them after commit."
    )
    poll_interval: Annotated[float, Field(gt=0, le=86400)] = Field(
        60.0, description="Seconds between mailbox polls."
    )
    connect_timeout: Annotated[float, Field(gt=0, le=300)] = Field(
        20.0, description="Seconds allowed to connect and authenticate."
    )
