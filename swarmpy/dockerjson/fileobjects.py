"""Docker's JSON of secrets and configs, and of a container's references to them
(api/swagger.yaml: Secret, SecretSpec, Config, ConfigSpec, ContainerSpec.Secrets/Configs).
Pure."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from swarmpy.dockerjson.common import labels, timestamp, version
from swarmpy.dockerjson.fields import Fields
from swarmpy.errors import InvalidArgument
from swarmpy.model import Config, FileReference, Secret


@dataclass(frozen=True)
class FileObjectSpec:
    """A SecretSpec or ConfigSpec as a client sent it."""

    name: str
    labels: dict[str, str]
    data: bytes


def _data(f: Fields) -> bytes:
    text = f.text("Data")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"invalid {f.name('Data')}: expected base64") from None


def file_object_spec(body: Any, kind: str) -> FileObjectSpec:
    """A SecretSpec (``kind`` "secret") or a ConfigSpec: Name, Labels, Data (base64);
    Driver and Templating, which swarmpy lacks, only at their zero values."""
    f = Fields(body)
    spec = FileObjectSpec(name=f.text("Name"), labels=dict(f.labels("Labels")), data=_data(f))
    f.unsupported(("Templating",) if kind == "config" else ("Driver", "Templating"))
    f.done()
    return spec


def _meta(obj: Secret | Config, index: int | None) -> dict[str, Any]:
    return {
        "ID": obj.id,
        "Version": version(index),
        "CreatedAt": timestamp(obj.created_at),
        "UpdatedAt": timestamp(obj.updated_at),
    }


def secret_json(secret: Secret, index: int | None) -> dict[str, Any]:
    """As dockerd shows a secret: never its data."""
    return {**_meta(secret, index), "Spec": {"Name": secret.name, "Labels": labels(secret.labels)}}


def config_json(config: Config, index: int | None) -> dict[str, Any]:
    """As dockerd shows a config: with its data (base64)."""
    spec = {
        "Name": config.name,
        "Labels": labels(config.labels),
        "Data": base64.b64encode(config.data).decode(),
    }
    return {**_meta(config, index), "Spec": spec}


def file_reference(f: Fields, kind: str) -> FileReference:
    """A SecretReference (``kind`` "Secret") or ConfigReference: its File target (or, for a
    config, its Runtime target) and the object's id and name."""
    target = f.obj("File")
    # A config's Runtime target ({}: a credential spec's config); File wins when both are
    # given, as in dockerd's configReferencesToGRPC.
    runtime = f.obj("Runtime") if kind == "Config" else None
    if runtime is not None:
        runtime.done()
    name, uid, gid, mode = "", "0", "0", 0o444
    if target is not None:
        name = target.text("Name")
        uid = target.text("UID", "0")
        gid = target.text("GID", "0")
        mode = target.integer("Mode", 0o444)
        target.done()
    ref = FileReference(
        id=f.text(f"{kind}ID"),
        name=f.text(f"{kind}Name"),
        target=name,
        uid=uid,
        gid=gid,
        mode=mode,
        runtime=target is None and runtime is not None,
    )
    f.done()
    return ref


def file_reference_json(ref: FileReference, kind: str) -> dict[str, Any]:
    target: dict[str, Any] = (
        {"Runtime": {}}
        if ref.runtime
        else {"File": {"Name": ref.target, "UID": ref.uid, "GID": ref.gid, "Mode": ref.mode}}
    )
    return {**target, f"{kind}ID": ref.id, f"{kind}Name": ref.name}
