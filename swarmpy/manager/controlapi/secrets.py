"""The control API of secrets: their data is sealed (swarmpy.manager.sealing) before it is
written, so the store, and every manager's disk under it, holds only ciphertext."""

from __future__ import annotations

from collections.abc import Iterable

from swarmpy.manager import sealing
from swarmpy.manager.controlapi.fileobjects import FileObjectAPI
from swarmpy.manager.state.store import SECRETS, Store
from swarmpy.model import FileReference, Secret, Service, now

# SwarmKit's validation.MaxSecretSize.
MAX_SECRET_SIZE = 500 * 1024


class SecretAPI(FileObjectAPI[Secret]):
    kind = "secret"
    limit = MAX_SECRET_SIZE
    table = SECRETS

    def __init__(self, store: Store, data_key: sealing.KeySource) -> None:
        super().__init__(store)
        self.data_key = data_key

    def references(self, service: Service) -> Iterable[FileReference]:
        return service.spec.container.secrets

    def data_of(self, obj: Secret) -> bytes:
        return sealing.unseal(self.data_key, obj.id, obj.data)

    def make(
        self, obj_id: str, name: str, data: bytes, labels: tuple[tuple[str, str], ...]
    ) -> Secret:
        stamp = now()
        return Secret(
            id=obj_id,
            name=name,
            data=sealing.seal(self.data_key, obj_id, data),
            labels=labels,
            created_at=stamp,
            updated_at=stamp,
        )
