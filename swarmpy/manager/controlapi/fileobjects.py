"""What the control APIs of secrets and configs share (SwarmKit's secret.go and config.go are
twins): SwarmKit's name and size rules, create, look-up, label-only update, and removal
refused while a service refers to the object."""

from __future__ import annotations

import abc
import hmac
import re
from collections.abc import Iterable
from typing import Any, Generic, Protocol, TypeVar

from swarmpy.errors import AlreadyExists, InvalidArgument, NotFound
from swarmpy.manager.controlapi.common import resolve, serialise
from swarmpy.manager.controlapi.validate import check_labels
from swarmpy.manager.state.store import CONFIGS, SECRETS, SERVICES, Store, StoreObject, Table, Tx
from swarmpy.model import ContainerSpec, FileReference, Service, ServiceSpec, new_id, now

# SwarmKit's isValidConfigOrSecretName and its 64-character limit.
_NAME_RE = re.compile(r"[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?")
MAX_NAME = 64


def check_object_name(name: str) -> None:
    """A secret's or config's name, in SwarmKit's words."""
    if not name:
        raise InvalidArgument("name must be provided")
    if len(name) > MAX_NAME or not _NAME_RE.fullmatch(name):
        raise InvalidArgument(
            "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end "
            "character must be [a-zA-Z0-9]"
        )


def check_payload(kind: str, data: bytes, limit: int) -> None:
    """SwarmKit's ValidateSecretPayload (and its config twin)."""
    if len(data) >= limit or len(data) < 1:
        raise InvalidArgument(f"{kind} data must be larger than 0 and less than {limit} bytes")


def in_use_message(kind: str, name: str, services: list[str]) -> str:
    noun = "service" if len(services) == 1 else "services"
    return f"{kind} '{name}' is in use by the following {noun}: {', '.join(services)}"


class FileObject(StoreObject, Protocol):
    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> tuple[tuple[str, str], ...]: ...


Obj = TypeVar("Obj", bound=FileObject)


class FileObjectAPI(abc.ABC, Generic[Obj]):
    """The control API of one of the two kinds; a subclass names the kind and makes rows."""

    kind: str  # "secret", "config"
    limit: int  # bytes: data must be shorter
    table: Table[Obj]

    def __init__(self, store: Store) -> None:
        self.store = store

    @abc.abstractmethod
    def references(self, service: Service) -> Iterable[FileReference]:
        """The files of this kind that ``service``'s tasks use."""

    @abc.abstractmethod
    def data_of(self, obj: Obj) -> bytes:
        """The object's data in clear (a secret's unsealed)."""

    @abc.abstractmethod
    def make(self, obj_id: str, name: str, data: bytes, labels: tuple[tuple[str, str], ...]) -> Obj:
        """A new object of this kind holding ``data`` (sealed first, for a secret)."""

    async def create(self, name: str, data: bytes, labels: dict[str, str]) -> Obj:
        check_object_name(name)
        check_labels(labels.items())
        check_payload(self.kind, data, self.limit)
        obj = self.make(new_id(), name, data, tuple(sorted(labels.items())))

        def change(tx: Tx) -> Obj:
            if any(o.name == name for o in tx.snapshot.all(self.table)):
                raise AlreadyExists(f"{self.kind} {name} already exists")
            tx.create(self.table, obj)
            serialise(tx)
            return obj

        return await self.store.update(change)

    def get(self, ref: str) -> Obj:
        try:
            return resolve(self.store.view(), self.table, ref, lambda o: o.name)
        except NotFound:
            raise NotFound(f"{self.kind} {ref} not found") from None

    def list(self) -> list[Obj]:
        return sorted(self.store.view().all(self.table), key=lambda o: o.name)

    def version(self, obj_id: str) -> int:
        return self.store.view().version(self.table, obj_id) or 0

    async def update_labels(
        self, ref: str, version: int, name: str, data: bytes, labels: dict[str, str]
    ) -> None:
        """Docker's update: only the labels may change (the object is immutable). The same
        data may come along, as SwarmKit allows: docker stack deploy sends the whole spec
        again when it redeploys."""
        obj = self.get(ref)
        if name != obj.name or (data and not hmac.compare_digest(data, self.data_of(obj))):
            raise InvalidArgument("only updates to Labels are allowed")
        check_labels(labels.items())

        def change(tx: Tx) -> None:
            if tx.snapshot.version(self.table, obj.id) != version:
                raise InvalidArgument("update out of sequence")
            tx.replace(self.table, obj.id, labels=tuple(sorted(labels.items())), updated_at=now())

        await self.store.update(change)

    async def remove(self, ref: str) -> None:
        obj = self.get(ref)

        def change(tx: Tx) -> None:
            if tx.get(self.table, obj.id) is None:
                raise NotFound(f"{self.kind} {ref} not found")
            users = sorted(
                s.spec.name
                for s in tx.snapshot.all(SERVICES)
                if any(r.id == obj.id for r in self.references(s))
            )
            if users:
                raise InvalidArgument(in_use_message(self.kind, obj.name, users))
            tx.delete(self.table, obj.id)
            serialise(tx)  # a service created meanwhile with a reference to it conflicts

        await self.store.update(change)


def check_exist(tx: Tx, spec: ServiceSpec) -> None:
    """SwarmKit's checkSecretExistence and checkConfigExistence: each reference names an
    object by its id and its name, inside the transaction that writes the service (which
    ``serialise``s, as a removal does)."""
    tables: tuple[tuple[str, Table[Any], tuple[FileReference, ...]], ...] = (
        ("secret", SECRETS, spec.container.secrets),
        ("config", CONFIGS, spec.container.configs),
    )
    for kind, table, refs in tables:
        failed = []
        for ref in refs:
            obj = tx.get(table, ref.id)
            if obj is None or obj.name != ref.name:
                failed.append(ref.name)
        if failed:
            noun = kind if len(failed) == 1 else f"{kind}s"
            raise InvalidArgument(f"{noun} not found: {', '.join(failed)}")
        if refs:
            serialise(tx)


def check_references(kind: str, refs: tuple[FileReference, ...]) -> None:
    """SwarmKit's validateSecretRefsSpec (and its config twin): ids, names and targets given,
    no two references on one target."""
    targets: dict[str, str] = {}
    for ref in refs:
        if not ref.id or not ref.name:
            raise InvalidArgument(f"malformed {kind} reference")
        if ref.runtime:
            continue  # no file: nothing to name, nothing to conflict with
        if not ref.target:
            raise InvalidArgument(
                f"malformed file {kind} reference, invalid target file name provided"
            )
        if ref.target in targets:
            raise InvalidArgument(
                f"{kind} references '{targets[ref.target]}' and '{ref.name}' have a "
                f"conflicting target: '{ref.target}'"
            )
        targets[ref.target] = ref.name


def check_credential_spec(container: ContainerSpec) -> None:
    """SwarmKit's validateConfigRefsSpec: a credential spec read from a config needs that
    config among the references with a Runtime target."""
    source, _, config_id = container.credential_spec.partition("://")
    if source != "config" or not config_id:
        return
    if not any(r.runtime and r.id == config_id for r in container.configs):
        raise InvalidArgument(
            f"CredentialSpec references config '{config_id}', but that config isn't in config "
            "references with RuntimeTarget"
        )
