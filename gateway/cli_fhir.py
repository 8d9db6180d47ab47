"""``rcmgw fhir keys ...``: the SMART client signing keys (list, rotate, retire) and their JWK Set."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from adapters.fhir.config import SigningAlg
from adapters.fhir.signing_keys import KeyRing
from gateway.settings import get_settings

fhir_app = typer.Typer(help="Epic / Cerner FHIR adapters.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys of the SMART Backend Services client.", no_args_is_help=True)
fhir_app.add_typer(keys_app, name="keys")
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")]


def _ring(config: Path | None) -> KeyRing:
    return KeyRing(get_settings(config).keys_dir)


@keys_app.command("list")
def list_keys(config: ConfigOption = None) -> None:
    """Every key: kid, algorithm, state, creation time."""
    for entry in _ring(config).entries():
        sys.stdout.write(f"{entry.kid}\t{entry.alg}\t{entry.state}\t{entry.created_at.isoformat()}\n")


@keys_app.command("rotate")
def rotate(
    alg: Annotated[str, typer.Option("--alg", help="RS384 or ES384.")] = "RS384",
    config: ConfigOption = None,
) -> None:
    """Add a new key and sign with it from now on; the old key stays published until retired."""
    if alg not in ("RS384", "ES384"):
        sys.stderr.write("rcmgw: error: --alg must be RS384 or ES384\n")
        raise typer.Exit(2)
    algorithm: SigningAlg = "RS384" if alg == "RS384" else "ES384"
    entry = _ring(config).rotate(algorithm)
    sys.stdout.write(f"{entry.kid}\n")


@keys_app.command("retire")
def retire(
    kid: Annotated[str, typer.Argument(help="The previous key's kid.")], config: ConfigOption = None
) -> None:
    """Remove a previous key from the JWK Set and delete it (never the active key)."""
    try:
        _ring(config).retire(kid)
    except KeyError:
        sys.stderr.write("rcmgw: error: no such key\n")
        raise typer.Exit(65) from None
    except ValueError:
        sys.stderr.write("rcmgw: error: that key is active; rotate first\n")
        raise typer.Exit(65) from None


@keys_app.command("jwks")
def jwks(config: ConfigOption = None) -> None:
    """Print the public JWK Set (what GET /.well-known/jwks.json serves)."""
    sys.stdout.write(json.dumps(_ring(config).jwks(), indent=2) + "\n")
