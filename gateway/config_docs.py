"""Renders docs/configuration.md from the `Settings` model, so the reference cannot drift.

python -m gateway.config_docs          # rewrite docs/configuration.md
"""

from __future__ import annotations

import sys
from pathlib import Path

from gateway.settings import ENV_PREFIX, Settings

DOC_PATH = Path("docs/configuration.md")


def render_configuration_doc() -> str:
    """The configuration reference as Markdown."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `gateway/settings.py` by `python -m gateway.config_docs`; a test fails when it",
        "is out of date. Precedence, lowest first: defaults, the YAML file named by `--config` or",
        "`RCMGW_CONFIG` (keys are the lower-case names below without the prefix), `RCMGW_*` environment",
        "variables.",
        "",
        "| environment variable | YAML key | default | description |",
        "|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = "(unset)" if field.default is None else str(field.default)
        lines.append(f"| `{ENV_PREFIX}{name.upper()}` | `{name}` | `{default}` | {field.description or ''} |")
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
