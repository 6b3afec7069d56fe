"""The image store's events, Docker's: pull, load, tag, untag, delete.

Told from the thread the store's call runs in (pulls and loads run off the event loop): a
subscriber hands them over to its own loop."""

from __future__ import annotations

from collections.abc import Mapping

from swarmpy.engine.sinks import Sinks


class ImageEvents(Sinks):
    def emit(self, action: str, actor: str, name: str, labels: Mapping[str, str]) -> None:
        """As Docker's LogImageEvent: the image's labels, and ``name`` (the reference acted
        on, or the image's id)."""
        self.tell(action, actor, {**labels, "name": name})
