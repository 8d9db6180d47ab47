"""Building the re-identification vault from settings, with its key under ``$RCMGW_HOME/keys``.

The key file ``vault.json`` has the same shape as the other key files (``{"keys": [{"key_id",
"secret"}]}``): the first key writes, all of them read (rotation: put a new key first and restart;
rows written under an old key stay readable while that key is listed). It is only created when the
vault is enabled.
"""

from __future__ import annotations

from datetime import timedelta

from gateway.keys import _load_secret_file
from gateway.settings import Settings
from redaction.vault import ReidentificationVault


def build_vault(settings: Settings) -> ReidentificationVault | None:
    """The vault when ``settings.redaction.vault_enabled``, else None (the default)."""
    section = settings.redaction
    if not section.vault_enabled:
        return None
    keys = _load_secret_file(settings.keys_dir / "vault.json", "vault")
    path = section.vault_path or settings.home / "vault" / "vault.db"
    return ReidentificationVault(
        path, dict(keys), keys[0][0], retention=timedelta(days=section.vault_retention_days)
    )
