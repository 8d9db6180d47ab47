"""Errors of the SFTP mailbox client.

    SourceUnavailable (adapters.errors)
    +-- MailboxUnavailable (code "source.sftp")          cannot connect, authenticate, list or
        |                                                transfer; back off and poll again
        +-- MailboxHostKeyRejected (code "source.sftp.host_key")  the server's host key is not the
                                                         pinned one; nothing is read or sent

Messages carry the host, the remote name and the asyncssh error class; never file contents.
"""

from __future__ import annotations

from adapters.errors import SourceUnavailable


class MailboxUnavailable(SourceUnavailable):
    """Raised when the mailbox cannot be reached or an SFTP operation fails; retry at the next poll."""

    code = "source.sftp"


class MailboxHostKeyRejected(MailboxUnavailable):
    """Raised when the server presents a host key that is not in the configured known_hosts."""

    code = "source.sftp.host_key"
