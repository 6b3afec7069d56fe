"""`--secret`, `--config` (create) and `--secret-add/-rm`, `--config-add/-rm` (update), as
docker/cli's opts.SecretOpt / ConfigOpt and service.ParseSecrets / ParseConfigs: the flag's
short form (a name) or long form (source=,target=,uid=,gid=,mode=), the names resolved to
ids through the Engine API before the spec is sent."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence

from swarmpy.cli.engine import EngineClient, filters_json
from swarmpy.errors import InvalidArgument
from swarmpy.model import FileReference, ServiceSpec

DEFAULT_MODE = 0o444


def _go_uint(value: str) -> int:
    """strconv.ParseUint(value, 0, 32): 0x.., 0o.., 0b.., a leading 0 for octal, else decimal."""
    try:
        if not value.isascii() or not value.replace("_", "").isalnum() or "_" in value:
            raise ValueError
        if value.lower().startswith(("0x", "0o", "0b")):
            number = int(value, 0)
        elif len(value) > 1 and value.startswith("0"):
            number = int(value, 8)
        else:
            number = int(value, 10)
        if number >= 1 << 32:
            raise ValueError
    except ValueError:
        raise InvalidArgument(
            f'invalid mode specified: strconv.ParseUint: parsing "{value}": invalid syntax'
        ) from None
    return number


def parse(text: str, kind: str) -> FileReference:
    """One --secret or --config value (``kind`` "secret" or "config"); the id is left empty,
    for ``resolve``."""
    try:
        fields = next(csv.reader([text]), [])
    except csv.Error as e:
        raise InvalidArgument(str(e)) from None
    if len(fields) == 1 and "=" not in fields[0]:
        return FileReference(id="", name=fields[0], target=fields[0], mode=DEFAULT_MODE)
    ref = FileReference(id="", name="", target="", mode=DEFAULT_MODE)
    for field in fields:
        key, sep, value = field.partition("=")
        key = key.lower()
        if not sep:
            raise InvalidArgument(f"invalid field '{field}' must be a key=value pair")
        if key in ("source", "src"):
            ref = dataclasses.replace(ref, name=value)
        elif key == "target":
            ref = dataclasses.replace(ref, target=value)
        elif key == "uid":
            ref = dataclasses.replace(ref, uid=value)
        elif key == "gid":
            ref = dataclasses.replace(ref, gid=value)
        elif key == "mode":
            ref = dataclasses.replace(ref, mode=_go_uint(value))
        else:
            raise InvalidArgument(f"invalid field in {kind} request: {key}")
    if not ref.name:
        raise InvalidArgument("source is required")
    return ref if ref.target else dataclasses.replace(ref, target=ref.name)


def parse_all(values: Sequence[str], kind: str) -> tuple[FileReference, ...]:
    """The flag's values, refused as ParseSecrets does when two share a target."""
    refs = tuple(parse(v, kind) for v in values)
    targets: set[str] = set()
    for ref in refs:
        if ref.target in targets:
            raise InvalidArgument(f"duplicate {kind} target for {ref.name} not allowed")
        targets.add(ref.target)
    return refs


def updated(
    current: tuple[FileReference, ...], add: Sequence[str], remove: Sequence[str], kind: str
) -> tuple[FileReference, ...]:
    """Docker's getUpdatedSecrets: those not removed (by name), then those added."""
    drop = set(remove)
    kept = tuple(r for r in current if r.name not in drop)
    return kept + parse_all(add, kind) if add else kept


def resolve(
    api: EngineClient, refs: tuple[FileReference, ...], kind: str
) -> tuple[FileReference, ...]:
    """The references without an id get their object's, looked up by name (ParseSecrets)."""
    names = sorted({r.name for r in refs if not r.id})
    if not names:
        return refs
    found = api.get(f"/{kind}s", filters=filters_json({"names": names}))
    ids = {o["Spec"]["Name"]: o["ID"] for o in found}
    out = []
    for ref in refs:
        if not ref.id:
            if ref.name not in ids:
                raise InvalidArgument(f"{kind} not found: {ref.name}")
            ref = dataclasses.replace(ref, id=ids[ref.name])
        out.append(ref)
    return tuple(out)


def resolve_spec(api: EngineClient, spec: ServiceSpec) -> ServiceSpec:
    c = spec.container
    container = dataclasses.replace(
        c,
        secrets=resolve(api, c.secrets, "secret"),
        configs=resolve(api, c.configs, "config"),
    )
    return dataclasses.replace(spec, container=container)
