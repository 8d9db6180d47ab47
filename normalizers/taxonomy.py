"""The ticket taxonomy: categories with their default tier and owner queue, loaded from versioned
data files (``normalizers/data/taxonomy-v<N>.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

DEFAULT_TAXONOMY_VERSION = "1"


@dataclass(frozen=True, slots=True)
class Category:
    """One category of the taxonomy."""

    key: str
    title: str
    tier: int
    queue: str


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """A version of the taxonomy: category key -> `Category`."""

    version: str
    categories: dict[str, Category]

    def get(self, key: str) -> Category:
        """The category ``key``; `KeyError` names it when it is not in this version."""
        try:
            return self.categories[key]
        except KeyError:
            raise KeyError(f"category {key!r} is not in taxonomy v{self.version}") from None


@cache
def load_taxonomy(version: str = DEFAULT_TAXONOMY_VERSION) -> Taxonomy:
    """Load a shipped taxonomy version."""
    text = resources.files("normalizers").joinpath(f"data/taxonomy-v{version}.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    categories = {
        key: Category(key=key, title=str(item["title"]), tier=int(item["tier"]), queue=str(item["queue"]))
        for key, item in data["categories"].items()
    }
    return Taxonomy(version=str(data["version"]), categories=categories)
