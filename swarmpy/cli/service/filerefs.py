"""`--secret`, `--config` (create) and `--secret-add/-rm`, `--config-add/-rm` (update), as
docker/cli's opts.SecretOpt / ConfigOpt and service.ParseSecrets / ParseConfigs: the flag's
short form (a name) or long form (source=,target=,uid=,gid=,mode=), the names resolved to
ids through the Engine API before the spec is sent. Also the runtime config a
`--credential-spec config://NAME` reads."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence

from swarmpy.cli.engine import EngineClient, filters_json
from swarmpy.errors import InvalidArgument
from swarmpy.model import ContainerSpec, FileReference, ServiceSpec

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


def _credential_config(credential_spec: str) -> str:
    """The config a credential spec reads (its name before resolve_spec, its id after), or
    "" for a file:// or registry:// one, or none."""
    source, _, value = credential_spec.partition("://")
    return value if source == "config" else ""


def _runtime_ref(name: str) -> FileReference:
    return FileReference(id="", name=name, target="", runtime=True)


def with_credential_spec(
    configs: tuple[FileReference, ...], credential_spec: str
) -> tuple[FileReference, ...]:
    """docker/cli's setConfigs: a credential spec read from a config has that config among
    the service's configs with a Runtime target (once, however often it is asked for)."""
    name = _credential_config(credential_spec)
    if not name or any(r.runtime and r.name == name for r in configs):
        return configs
    return (*configs, _runtime_ref(name))


def updated_configs(
    container: ContainerSpec,
    add: Sequence[str],
    remove: Sequence[str],
    credential_spec_given: bool,
) -> tuple[FileReference, ...]:
    """docker/cli's getUpdatedConfigs, over a container whose credential spec the update has
    already set: a runtime config is kept only while the credential spec still reads it
    (given again by name, or not given so still by id), --config-rm removes file configs
    by name, then --config-add's and a newly named credential spec's config are added."""
    config = _credential_config(container.credential_spec)
    name, config_id = (config, "") if credential_spec_given else ("", config)
    drop = set(remove)
    kept = tuple(
        r
        for r in container.configs
        if (r.name == name or r.id == config_id if r.runtime else r.name not in drop)
    )
    added = kept + parse_all(add, "config") if add else kept
    if not credential_spec_given:
        return added
    # docker/cli appends the config again when the same name is given anew; once is enough.
    return with_credential_spec(added, container.credential_spec)


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
    """The references' ids looked up, and a credential spec naming a config rewritten to
    that config's id, as docker/cli's setConfigs and updateCredSpecConfig."""
    c = spec.container
    configs = resolve(api, c.configs, "config")
    credential_spec = c.credential_spec
    config = _credential_config(credential_spec)
    named = [r.id for r in configs if config and r.name == config]
    if named:
        credential_spec = f"config://{named[0]}"
    container = dataclasses.replace(
        c,
        secrets=resolve(api, c.secrets, "secret"),
        configs=configs,
        credential_spec=credential_spec,
    )
    return dataclasses.replace(spec, container=container)
