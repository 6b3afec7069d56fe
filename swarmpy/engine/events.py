"""The engine's container events, Docker's (create, start, kill, die, stop, pause, unpause,
destroy; attach, detach and commit, which the Engine API reports), handed to whoever
subscribed: the Engine API's /events records them.

An event's attributes are Docker's: the container's labels, its image (the reference it was
asked for) and name, and what the action adds (die's ``exitCode``, kill's ``signal``,
commit's ``comment``, ``imageID`` and ``imageRef``); all
read from the annotations the bundle keeps, so a container of an earlier daemon has them too.
"""

from __future__ import annotations

import signal as signals
from collections.abc import Mapping

from swarmpy.engine import bundle
from swarmpy.engine.sinks import Sinks


def labels_from_annotations(
    annotations: Mapping[str, str], annotation_labels: Mapping[str, str]
) -> dict[str, str]:
    """A container's labels: its own, then those an orchestrator's annotations show as
    labels (``annotation_labels``: label -> annotation, Docker's com.docker.swarm.*)."""
    labels = {
        k.removeprefix(bundle.ANN_LABEL_PREFIX): v
        for k, v in annotations.items()
        if k.startswith(bundle.ANN_LABEL_PREFIX)
    }
    # Only the containers the orchestrator made carry its annotations (a container made by
    # `run` has no com.docker.swarm.* labels); the name annotation every container has.
    if any(key in annotations and key != bundle.ANN_NAME for key in annotation_labels.values()):
        labels.update({label: annotations.get(key, "") for label, key in annotation_labels.items()})
    return labels


def signal_number(name: str) -> str:
    """kill's ``signal`` attribute: the number, as Docker's ("15"); as given if unknown."""
    text = name.upper().removeprefix("SIG")
    if text.isdigit():
        return text
    try:
        return str(int(signals.Signals["SIG" + text]))
    except KeyError:
        return name


class ContainerEvents(Sinks):
    def __init__(self, annotation_labels: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._annotation_labels = dict(annotation_labels or {})

    def attributes(self, annotations: Mapping[str, str], cid: str) -> dict[str, str]:
        out = labels_from_annotations(annotations, self._annotation_labels)
        out["image"] = annotations.get(bundle.ANN_IMAGE, "")
        out["name"] = annotations.get(bundle.ANN_NAME, cid)
        return out

    def emit(self, action: str, cid: str, annotations: Mapping[str, str], **extra: str) -> None:
        self.tell(action, cid, self.attributes(annotations, cid) | extra)
