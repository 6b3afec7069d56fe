"""The control API of configs: secrets' twin, with data kept (and shown) in clear."""

from __future__ import annotations

from collections.abc import Iterable

from swarmpy.manager.controlapi.fileobjects import FileObjectAPI
from swarmpy.manager.state.store import CONFIGS
from swarmpy.model import Config, FileReference, Service, now

# SwarmKit's MaxConfigSize.
MAX_CONFIG_SIZE = 1000 * 1024


class ConfigAPI(FileObjectAPI[Config]):
    kind = "config"
    limit = MAX_CONFIG_SIZE
    table = CONFIGS

    def references(self, service: Service) -> Iterable[FileReference]:
        return service.spec.container.configs

    def data_of(self, obj: Config) -> bytes:
        return obj.data

    def make(
        self, obj_id: str, name: str, data: bytes, labels: tuple[tuple[str, str], ...]
    ) -> Config:
        stamp = now()
        return Config(
            id=obj_id, name=name, data=data, labels=labels, created_at=stamp, updated_at=stamp
        )
