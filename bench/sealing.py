"""Benchmark: the cost of sealing (redacting summary, description and evidence with the draft's
identifiers) per X12 835 claim ticket, against normalizing the same records, in the same run.

    .venv/bin/python bench/sealing.py                 # 2,000 claims, 30% denied
    .venv/bin/python bench/sealing.py --claims 500 --profile
    .venv/bin/python bench/sealing.py --no-detection-cache   # every text scanned by every detector

Prints milliseconds per draft for read+parse, normalize and seal, and seal / normalize.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]
sys.path.append(str(REPO / "tests"))

from x12gen import make_835  # noqa: E402

from adapters.x12.context import X12Problem  # noqa: E402
from adapters.x12.reader import read_x12  # noqa: E402
from gateway.keys import load_or_create_keys  # noqa: E402
from gateway.runtime import build_sealer  # noqa: E402
from normalizers.normalizer import Normalizer  # noqa: E402
from normalizers.sealing import Sealer  # noqa: E402
from redaction import Pseudonymizer, Redactor, default_detector_registry  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the sealing loop")
    parser.add_argument("--sort", default="tottime", help="cProfile sort key")
    parser.add_argument(
        "--no-detection-cache", action="store_true", help="redactor without its per-text detection cache"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.835"
        path.write_bytes(make_835(args.claims, 0.3))
        keys = load_or_create_keys(Path(tmp) / "keys")
        sealer = build_sealer(keys)
        if args.no_detection_cache:
            pseudonymizer = Pseudonymizer(keys.pseudonym)
            redactor = Redactor(pseudonymizer, default_detector_registry(), detection_cache=0)
            sealer = Sealer(redactor, pseudonymizer)
        normalizer = Normalizer()
        started = time.process_time()
        with path.open("rb") as handle:
            records = [item for item in read_x12(handle) if not isinstance(item, X12Problem)]
        parsed = time.process_time()
        drafts = [normalizer.normalize(record) for record in records]
        normalized = time.process_time()
        profile = cProfile.Profile() if args.profile else None
        if profile is not None:
            profile.enable()
        for draft in drafts:
            sealer.seal(draft)
        if profile is not None:
            profile.disable()
        sealed = time.process_time()
    count = len(drafts)
    print(f"{args.claims} claims -> {count} drafts")
    for name, seconds in (
        ("read+parse", parsed - started),
        ("normalize", normalized - parsed),
        ("seal", sealed - normalized),
    ):
        print(f"  {name:<11} {seconds * 1000 / count:7.3f} ms per draft  {count / seconds:9,.0f} drafts/s")
    print(f"  seal / normalize x{(sealed - normalized) / (normalized - parsed):.1f}")
    seal_ms = (sealed - normalized) * 1000 / count
    cost = {
        "name": "seal (redact) CPU per draft, vs normalize (issue 3)",
        "measured": seal_ms,
        "baseline": (normalized - parsed) * 1000 / count,
        "unit": "ms/draft",
        "ratio": (sealed - normalized) / (normalized - parsed),
        "goal": None,
        "met": None,
    }
    print("BENCH-RESULT " + json.dumps({"bench": "sealing", "claims": args.claims, "targets": [cost]}))
    if profile is not None:
        pstats.Stats(profile).sort_stats(args.sort).print_stats(40)


if __name__ == "__main__":
    main()
