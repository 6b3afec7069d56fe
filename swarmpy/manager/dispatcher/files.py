"""Which secrets and configs a node gets: those its live tasks refer to, and no other.

As SwarmKit's dispatcher does, a node is sent the data of a secret only while it runs (or is
about to run) a task that uses it; the agent drops what the next message leaves out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from swarmpy.manager import sealing
from swarmpy.manager.state.store import CONFIGS, SECRETS, Snapshot
from swarmpy.model import FileData, Task, TaskState

log = logging.getLogger(__name__)


def needs_files(task: Task) -> bool:
    """A task that will still prepare or run its container."""
    return task.desired_state <= TaskState.COMPLETE and not task.status.state.terminal


def wanted_ids(tasks: Iterable[Task]) -> tuple[frozenset[str], frozenset[str]]:
    """The ids of the secrets and of the configs ``tasks`` use."""
    secrets: set[str] = set()
    configs: set[str] = set()
    for task in tasks:
        if needs_files(task):
            secrets.update(r.id for r in task.spec.container.secrets)
            configs.update(r.id for r in task.spec.container.configs)
    return frozenset(secrets), frozenset(configs)


def file_data(
    snapshot: Snapshot,
    secret_ids: Iterable[str],
    config_ids: Iterable[str],
    data_key: sealing.KeySource,
) -> list[FileData]:
    """The bytes to send, secrets unsealed; one that is gone or cannot be opened is left out
    (its task fails at prepare, saying which is missing)."""
    out = []
    for secret_id in sorted(secret_ids):
        secret = snapshot.get(SECRETS, secret_id)
        if secret is None:
            continue
        try:
            out.append(FileData(secret_id, sealing.unseal(data_key, secret_id, secret.data)))
        except sealing.SealingError as e:
            log.warning("%s", e)
    for config_id in sorted(config_ids):
        config = snapshot.get(CONFIGS, config_id)
        if config is not None:
            out.append(FileData(config_id, config.data))
    return out
