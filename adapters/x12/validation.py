"""Implementation-guide validation with pyx12 (``rcmgw ingest --validate``), off the hot path.

pyx12's ``x12n_document`` walks the whole file against its IG maps; every error it reports becomes
an ``x12-validation-finding`` record: the level (interchange, group, set, segment, element), the
error code (TA1 / AK9 / IK5 / IK3 / IK4 code sets), the segment id, its position in the set and
its line in the file, the element position and reference number, and the IG's name for the
segment or element. pyx12's message text is NOT kept (it quotes segment contents); the bad value it
echoes (``err_val``) is marked as PHI. pyx12 is imported only here, only when asked for.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.base import FactValue, PhiValue, SourceRecord
from adapters.x12.context import SOURCE_SYSTEM
from adapters.x12.errors import X12Rejected
from adapters.x12.tokenizer import iter_segments

RECORD_TYPE = "x12-validation-finding"
MAX_FINDINGS = 200
"""Findings kept per file (the rest are counted on the last one)."""


def _finding(
    where: dict[str, str], level: str, error: dict[str, Any], extra: dict[str, FactValue], received: datetime
) -> SourceRecord:
    code = str(error.get("err_cde") or "")
    facts: dict[str, FactValue] = {
        "validation.level": level,
        "validation.code": code,
        "x12.set_id": where.get("set_id", ""),
        "x12.sender": where.get("sender", ""),
        **extra,
    }
    value = error.get("err_val")
    phi = (PhiValue(kind="ID", field="validation.value", value=str(value)),) if value else ()
    parts = [where.get("isa", ""), where.get("gs", ""), where.get("st", ""), level, code]
    key = "|".join([*parts, str(extra.get("line", "")), str(extra.get("element.position", ""))])
    ident = f"validate|{where.get('sender', '')}|{key}"
    return SourceRecord(
        record_type=RECORD_TYPE,
        source_system=SOURCE_SYSTEM,
        source_format="x12",
        facts=facts,
        phi=phi,
        texts={},
        control_ids={"ISA13": where.get("isa", ""), "GS06": where.get("gs", ""), "ST02": where.get("st", "")},
        received_at=received,
        idempotency_id=ident,
        raw_digest_input=ident.encode("utf-8"),
    )


def _walk(document: dict[str, Any], sender: str, received: datetime) -> Iterator[SourceRecord]:
    for isa in document.get("interchanges", []):
        where = {"isa": str(isa.get("isa_trn_set_id") or ""), "sender": sender}
        for error in isa.get("errors", []):
            yield _finding(where, "interchange", error, {"line": isa.get("cur_line")}, received)
        for gs in isa.get("groups", []):
            where = {**where, "gs": str(gs.get("gs_control_num") or "")}
            for error in gs.get("errors", []):
                yield _finding(where, "group", error, {"line": gs.get("cur_line")}, received)
            for st in gs.get("transactions", []):
                where = {
                    **where,
                    "st": str(st.get("trn_set_control_num") or ""),
                    "set_id": str(st.get("trn_set_id")),
                }
                for error in st.get("errors", []):
                    yield _finding(where, "set", error, {"line": st.get("cur_line")}, received)
                for seg in st.get("segments", []):
                    facts: dict[str, FactValue] = {
                        "segment.id": str(seg.get("seg_id") or ""),
                        "segment.position": seg.get("seg_count"),
                        "segment.name": str(seg.get("name") or ""),
                        "line": seg.get("cur_line"),
                    }
                    for error in seg.get("errors", []):
                        yield _finding(where, "segment", error, facts, received)
                    for ele in seg.get("elements", []):
                        ele_facts: dict[str, FactValue] = {
                            **facts,
                            "element.position": ele.get("ele_pos"),
                            "element.reference": str(ele.get("ele_ref_num") or ""),
                            "element.name": str(ele.get("name") or ""),
                        }
                        for error in ele.get("errors", []):
                            yield _finding(where, "element", error, ele_facts, received)


def _sender(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            _, isa = next(iter_segments(handle))
    except (X12Rejected, StopIteration, OSError):
        return ""
    return isa[6].strip() if len(isa) > 6 else ""


def validate_x12(path: Path, *, received_at: datetime | None = None) -> list[SourceRecord]:
    """The IG findings of the X12 file ``path`` (empty when pyx12 finds nothing), at most
    `MAX_FINDINGS`; the last one carries ``validation.more`` when findings were cut."""
    import pyx12.params  # type: ignore[import-untyped]
    import pyx12.x12n_document  # type: ignore[import-untyped]

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)  # its log lines quote segments
    output = io.StringIO()
    pyx12.x12n_document.x12n_document(pyx12.params.params(), str(path), None, None, fd_json=output)
    text = output.getvalue()
    if not text.strip():
        return []
    findings = list(_walk(json.loads(text), _sender(path), received_at or datetime.now(UTC)))
    if len(findings) > MAX_FINDINGS:
        more = len(findings) - MAX_FINDINGS
        findings = findings[:MAX_FINDINGS]
        last = findings[-1]
        findings[-1] = dataclasses.replace(last, facts={**last.facts, "validation.more": more})
    return findings
