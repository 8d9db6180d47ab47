"""Writes (or checks) ``schemas/ticket-v1.json`` from `TicketPayload`.

python -m normalizers.schema_file            # rewrite the committed schema
python -m normalizers.schema_file --check    # exit 1 when model and file drift
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from normalizers.payload import ticket_json_schema

SCHEMA_PATH = Path("schemas/ticket-v1.json")


def render_schema() -> str:
    """The schema as committed: sorted keys, two-space indent, trailing newline."""
    return json.dumps(ticket_json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the schema, or with ``--check`` compare it to the file."""
    args = sys.argv[1:] if argv is None else argv
    text = render_schema()
    if "--check" in args:
        current = SCHEMA_PATH.read_text("utf-8") if SCHEMA_PATH.exists() else ""
        if current != text:
            sys.stderr.write(f"{SCHEMA_PATH} is out of date: run python -m normalizers.schema_file\n")
            return 1
        return 0
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(text, "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
