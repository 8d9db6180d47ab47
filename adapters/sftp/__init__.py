"""An SFTP mailbox client (asyncssh): list, download atomically, acknowledge (remove or archive)."""
