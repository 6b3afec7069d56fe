"""Where the engine tells what happened (Docker's events): subscribers, each told in turn,
one that fails logged without stopping the action or the others."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

# (action, the actor's id, its attributes), as Docker's events.Message has them.
Sink = Callable[[str, str, dict[str, str]], None]


class Sinks:
    def __init__(self) -> None:
        self._sinks: list[Sink] = []

    def subscribe(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def tell(self, action: str, actor: str, attributes: dict[str, str]) -> None:
        for sink in list(self._sinks):
            try:
                sink(action, actor, dict(attributes))
            except Exception:  # an event is never worth the action itself
                log.exception("event %s of %s not delivered", action, actor)
