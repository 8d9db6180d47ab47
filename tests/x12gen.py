"""Synthetic 835 files of any size (importable as ``x12gen``; the bench uses it too).

Every claim has one service line and balances; ``denial_ratio`` of them are denied (CLP02 4, CO-97),
the rest paid with a routine contractual adjustment (CO-45, no ticket). BPR02 is the sum of CLP04,
so the set balances. Names and ids are the test canaries when ``canary`` is true.
"""

from __future__ import annotations

from collections.abc import Iterator


def _claim(n: int, denied: bool, canary: bool) -> list[str]:
    last, first = ("QUIXOTE", "ZEBEDIAH") if canary else (f"LAST{n}", "PAT")
    member = "MBR88812345" if canary else f"M{n:09d}"
    billed, paid = ("100.00", "0.00") if denied else ("100.00", "80.00")
    cas = "CAS*CO*97*100.00" if denied else "CAS*CO*45*20.00"
    return [
        f"CLP*PCN{n:09d}*{'4' if denied else '1'}*{billed}*{paid}*0*12*PAYER{n:09d}*11*1",
        f"NM1*QC*1*{last}*{first}****MI*{member}",
        "REF*EA*MRN88812345" if canary else f"REF*EA*MR{n:08d}",
        "DTM*232*19570314" if canary else "DTM*232*20240101",
        f"SVC*HC:99213*{billed}*{paid}**1",
        "DTM*472*20240101",
        cas,
    ]


def segments_835(claims: int, denial_ratio: float = 0.3, *, canary: bool = False) -> Iterator[str]:
    """The segments (without terminators) of one interchange with one 835 of ``claims`` claims."""
    denied = [_is_denied(n, denial_ratio) for n in range(claims)]
    paid_total = sum(80 for d in denied if not d)
    yield (
        "ISA*00*          *00*          *ZZ*CLEARHOUSE     *ZZ*PROVIDER       "
        "*240105*1200*^*00501*000000900*0*P*:"
    )
    yield "GS*HP*CLEARHOUSE*PROVIDER*20240105*1200*900*X*005010X221A1"
    body = [
        "ST*835*0001",
        f"BPR*I*{paid_total:.2f}*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20240105",
        "TRN*1*EFT0900*1512345678",
        "N1*PR*ACME HEALTH PLAN",
        "REF*2U*87726",
        "N1*PE*EXAMPLE CLINIC*XX*1234567893",
        "LX*1",
    ]
    yield from body
    count = len(body)
    for n, is_denied in enumerate(denied):
        for segment in _claim(n, is_denied, canary):
            count += 1
            yield segment
    yield f"SE*{count + 1}*0001"
    yield "GE*1*900"
    yield "IEA*1*000000900"


def make_835(claims: int, denial_ratio: float = 0.3, *, canary: bool = False) -> bytes:
    """A whole 835 file (``~`` terminators, one segment per line)."""
    return "".join(s + "~\n" for s in segments_835(claims, denial_ratio, canary=canary)).encode("ascii")


def _is_denied(n: int, ratio: float) -> bool:
    return int((n + 1) * ratio + 1e-9) > int(n * ratio + 1e-9)


def denied_count(claims: int, denial_ratio: float) -> int:
    """How many claims of `make_835` are denied."""
    return sum(_is_denied(n, denial_ratio) for n in range(claims))
