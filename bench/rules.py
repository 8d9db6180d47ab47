"""Rules throughput: records/s through a 200-rule set (target >= 50,000/s), and its cost as a
ratio of building the drafts alone (the baseline, measured in the same run).

    .venv/bin/python bench/rules.py [--records N]
"""

from __future__ import annotations

import argparse
import json
import time

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    taxonomy = load_taxonomy()
    rules = parse_rules(rule_file(200), source="bench", taxonomy=taxonomy)
    assert len(rules) == 200, len(rules)
    records = []
    for n in range(1000):
        event = {
            "event_id": f"e{n}",
            "source": {"system": "epic"},
            "error": {"code": str(n % 300), "code_system": SYSTEMS[n % len(SYSTEMS)], "message": "x"},
            "payer": {"id": f"P{n % 250}"},
            "facility": f"F{n % 200}",
            "amounts": {"billed": str(50 * n), "paid": "0"},
        }
        records.append(parse_event(json.dumps(event).encode()))
    drafts = [(r, normalize_json_event(r, taxonomy)) for r in records]
    rounds = max(1, args.records // len(records))
    start = time.perf_counter()
    for _ in range(rounds):
        for record in records:
            normalize_json_event(record, taxonomy)
    baseline = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(rounds):
        for record, draft in drafts:
            rules.apply(record, draft)
    elapsed = time.perf_counter() - start
    total = rounds * len(records)
    print(f"records: {total}, rules: {len(rules)}")
    print(f"build drafts (baseline): {total / baseline:,.0f} records/s")
    print(f"200-rule set:            {total / elapsed:,.0f} records/s (target >= 50,000)")
    print(f"ratio rules/baseline time: {elapsed / baseline:.2f}")


if __name__ == "__main__":
    main()
