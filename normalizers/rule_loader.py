"""Loads a YAML rules file into a `RuleSet`, validating every rule at start-up.

Any problem raises `RuleConfigError` with the file and the LINE of the offending rule (or key), so
``rcmgw check-config`` can point at it. The YAML is read with a loader that keeps each mapping's
line numbers. File layout (see docs/rules.md)::

    version: 1
    groups:
      - name: categorize
        mode: first-match          # or accumulate (the default)
        rules:
          - id: category.carc
            when: {category: integration-interface, code_system: [CARC, RARC]}
            then: {category: denial-management}
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from normalizers.errors import RuleConfigError
from normalizers.rule_set import Mode, RuleGroup, RuleSet, Stage, YamlRule, build_rule
from normalizers.taxonomy import Taxonomy, load_taxonomy

DEFAULT_RULES_NAME = "rules-default.yaml"
_GROUP_KEYS = frozenset({"name", "mode", "rules"})
_RULE_KEYS = frozenset({"id", "when", "then", "description"})


class LineMap(dict[str, Any]):
    """A YAML mapping that remembers its own line and each key's line (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = LineMap({str(k): v for k, v in super().construct_mapping(node, deep=True).items()})
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {str(key.value): key.start_mark.line + 1 for key, _ in node.value}
        return mapping


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    lambda loader, node: loader.construct_mapping(node),  # type: ignore[arg-type]
)


def _line(item: object, key: str | None = None) -> int:
    if isinstance(item, LineMap):
        return item.key_lines.get(key, item.line) if key else item.line
    return 0


def parse_rules(text: str, *, source: str, taxonomy: Taxonomy) -> RuleSet:
    """A `RuleSet` from YAML ``text``; `RuleConfigError` names ``source`` and the line."""
    try:
        document = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise RuleConfigError(
            source, mark.line + 1 if mark else 0, f"invalid YAML: {error.problem}"
        ) from None
    except yaml.YAMLError:
        raise RuleConfigError(source, 0, "invalid YAML") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("groups"), list):
        raise RuleConfigError(source, _line(document), "a rules file is a mapping with a 'groups' list")
    groups: list[RuleGroup] = []
    seen: dict[str, int] = {}
    for group in document["groups"]:
        groups.append(_group(group, source, taxonomy, seen))
    return RuleSet(groups, source=source)


def _group(group: object, source: str, taxonomy: Taxonomy, seen: dict[str, int]) -> RuleGroup:
    if not isinstance(group, Mapping):
        raise RuleConfigError(source, 0, "each group is a mapping with name, mode and rules")
    extra = set(group) - _GROUP_KEYS
    if extra:
        key = sorted(extra)[0]
        raise RuleConfigError(source, _line(group, key), f"unknown group key {key!r}")
    try:
        mode = Mode(str(group.get("mode", Mode.ACCUMULATE.value)))
    except ValueError:
        raise RuleConfigError(
            source, _line(group, "mode"), "mode must be first-match or accumulate"
        ) from None
    rules_list = group.get("rules")
    if not isinstance(rules_list, list):
        raise RuleConfigError(source, _line(group, "rules"), "group 'rules' must be a list")
    rules = [_rule(item, source, taxonomy, seen) for item in rules_list]
    if mode is Mode.FIRST_MATCH and len({rule.stage for rule in rules}) > 1:
        first_sealed = next(rule for rule in rules if rule.stage is Stage.SEALED)
        raise RuleConfigError(
            source,
            first_sealed.line,
            f"rule {first_sealed.id!r} needs redacted text or recurrence (sealed stage); "
            "a first-match group cannot mix stages",
        )
    return RuleGroup(str(group.get("name", "group")), mode, rules)


def _rule(item: object, source: str, taxonomy: Taxonomy, seen: dict[str, int]) -> YamlRule:
    if not isinstance(item, Mapping):
        raise RuleConfigError(source, 0, "each rule is a mapping with id, when and then")
    line = _line(item)
    extra = set(item) - _RULE_KEYS
    if extra:
        key = sorted(extra)[0]
        raise RuleConfigError(source, _line(item, key), f"unknown rule key {key!r} (use id, when, then)")
    rule_id = item.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        raise RuleConfigError(source, line, "a rule needs a non-empty string 'id'")
    if rule_id in seen:
        raise RuleConfigError(source, line, f"rule id {rule_id!r} repeats (first at line {seen[rule_id]})")
    seen[rule_id] = line
    when, then = item.get("when") or {}, item.get("then")
    if not isinstance(when, Mapping):
        raise RuleConfigError(source, _line(item, "when"), f"rule {rule_id!r}: 'when' must be a mapping")
    if not isinstance(then, Mapping) or not then:
        raise RuleConfigError(
            source, _line(item, "then"), f"rule {rule_id!r}: 'then' must be a non-empty mapping"
        )
    try:
        return build_rule(rule_id, when, then, taxonomy, line)
    except (ValueError, KeyError, TypeError) as error:
        message = error.args[0] if error.args else type(error).__name__
        where = _blame(when, then, str(message), line)
        raise RuleConfigError(source, where, f"rule {rule_id!r}: {message}") from None


def _blame(when: Mapping[str, object], then: Mapping[str, object], message: str, default: int) -> int:
    """The line of the key the message names, when it names one."""
    for mapping in (when, then):
        for key in mapping:
            if f"'{key}'" in message or message.startswith(key):
                return _line(mapping, key)
    return default


def load_rules(path: Path | None = None, *, taxonomy: Taxonomy | None = None) -> RuleSet:
    """The rules file at ``path``, or the shipped default set."""
    taxonomy = taxonomy or load_taxonomy()
    if path is None:
        text = resources.files("normalizers").joinpath(f"data/{DEFAULT_RULES_NAME}").read_text("utf-8")
        return parse_rules(text, source=f"normalizers/data/{DEFAULT_RULES_NAME}", taxonomy=taxonomy)
    try:
        text = Path(path).read_text("utf-8")
    except OSError as error:
        raise RuleConfigError(str(path), 0, f"cannot read rules file ({error.strerror})") from None
    return parse_rules(text, source=str(path), taxonomy=taxonomy)
