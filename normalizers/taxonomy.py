"""The ticket taxonomy: categories with their default tier, owner queue and owner team, and their
subcategories, loaded from versioned data files (``normalizers/data/taxonomy-v<N>.yaml``).

A new version may rename, split or merge categories. Its ``aliases`` map says where each old key
goes (optionally per old subcategory), so a payload made under an older version still resolves:
`Taxonomy.resolve` takes an old ``category`` (and ``subcategory``) and returns the current one.
Denial-management subcategories are the CAQH CORE business scenarios; each lists the CARCs that
fall in it (`Taxonomy.scenario_for_carc`). See docs/taxonomy.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

DEFAULT_TAXONOMY_VERSION = "1"


@dataclass(frozen=True, slots=True)
class Subcategory:
    """A subcategory; ``carc`` lists the CARCs whose denials belong to it (CAQH CORE scenarios)."""

    key: str
    title: str
    carc: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Category:
    """One category of the taxonomy."""

    key: str
    title: str
    tier: int
    queue: str
    owner: str = "unassigned"
    subcategories: Mapping[str, Subcategory] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Alias:
    """Where an old category key goes: ``default`` (``"key"`` or ``"key/sub"``), or per old
    subcategory in ``by_subcategory``."""

    default: str
    by_subcategory: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Resolved:
    """A category (and subcategory) as the current version names it."""

    category: Category
    subcategory: str | None


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """A version of the taxonomy: category key -> `Category`, plus aliases from older versions."""

    version: str
    categories: dict[str, Category]
    aliases: Mapping[str, Alias] = field(default_factory=dict)

    def get(self, key: str) -> Category:
        """The category ``key``; `KeyError` names it when it is not in this version."""
        try:
            return self.categories[key]
        except KeyError:
            raise KeyError(f"category {key!r} is not in taxonomy v{self.version}") from None

    def resolve(self, key: str, subcategory: str | None = None) -> Resolved:
        """``key``/``subcategory`` from this or an older version, as this version names them.
        `KeyError` when neither a category nor an alias has that key."""
        if key in self.categories:
            return Resolved(self.categories[key], subcategory)
        alias = self.aliases.get(key)
        if alias is None:
            raise KeyError(f"category {key!r} is not in taxonomy v{self.version} nor aliased")
        target = alias.by_subcategory.get(subcategory or "", alias.default)
        new_key, _, new_sub = target.partition("/")
        return Resolved(self.get(new_key), new_sub or subcategory)

    def scenario_for_carc(self, code: str) -> tuple[Category, Subcategory] | None:
        """The category and CAQH CORE scenario subcategory listing CARC ``code``, if any."""
        for category in self.categories.values():
            for sub in category.subcategories.values():
                if code in sub.carc:
                    return category, sub
        return None


def _alias(value: object) -> Alias:
    if isinstance(value, str):
        return Alias(default=value)
    if isinstance(value, dict):
        default = str(value["default"])
        if "subcategory" in value:
            default = f"{default}/{value['subcategory']}"
        subs = {str(k): str(v) for k, v in (value.get("subcategories") or {}).items()}
        return Alias(default=default, by_subcategory=subs)
    raise ValueError("an alias is a category key or a mapping with 'default'")


def parse_taxonomy(data: Mapping[str, object]) -> Taxonomy:
    """A `Taxonomy` from its parsed YAML document; checks that every alias lands on a category."""
    raw_categories = data["categories"]
    if not isinstance(raw_categories, dict):
        raise ValueError("taxonomy 'categories' must be a mapping")
    categories: dict[str, Category] = {}
    for key, item in raw_categories.items():
        subs = {
            str(sub_key): Subcategory(
                key=str(sub_key),
                title=str(sub["title"]),
                carc=tuple(str(code) for code in sub.get("carc", ())),
            )
            for sub_key, sub in (item.get("subcategories") or {}).items()
        }
        categories[str(key)] = Category(
            key=str(key),
            title=str(item["title"]),
            tier=int(item["tier"]),
            queue=str(item["queue"]),
            owner=str(item.get("owner", "unassigned")),
            subcategories=subs,
        )
    raw_aliases = data.get("aliases") or {}
    if not isinstance(raw_aliases, dict):
        raise ValueError("taxonomy 'aliases' must be a mapping")
    aliases = {str(key): _alias(value) for key, value in raw_aliases.items()}
    taxonomy = Taxonomy(version=str(data["version"]), categories=categories, aliases=aliases)
    for old, alias in aliases.items():
        for target in (alias.default, *alias.by_subcategory.values()):
            if target.partition("/")[0] not in categories:
                raise ValueError(f"alias {old!r} points at unknown category {target!r}")
    return taxonomy


@cache
def load_taxonomy(version: str = DEFAULT_TAXONOMY_VERSION) -> Taxonomy:
    """Load a shipped taxonomy version."""
    text = resources.files("normalizers").joinpath(f"data/taxonomy-v{version}.yaml").read_text("utf-8")
    return parse_taxonomy(yaml.safe_load(text))
