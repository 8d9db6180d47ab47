"""`PendingStates`: a `LifecycleStore` view for planning a GROUP of records (`IngestPipeline.
ingest_group`): reads see the saved states overlaid with the states planned earlier in the group,
so two records of one fingerprint in one group decide exactly as they would one after the other
(the first opens, the second is absorbed); `commit` saves the group's states in ONE durable
transaction (``save_many``) after the group's deliveries are spooled.

`prefetch` reads the saved states and recent facilities a group will ask for in ONE call when the
store offers ``lookup_many`` (`SnapshotReader`: SQLite and PostgreSQL): without it every record
cost two store round trips while the group held the lifecycle lock (the largest share of MLLP
ingest time), and every auto-resolve evidence record (an 835 payment, a 277CA acceptance) one more
for its claim lookup (the largest share of 835 ingest time)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from gateway.lifecycle_store import LifecycleStore, SnapshotReader, StateSnapshot
from normalizers.lifecycle import FingerprintState, TicketState


class PendingStates:
    """Saved states + the states staged by the current group (latest wins)."""

    def __init__(self, store: LifecycleStore) -> None:
        self._store = store
        self._pending: dict[str, FingerprintState] = {}
        self._order: list[FingerprintState] = []
        self._snapshot: StateSnapshot | None = None

    async def prefetch(
        self,
        fingerprints: Sequence[str],
        problem_keys: Sequence[str],
        since: datetime,
        claim_tokens: Collection[str] = (),
    ) -> None:
        """Read the saved states of ``fingerprints``, the facilities of ``problem_keys`` seen
        since ``since`` and the open states holding any of ``claim_tokens`` (auto-resolve
        evidence) in one store call (a no-op for stores without ``lookup_many``). Valid while the
        caller holds the lifecycle lock (nothing else writes the store then)."""
        if isinstance(self._store, SnapshotReader) and (fingerprints or problem_keys or claim_tokens):
            self._snapshot = await self._store.lookup_many(fingerprints, problem_keys, since, claim_tokens)

    def stage(self, states: Iterable[FingerprintState]) -> None:
        """Make ``states`` visible to later reads of this group and queue them for `commit`."""
        for state in states:
            self._pending[state.fingerprint] = state
            self._order.append(state)

    async def commit(self) -> None:
        """Save every staged state (in staging order, latest per fingerprint wins) in one commit."""
        if self._order:
            await self._store.save_many(list(self._pending.values()))
            self._order.clear()

    async def get(self, fingerprint: str) -> FingerprintState | None:
        """The staged state of ``fingerprint``, else the saved one."""
        staged = self._pending.get(fingerprint)
        if staged is not None:
            return staged
        if self._snapshot is not None and fingerprint in self._snapshot.states:
            return self._snapshot.states[fingerprint]
        return await self._store.get(fingerprint)

    async def save(self, state: FingerprintState) -> None:
        """Stage ``state`` (saved by `commit`)."""
        self.stage([state])

    async def save_many(self, states: Sequence[FingerprintState]) -> None:
        """Stage ``states`` (saved by `commit`)."""
        self.stage(states)

    async def facilities(self, problem_key: str, since: datetime) -> frozenset[str]:
        """Saved facilities of ``problem_key`` plus those of staged states seen since ``since``."""
        known = None if self._snapshot is None else self._snapshot.facilities(problem_key, since)
        found = set(known if known is not None else await self._store.facilities(problem_key, since))
        for state in self._pending.values():
            if state.problem_key == problem_key and state.last_seen >= since:
                found |= state.facilities
        return frozenset(found)

    async def find_open_by_claims(self, tokens: frozenset[str]) -> list[FingerprintState]:
        """Open states holding any of ``tokens``, staged versions replacing saved ones."""
        found: dict[str, FingerprintState] = {}
        saved = None if self._snapshot is None else self._snapshot.open_by_claims(tokens)
        if saved is None:
            saved = await self._store.find_open_by_claims(tokens)
        for state in saved:
            found[state.fingerprint] = self._pending.get(state.fingerprint, state)
        for fingerprint, state in self._pending.items():
            found.setdefault(fingerprint, state)
        return [
            state
            for _, state in sorted(found.items())
            if state.state is TicketState.OPEN and state.claims & tokens
        ]

    async def pending(self, due_by: datetime, limit: int = 500) -> list[FingerprintState]:
        """The saved store's candidates (a group's staged states are not flushed mid-group)."""
        return await self._store.pending(due_by, limit)

    async def aclose(self) -> None:
        """The underlying store is not this view's to close."""
