"""X12 code tables, shipped as data files (``normalizers/data/x12/<table>.csv``: ``code,description``).

Descriptions are short, written for the person working the ticket. Tables: CARC (``carc``), CAS
group codes (``cas-group``), RARC (``rarc``), NCPDP reject codes seen in LQ*RX (``lq-rx``), 835
claim status CLP02 (``claim-status-835``), claim status category and status codes and entity
identifiers (``claim-status-category``, ``claim-status``, ``entity``), 999/997 segment, element,
set and group error codes and results (``ack-segment-error``, ``ack-element-error``,
``ack-set-error``, ``ack-set-result``, ``ack-group-error``), TA1 note codes (``ta1-note``) and
PLB adjustment reasons (``plb-reason``), and SVC01 product/service id qualifiers
(``product-qualifier``).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

TABLES = (
    "carc",
    "cas-group",
    "rarc",
    "lq-rx",
    "claim-status-835",
    "claim-status-category",
    "claim-status",
    "entity",
    "ack-segment-error",
    "ack-element-error",
    "ack-set-error",
    "ack-set-result",
    "ack-group-error",
    "ta1-note",
    "plb-reason",
    "product-qualifier",
)


@cache
def table(name: str) -> dict[str, str]:
    """The code -> description map of table ``name`` (one of `TABLES`)."""
    if name not in TABLES:
        raise KeyError(f"unknown X12 code table {name!r}")
    text = resources.files("normalizers").joinpath(f"data/x12/{name}.csv").read_text("utf-8")
    rows: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        code, _, description = line.partition(",")
        if code.strip():
            rows[code.strip()] = description.strip()
    return rows


def describe(name: str, code: str) -> str | None:
    """The description of ``code`` in table ``name``, or None when the table does not hold it."""
    return table(name).get(code.strip())


def label(name: str, code: str) -> str:
    """``description`` or ``"unlisted code"``, for summaries."""
    return describe(name, code) or "unlisted code"
