"""The state machine pysyncobj replicates: the ``StoreState`` of every manager."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pysyncobj import SyncObjConsumer, replicated

from swarmpy.manager.state.store import ApplyResult, Event, Op, StoreState, table_named


class StateMachine(SyncObjConsumer):  # type: ignore[misc]
    """Holds the StoreState; pysyncobj replicates ``apply`` and snapshots ``state``."""

    def __init__(self, state: StoreState) -> None:
        # Set before SyncObjConsumer.__init__, so snapshots leave it out.
        self.listener: Callable[[ApplyResult], None] | None = None
        super().__init__()
        self.state = state

    @replicated  # type: ignore[misc,untyped-decorator,unused-ignore]
    def apply(self, ops: tuple[Op, ...]) -> ApplyResult:
        return self.state.apply(tuple(ops), self.listener)

    def _deserialize(self, data: dict[str, Any]) -> None:
        # A snapshot (full dump at start, or one sent by the leader) replaces the state.
        # Install it in place and tell the listener what changed, so the Store and its
        # watches keep the same StoreState object and lose no change.
        install(self.state, data["state"], self.listener)


def install(
    state: StoreState, loaded: StoreState, listener: Callable[[ApplyResult], None] | None
) -> None:
    """Make ``state`` equal to ``loaded``, reporting the difference as one batch of events."""
    with state.lock:
        events: list[Event] = []
        for table, rows in loaded.tables.items():
            old_rows = state.tables.get(table, {})
            for obj_id, obj in rows.items():
                old = old_rows.get(obj_id)
                if old is None:
                    events.append(Event("create", table_named(table), obj))
                elif loaded.versions[table].get(obj_id) != state.versions[table].get(obj_id):
                    events.append(Event("update", table_named(table), obj, old))
            events.extend(
                Event("delete", table_named(table), old)
                for obj_id, old in old_rows.items()
                if obj_id not in rows
            )
        state.replace_all(loaded.tables, loaded.versions, loaded.index)
        if listener is not None:
            listener(ApplyResult(state.index, True, tuple(events)))
