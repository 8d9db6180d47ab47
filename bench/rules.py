"""Rules throughput: records/s through a 200-rule set (target >= 50,000/s), and its cost as a
ratio of building the drafts alone (the baseline, measured in the same run).

"Records/s through the rules" is ``RuleSet.apply(record, draft)`` alone, on drafts built before the
clock starts. Also measured: the same with every record's index keys distinct (so the rule set's
cache of candidate rules never hits), and end to end (build the draft, then the rules). Each is
timed as wall time and as this process's CPU time (the development machine is shared: CPU time is
the steadier number).

    .venv/bin/python bench/rules.py [--records N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

from adapters.json_event import parse_event
from normalizers.json_event import normalize_json_event
from normalizers.rule_loader import parse_rules
from normalizers.taxonomy import load_taxonomy

SYSTEMS = ["CARC", "RARC", "277CA", "999", "HL7", "FHIR", "VENDOR"]


def rule_file(count: int) -> str:
    lines = ["groups:", "  - name: categorize", "    mode: first-match", "    rules:"]
    lines += [
        "      - {id: cat.carc, when: {category: integration-interface, code_system: [CARC, RARC]}, "
        "then: {category: denial-management}}",
    ]
    lines += ["  - name: bulk", "    rules:"]
    for n in range(count - 3):
        system = SYSTEMS[n % len(SYSTEMS)]
        kind = n % 4
        if kind == 0:
            when = f"{{code_system: {system}, code: ['{n}', '{n + 1}']}}"
        elif kind == 1:
            when = f"{{code_system: {system}, code_prefix: '{n % 9}', payer: ['P{n}']}}"
        elif kind == 2:
            when = f"{{payer: ['P{n}', 'P{n + 7}'], exposure: {{gt: {n * 100}}}}}"
        else:
            when = f"{{facility: F{n}, category: denial-management}}"
        lines.append(f"      - {{id: r{n}, when: {when}, then: {{tags: [t{n}]}}}}")
    lines += [
        "  - name: route",
        "    rules:",
        "      - {id: taxonomy.defaults, then: {route_by_taxonomy: true}}",
        "      - {id: escalation.exposure, when: {exposure: {gt: 10000}}, then: {priority_at_least: high}}",
    ]
    return "\n".join(lines) + "\n"


def event(n: int, facility: str) -> bytes:
    return json.dumps(
        {
            "event_id": f"e{n}",
            "source": {"system": "epic"},
            "error": {"code": str(n % 300), "code_system": SYSTEMS[n % len(SYSTEMS)], "message": "x"},
            "payer": {"id": f"P{n % 250}"},
            "facility": facility,
            "amounts": {"billed": str(50 * n), "paid": "0"},
        }
    ).encode()


def timed(work: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one call of ``work``."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    taxonomy = load_taxonomy()
    rules = parse_rules(rule_file(200), source="bench", taxonomy=taxonomy)
    assert len(rules) == 200, len(rules)
    records = [parse_event(event(n, f"F{n % 200}")) for n in range(1000)]
    drafts = [(r, normalize_json_event(r, taxonomy)) for r in records]
    rounds = max(1, args.records // len(records))
    total = rounds * len(records)
    distinct = [parse_event(event(n, f"F{n % 200}-{n}")) for n in range(min(total, 20_000))]
    distinct_drafts = [(r, normalize_json_event(r, taxonomy)) for r in distinct]

    def build() -> None:
        for _ in range(rounds):
            for record in records:
                normalize_json_event(record, taxonomy)

    def apply() -> None:
        for _ in range(rounds):
            for record, draft in drafts:
                rules.apply(record, draft)

    def apply_distinct() -> None:
        for record, draft in distinct_drafts:
            rules.apply(record, draft)

    def end_to_end() -> None:
        for _ in range(rounds):
            for record in records:
                rules.apply(record, normalize_json_event(record, taxonomy))

    base = timed(build)
    only = timed(apply)
    cold = timed(apply_distinct)
    both = timed(end_to_end)
    print(f"records: {total}, rules: {len(rules)}  (records/s: wall | CPU time)")

    def show(label: str, seconds: tuple[float, float], count: int = total) -> None:
        print(f"{label:<42} {count / seconds[0]:>9,.0f} | {count / seconds[1]:>9,.0f}")

    show("build drafts (baseline)", base)
    show("rules only, 200-rule set (target >= 50,000)", only)
    show("rules only, every record's keys distinct", cold, len(distinct_drafts))
    show("end to end (build draft + rules)", both)
    print(f"ratio rules-only/baseline time (CPU): {only[1] / base[1]:.2f}")
    rate_wall, rate_cpu = total / only[0], total / only[1]
    rules_only = {
        "name": "rules only, 200-rule set (issue 6), CPU time",
        "measured": rate_cpu,
        "baseline": total / base[1],
        "unit": "records/s",
        "ratio": base[1] / only[1],
        "goal": ">= 50,000 records/s",
        "met": rate_cpu >= 50_000,
    }
    wall = {
        **rules_only,
        "name": "rules only, 200-rule set (issue 6), wall clock",
        "measured": rate_wall,
        "baseline": total / base[0],
        "ratio": base[0] / only[0],
        "met": rate_wall >= 50_000,
    }
    print("BENCH-RESULT " + json.dumps({"bench": "rules", "records": total, "targets": [rules_only, wall]}))


if __name__ == "__main__":
    main()
