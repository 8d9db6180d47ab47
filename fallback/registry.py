"""`Registry`: a named table of factories, the base of `SpoolRegistry` and `SinkRegistry`.

Registration is explicit (``registry.register("sqlite", SqliteSpool)``); nothing is discovered from
module names or entry points. Configuration names a factory and passes its keyword arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A dict of name -> factory. ``kind`` names what it builds, for error messages."""

    kind: str = "component"

    def __init__(self) -> None:
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str, factory: Callable[..., T]) -> None:
        """Register ``factory`` under ``name``; ValueError if the name is taken or empty."""
        if not name:
            raise ValueError(f"{self.kind} name must be non-empty")
        if name in self._factories:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._factories[name] = factory

    def create(self, name: str, **config: object) -> T:
        """Build the component registered as ``name`` with ``config`` as keyword arguments.

        Raises KeyError for an unknown name (the message lists the known ones). The component is
        returned unopened: the caller awaits its ``open()``.
        """
        try:
            factory = self._factories[name]
        except KeyError:
            known = ", ".join(sorted(self._factories)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r} (known: {known})") from None
        return factory(**config)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


__all__ = ["Registry"]
