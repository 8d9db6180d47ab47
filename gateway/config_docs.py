"""Renders docs/configuration.md from the `Settings` model, so the reference cannot drift.

python -m gateway.config_docs          # rewrite docs/configuration.md
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel

from gateway.settings import ENV_PREFIX, Settings

DOC_PATH = Path("docs/configuration.md")


def _rows(model: type[BaseModel], env_prefix: str, yaml_prefix: str) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows += _rows(annotation, f"{env_prefix}{name.upper()}__", f"{yaml_prefix}{name}.")
            continue
        default = "(unset)" if field.default is None else str(field.default)
        rows.append((f"{env_prefix}{name.upper()}", f"{yaml_prefix}{name}", default, field.description or ""))
    return rows


def _row(row: tuple[str, str, str, str]) -> str:
    env, key, default, description = row
    return f"| `{env}` | `{key}` | `{default}` | {description} |"


def render_configuration_doc() -> str:
    """The configuration reference as Markdown."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `gateway/settings.py` by `python -m gateway.config_docs`; a test fails when it",
        "is out of date. Precedence, lowest first: defaults, the YAML file named by `--config` or",
        "`RCMGW_CONFIG` (keys are the YAML keys below; a dotted key is a nested section), `RCMGW_*`",
        "environment variables (a nested field is `RCMGW_<SECTION>__<FIELD>`).",
        "",
        "| environment variable | YAML key | default | description |",
        "|---|---|---|---|",
    ]
    lines += [_row(row) for row in _rows(Settings, ENV_PREFIX, "")]
    lines += [
        "",
        "An example file is [examples/gateway.yaml](examples/gateway.yaml); a test validates every file",
        "in `docs/examples/`, and `rcmgw check-config --config FILE` validates yours.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    """Write the reference."""
    DOC_PATH.write_text(render_configuration_doc(), "utf-8")
    sys.stdout.write(f"wrote {DOC_PATH}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
