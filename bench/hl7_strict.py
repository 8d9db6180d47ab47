"""Cost of HL7 strict validation (`mllp.strict`): messages/s of the intake's parsing with and without
hl7apy strict validation, same process, same run (the ratio is what matters).

    .venv/bin/python bench/hl7_strict.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.hl7v2.intake import parse_input
from adapters.hl7v2.strict import validate_strict

DFT = (
    b"MSH|^~\\&|EPIC|HOSP|BILL|FAC|20261101||DFT^P03^DFT_P03|B1|P|2.5\r"
    b"EVN|P03|20261101\r"
    b"PID|1||MRN1^^^H^MR||DOE^JOHN||19570314|M\r"
    b"PV1|1|O|||||||||||||||||VIS1\r"
    b"FT1|1|T1||20261101|20261101|CG|99213^OV||1|10.00|10.00\r"
)


def rate(step: Callable[[], object], seconds: float) -> float:
    step()
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        step()
        count += 1
    return count / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()

    def plain() -> object:
        return parse_input(DFT).messages[0]

    def strict() -> object:
        message = parse_input(DFT).messages[0]
        return validate_strict(message.raw, message.header)

    base = rate(plain, args.seconds)
    checked = rate(strict, args.seconds)
    print(f"parse (strict off): {base:,.0f} msg/s")
    print(f"parse + strict validation (hl7apy): {checked:,.1f} msg/s ({checked / base:.4f}x)")


if __name__ == "__main__":
    main()
