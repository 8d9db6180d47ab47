"""Benchmark: a generated 835 end to end (read, parse, normalize, redact, durable spool) against
pyx12's x12n_document (parse + implementation-guide validation) and a naive split tokenizer, all
on the same file in the same run. Prints rates and ratios.

    .venv/bin/python bench/x12_835.py                  # 10,000 claims, 30% denied
    .venv/bin/python bench/x12_835.py --claims 2000    # smaller
    .venv/bin/python bench/x12_835.py --no-lifecycle   # every denied claim sealed and spooled
    .venv/bin/python bench/x12_835.py --memory 100     # peak RSS reading a 100 MB 835 (read, parse,
                                                       # normalize every record; --seal adds redaction)

With the dedup lifecycle on (the default), the generated denials are a few recurring problems (one
payer, a few CARC codes), so most denied claims fold into an open ticket as children and are not
sealed; the payments are auto-resolve evidence (claim lookups, never sealed). ``--no-lifecycle``
seals and spools every denied claim. The stage lines say which share went where.

Targets (issue 4): end to end >= 20x pyx12's rate and >= 50% of the naive split's rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]
sys.path.append(str(REPO / "tests"))

from x12gen import denied_count, make_835, segments_835  # noqa: E402

from adapters.base import SourceRecord  # noqa: E402
from adapters.x12.context import EVIDENCE, X12Problem  # noqa: E402
from adapters.x12.reader import read_x12  # noqa: E402


def naive_split(path: Path) -> int:
    """The floor: read, decode, split segments and elements; nothing else."""
    text = path.read_bytes().decode("latin-1")
    return sum(1 for segment in text.split("~") if segment.strip().split("*"))


def read_parse(path: Path) -> list[SourceRecord]:
    with path.open("rb") as handle:
        return [item for item in read_x12(handle) if not isinstance(item, X12Problem)]


def pyx12_validate(path: Path) -> bool:
    import pyx12.params
    import pyx12.x12n_document

    logging.getLogger("pyx12").setLevel(logging.CRITICAL)
    return bool(pyx12.x12n_document.x12n_document(pyx12.params.params(), str(path), None, None))


def end_to_end(path: Path, home: Path, lifecycle: bool) -> tuple[int, int, float, dict[str, float]]:
    """Ingest ``path`` through a real, started runtime (SQLite spool, FULL sync); returns the
    records that reached the pipeline as tickets or repeats, the tickets actually sealed and
    spooled, the seconds of the ingest itself, and the time per stage (read+parse and normalize
    measured again, stage by stage, on the same records; sealing on as many drafts as the run
    sealed)."""
    from gateway.runtime import Runtime
    from gateway.settings import get_settings
    from gateway.x12_ingest import ingest_x12_file

    settings = get_settings(
        home=home, inbox={"enabled": False}, delivery_enabled=False, lifecycle={"enabled": lifecycle}
    )

    async def main() -> tuple[int, int, float]:
        runtime = Runtime.build(settings)
        await runtime.start(delivery=False)
        try:
            started = time.perf_counter()
            outcome = await ingest_x12_file(path, runtime.pipeline, runtime.quarantine)
            seconds = time.perf_counter() - started
        finally:
            await runtime.stop()
        assert not outcome.problems, outcome.problems[:3]
        spooled = sum(1 for result in (*outcome.results, *outcome.resolved) if result.created)
        return len(outcome.results), spooled, seconds

    tickets, spooled, seconds = asyncio.run(main())
    return tickets, spooled, seconds, stages(path, settings, spooled)


def stages(path: Path, settings: object, sealed: int) -> dict[str, float]:
    """Read+parse and normalize (rules included) of every record, and sealing of the first
    ``sealed`` ticket drafts: what the run itself sealed (with the dedup lifecycle on, repeats of
    one problem fold into its open ticket and are not sealed; evidence is never sealed)."""
    from gateway.keys import load_or_create_keys
    from gateway.runtime import build_sealer
    from normalizers.normalizer import Normalizer

    keys = load_or_create_keys(settings.keys_dir)  # type: ignore[attr-defined]
    normalizer, sealer = Normalizer(), build_sealer(keys)
    started = time.perf_counter()
    records = read_parse(path)
    parsed = time.perf_counter()
    drafts = [normalizer.normalize(record) for record in records]
    normalized = time.perf_counter()
    tickets = [draft for record, draft in zip(records, drafts, strict=True) if not record.facts.get(EVIDENCE)]
    for draft in tickets[:sealed]:
        sealer.seal(draft)
    return {
        "read+parse": parsed - started,
        "normalize": normalized - parsed,
        "seal (redact)": time.perf_counter() - normalized,
    }


def timed(fn, *args):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def throughput(claims: int, lifecycle: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.835"
        path.write_bytes(make_835(claims, 0.3))
        size = path.stat().st_size
        print(f"file: {claims} claims, {denied_count(claims, 0.3)} denied, {size / 1e6:.2f} MB")
        print(
            "dedup lifecycle "
            + (
                "on (default): repeats of one problem fold into its open ticket"
                if lifecycle
                else "off (--no-lifecycle): every denied claim is sealed and spooled as its own ticket"
            )
        )
        _, naive = timed(naive_split, path)
        records, ours_read = timed(read_parse, path)
        tickets, spooled, ours, parts = end_to_end(path, Path(tmp) / "home", lifecycle)
        rest = ours - sum(parts.values())
        valid, pyx12 = timed(pyx12_validate, path)
        print(f"naive split tokenizer     {naive * 1000:9.0f} ms  {claims / naive:12.0f} claims/s")
        print(f"ours read+parse           {ours_read * 1000:9.0f} ms  {claims / ours_read:12.0f} claims/s")
        print(f"ours end to end           {ours * 1000:9.0f} ms  {claims / ours:12.0f} claims/s", end="")
        print(f"  ({tickets} ticket records, {spooled} tickets sealed and spooled)")
        for name, seconds in parts.items():
            print(f"  of which {name:<15} {seconds * 1000:9.0f} ms  ({seconds / ours:.0%})")
        print(
            f"  of which lifecycle, spool, audit, threads {max(rest, 0) * 1000:5.0f} ms"
            f"  ({max(rest, 0) / ours:.0%}; the rest)"
        )
        print(f"pyx12 x12n_document       {pyx12 * 1000:9.0f} ms  {claims / pyx12:12.0f} claims/s", end="")
        print(f"  (valid={valid})")
        print()
        print(f"end to end vs pyx12:        {pyx12 / ours:6.2f}x   (target >= 20x)")
        print(f"end to end vs naive split:  {naive / ours:6.1%}   (target >= 50%)")
        print(f"read+parse vs pyx12:        {pyx12 / ours_read:6.1f}x")
        print(f"read+parse vs naive split:  {naive / ours_read:6.1%}")
        mode = "" if lifecycle else ", lifecycle off"
        e2e = {
            "name": f"835 end to end vs pyx12 parse+validate (issue 4{mode})",
            "measured": claims / ours,
            "baseline": claims / pyx12,
            "baseline_name": "pyx12 x12n_document",
            "unit": "claims/s",
            "ratio": pyx12 / ours,
            "goal": ">= 20x",
            "met": pyx12 / ours >= 20,
        }
        split = {
            "name": f"835 end to end vs naive split tokenizer (issue 4{mode})",
            "measured": claims / ours,
            "baseline": claims / naive,
            "baseline_name": "naive split",
            "unit": "claims/s",
            "ratio": naive / ours,
            "goal": ">= 0.5x",
            "met": naive / ours >= 0.5,
        }
        print("BENCH-RESULT " + json.dumps({"bench": "x12_835", "claims": claims, "targets": [e2e, split]}))
        assert 0 < tickets <= len(records)  # payment and acceptance records are evidence, not tickets


def write_big(path: Path, megabytes: int) -> int:
    claims = megabytes * 1_000_000 // 200
    with path.open("w", encoding="ascii") as handle:
        for segment in segments_835(claims, 0.3):
            handle.write(segment + "~\n")
    return claims


def memory(megabytes: int, seal: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.835"
        claims = write_big(path, megabytes)
        size = path.stat().st_size
        mode = "--seal-child" if seal else "--read-child"
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, mode, str(path)], check=True, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        records, rss_kb = (int(x) for x in done.stdout.split())
        print(f"file: {size / 1e6:.0f} MB, {claims} claims; {records} records in {seconds:.1f} s")
        print(f"peak RSS of the reading process: {rss_kb / 1024:.0f} MB (target < 200 MB)")
        rss = {
            "name": f"835 streaming read of {size / 1e6:.0f} MB, peak RSS (issue 4)",
            "measured": rss_kb / 1024,
            "baseline": size / 1e6,
            "baseline_name": "file size, MB",
            "unit": "MB",
            "ratio": rss_kb / 1024 / (size / 1e6),
            "goal": "< 200 MB" if megabytes >= 100 else None,
            "met": rss_kb / 1024 < 200 if megabytes >= 100 else None,
            "seconds": seconds,
            "bytes": size,
            "records": records,
        }
        print(
            "BENCH-RESULT "
            + json.dumps({"bench": "x12_835_memory", "megabytes": megabytes, "targets": [rss]})
        )


def child(path: Path, seal: bool) -> None:
    from normalizers.normalizer import Normalizer

    normalizer = Normalizer()
    sealer = None
    if seal:
        from gateway.keys import load_or_create_keys
        from gateway.runtime import build_sealer

        sealer = build_sealer(load_or_create_keys(Path(tempfile.mkdtemp())))
    count = 0
    with path.open("rb") as handle:
        for item in read_x12(handle):
            if isinstance(item, X12Problem):
                continue
            draft = normalizer.normalize(item)
            if sealer is not None:
                sealer.seal(draft)
            count += 1
    print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--memory", type=int, metavar="MB", help="peak-RSS mode on a file of MB megabytes")
    parser.add_argument("--seal", action="store_true", help="with --memory: also redact every record")
    parser.add_argument(
        "--no-lifecycle", action="store_true", help="dedup lifecycle off: every denied claim its own ticket"
    )
    parser.add_argument("--read-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seal-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_child or args.seal_child:
        child(args.read_child or args.seal_child, seal=bool(args.seal_child))
    elif args.memory:
        memory(args.memory, args.seal)
    else:
        throughput(args.claims, lifecycle=not args.no_lifecycle)


if __name__ == "__main__":
    main()
