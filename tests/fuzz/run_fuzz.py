"""The long fuzzing run behind `make fuzz` (docs/fuzzing.md).

1. atheris: every harness (tests/fuzz/harness_<target>.py) for ``--seconds`` each, corpus seeded
   from the repo's fixtures (var/fuzz/corpus/<target>, kept between runs), libFuzzer ``-timeout``
   as the per-input hang bound. Every crash, timeout or out-of-memory input is copied into
   tests/fuzz/regressions/<target>/, where the regular suite replays it.
2. hypothesis property tests and the schemathesis API run with ``--examples`` examples each
   (pytest, ``RCMGW_FUZZ_EXAMPLES``, randomized).

Exit status 0 when nothing was found. Usage:
    .venv/bin/python tests/fuzz/run_fuzz.py [--seconds 180] [--examples 2000] [--targets x12,hl7]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(REPO), str(HERE.parent)]  # the packages, then tests/ (fuzzkit)

import fuzzkit  # noqa: E402

WORK = REPO / "var" / "fuzz"


def seed_corpus(target: str) -> Path:
    corpus = WORK / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    for data in fuzzkit.seeds(target):
        (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return corpus


def run_atheris(target: str, seconds: int) -> list[Path]:
    """Fuzz one target; the regression files written for what it found."""
    corpus = seed_corpus(target)
    artifacts = WORK / "artifacts" / target
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    command = [
        sys.executable,
        str(HERE / f"harness_{target}.py"),
        str(corpus),
        f"-max_total_time={seconds}",
        f"-timeout={int(fuzzkit.SECONDS_PER_INPUT)}",
        "-rss_limit_mb=1536",
        "-max_len=65536",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
    ]
    started = time.monotonic()
    # libFuzzer stops at its first finding; the loop restarts it for the rest of the time.
    found: list[Path] = []
    while True:
        remaining = seconds - int(time.monotonic() - started)
        if remaining < 5:
            break
        command[3] = f"-max_total_time={remaining}"
        log = WORK / f"{target}.log"
        with log.open("a") as out:
            result = subprocess.run(
                command, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=seconds + 120
            )
        new = [path for path in sorted(artifacts.iterdir()) if path not in found]
        found += new
        if result.returncode == 0 or not new:
            break
    saved: list[Path] = []
    for path in found:
        folder = fuzzkit.REGRESSIONS / target
        folder.mkdir(parents=True, exist_ok=True)
        destination = folder / path.name
        shutil.copyfile(path, destination)
        saved.append(destination)
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=180, help="atheris time per target")
    parser.add_argument("--examples", type=int, default=2000, help="hypothesis/schemathesis examples")
    parser.add_argument("--targets", default=",".join(fuzzkit.TARGETS), help="comma-separated")
    parser.add_argument("--no-pytest", action="store_true", help="atheris only")
    args = parser.parse_args()
    failures = 0
    for target in [name for name in args.targets.split(",") if name]:
        began = time.monotonic()
        saved = run_atheris(target, args.seconds)
        took = time.monotonic() - began
        status = "clean" if not saved else f"{len(saved)} finding(s): " + ", ".join(str(p) for p in saved)
        print(f"atheris {target:<10} {took:6.0f} s  {status}", flush=True)
        failures += len(saved)
    if not args.no_pytest:
        env = {**os.environ, "RCMGW_FUZZ_EXAMPLES": str(args.examples)}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE)]
        print("pytest " + " ".join(command[3:]) + f"  (RCMGW_FUZZ_EXAMPLES={args.examples})", flush=True)
        failures += subprocess.run(command, cwd=REPO, env=env, check=False).returncode != 0
    print("fuzz: " + ("nothing found" if not failures else f"{failures} finding(s) or failing run(s)"))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
