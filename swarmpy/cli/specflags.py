"""Parsing of the `service create/update` flags into a ServiceSpec (pure, unit-tested).

Values are checked where they are parsed, by the control API's own checks
(swarmpy.manager.controlapi.validate), so the CLI refuses early in the managers' words; the
managers check again, whatever the client.
"""

from __future__ import annotations

import csv
import enum
import re
import shlex
from collections.abc import Collection, Sequence
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from swarmpy.errors import InvalidArgument
from swarmpy.manager.controlapi import validate
from swarmpy.model import Mount, MountType, Ulimit

E = TypeVar("E", bound=enum.Enum)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_BYTES = re.compile(r"^(\d+(?:\.\d+)?)([kmgt]?)(i?b)?$", re.IGNORECASE)


def choice(value: str, kind: type[E], flag: str) -> E:
    """A flag's value as one of an enum's, or an error naming the allowed ones."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(e.value) for e in kind)
        raise InvalidArgument(
            f"invalid argument {validate.quoted(value)} for {flag}: use {allowed}"
        ) from None


def duration(text: str) -> float:
    """'5s', '1m', '300ms', '2' → seconds (Go duration subset, as docker accepts)."""
    m = _DURATION.match(text.strip())
    if not m:
        raise InvalidArgument(f"invalid duration {validate.quoted(text)}: use e.g. 5s, 1m, 300ms")
    value, unit = float(m.group(1)), m.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def size_bytes(text: str) -> int:
    """'64m', '1g', '512M', '1024' → bytes (docker's units are powers of 1024)."""
    m = _BYTES.match(text.strip())
    if not m:
        raise InvalidArgument(f"invalid size {validate.quoted(text)}: use e.g. 64m, 1g")
    # Exact: a float of a long number is inf, and inf bytes no int.
    value, unit = Decimal(m.group(1)), m.group(2).lower()
    return int(value * 1024 ** "_kmgt".index(unit or "_"))


def memory_bytes(text: str) -> int:
    """A memory limit or reservation: a size, checked as the managers check it."""
    size = size_bytes(text)
    validate.check_memory(size)
    return size


def nano_cpus(text: str) -> int:
    """'0.5', '2' → nano CPUs, checked as the managers check them."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        value = Decimal("nan")
    # Not a number, or more digits than any CPU count has (int() of 1e999999999 would
    # build a number of a billion digits).
    if not value.is_finite() or value.adjusted() > 18:
        raise InvalidArgument(f"invalid CPU value {validate.quoted(text)}: use e.g. 0.5 or 2")
    nano = int(value * 1_000_000_000)
    validate.check_cpus(nano)
    return nano


def pids(value: int) -> int:
    """--limit-pids, checked as the managers check it."""
    validate.check_pids(value)
    return value


def words(text: str, flag: str) -> tuple[str, ...]:
    """A flag holding a command line (``--args "sh -c 'echo hi'"``), split as a shell would."""
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:  # an unterminated quote
        raise InvalidArgument(f"invalid {flag} {validate.quoted(text)}: {exc}") from None


def key_values(items: Sequence[str], what: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {what} {validate.quoted(item)}: expected key=value")
        validate.check_label(key, value, what)
        pairs.append((key, value if sep else ""))
    return tuple(sorted(dict(pairs).items()))


def env_list(current: Sequence[str], add: Sequence[str], remove: Sequence[str]) -> tuple[str, ...]:
    """Apply --env-add/--env-rm to an env list; the last value of a key wins."""
    env: dict[str, str] = {}
    for item in [*current, *add]:
        validate.check_env_entry(item)
        key, _, value = item.partition("=")
        env[key] = value
    for key in remove:
        env.pop(key.partition("=")[0], None)
    return tuple(f"{k}={v}" for k, v in env.items())


# Docker's --mount keys swarmpy does not implement: refused by name rather than ignored.
_MOUNT_UNSUPPORTED = (
    "consistency",
    "bind-nonrecursive",
)
_VOLUME_KEYS = ("volume-driver", "volume-label", "volume-opt", "volume-nocopy")
_MOUNT_KEYS = (
    "type",
    "source",
    "src",
    "target",
    "destination",
    "dst",
    "readonly",
    "ro",
    "bind-propagation",
    "tmpfs-size",
    "tmpfs-mode",
    *_VOLUME_KEYS,
)
PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def _mount_bool(text: str, key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("", "true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise InvalidArgument(f"invalid mount {validate.quoted(text)}: invalid value for {key}")


def mount(text: str) -> Mount:
    """--mount type=bind,source=/a,target=/b[,readonly]; type defaults to volume.

    Docker's mount options: bind-propagation (bind), tmpfs-size and tmpfs-mode (tmpfs),
    volume-nocopy, volume-label and volume-opt (repeatable KEY=VALUE) and volume-driver
    (only local) for volumes. Fields are CSV, as Docker's: quote one that holds a comma
    ("volume-opt=o=size=64m,uid=1000")."""
    fields: dict[str, str] = {}
    labels: list[tuple[str, str]] = []
    options: list[tuple[str, str]] = []
    try:
        parts = next(csv.reader([text]), [])
    except csv.Error:
        raise InvalidArgument(f"invalid mount {validate.quoted(text)}: bad quoting") from None
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if key in ("volume-label", "volume-opt"):
            name, has_value, item = value.partition("=")
            if not name or not has_value:
                raise InvalidArgument(
                    f"invalid mount {validate.quoted(text)}: invalid field '{part}' must be "
                    "a key=value pair"
                )
            (labels if key == "volume-label" else options).append((name, item))
            continue
        if key in _MOUNT_UNSUPPORTED:
            raise InvalidArgument(
                f"invalid mount {validate.quoted(text)}: {key} is not supported by swarmpy"
            )
        if key not in _MOUNT_KEYS:
            raise InvalidArgument(f"invalid mount {validate.quoted(text)}: unknown field {key!r}")
        fields[key] = value.strip() if sep else ""
    kind = fields.get("type", "volume")
    try:
        mount_type = MountType(kind)
    except ValueError:
        raise InvalidArgument(
            f"invalid mount type {validate.quoted(kind)}: use bind, volume or tmpfs"
        ) from None
    target = fields.get("target") or fields.get("destination") or fields.get("dst")
    if not target:
        raise InvalidArgument(f"invalid mount {validate.quoted(text)}: target is required")
    source = fields.get("source") or fields.get("src") or ""
    if mount_type == MountType.BIND and not source:
        raise InvalidArgument(
            f"invalid mount {validate.quoted(text)}: source is required for bind mounts"
        )
    ro_key = "readonly" if "readonly" in fields else "ro"
    readonly = _mount_bool(text, ro_key, fields[ro_key]) if ro_key in fields else False
    propagation = fields.get("bind-propagation", "")
    if propagation and mount_type != MountType.BIND:
        raise InvalidArgument(
            f"invalid mount {validate.quoted(text)}: bind-propagation is for bind mounts"
        )
    if propagation and propagation not in PROPAGATIONS:
        raise InvalidArgument(
            f"invalid mount {validate.quoted(text)}: bind-propagation must be one of "
            + ", ".join(PROPAGATIONS)
        )
    nocopy = (
        _mount_bool(text, "volume-nocopy", fields["volume-nocopy"])
        if ("volume-nocopy" in fields)
        else False
    )
    if (nocopy or labels or options or "volume-driver" in fields) and (
        mount_type != MountType.VOLUME
    ):
        raise InvalidArgument(
            f"invalid mount {validate.quoted(text)}: volume options are for volume mounts"
        )
    driver = fields.get("volume-driver", "")
    if driver not in ("", "local"):
        raise InvalidArgument(
            f'error looking up volume plugin {driver}: plugin "{driver}" not found'
        )
    size = mode = 0
    if ("tmpfs-size" in fields or "tmpfs-mode" in fields) and mount_type != MountType.TMPFS:
        raise InvalidArgument(
            f"invalid mount {validate.quoted(text)}: tmpfs options are for tmpfs mounts"
        )
    if "tmpfs-size" in fields:
        size = size_bytes(fields["tmpfs-size"])
    if "tmpfs-mode" in fields:
        try:
            mode = int(fields["tmpfs-mode"], 8)
        except ValueError:
            mode = -1
        if not 0 <= mode <= 0o7777:
            raise InvalidArgument(
                f"invalid mount {validate.quoted(text)}: tmpfs-mode must be octal, e.g. 1770"
            )
    return Mount(
        type=mount_type,
        target=target,
        source=source,
        readonly=readonly,
        bind_propagation=propagation,
        tmpfs_size=size,
        tmpfs_mode=mode,
        volume_nocopy=nocopy,
        volume_labels=tuple(sorted(dict(labels).items())),
        volume_options=tuple(sorted(dict(options).items())),
    )


def scale_pairs(items: Sequence[str]) -> list[tuple[str, int]]:
    pairs = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidArgument(
                f"invalid scale specifier {validate.quoted(item)}: expected SERVICE=REPLICAS"
            )
        try:
            replicas = int(value)
        except ValueError:
            raise InvalidArgument(f"invalid replicas value for {name}: {value}") from None
        validate.check_replicas(replicas)
        pairs.append((name, replicas))
    return pairs


def env_file(paths: Sequence[str]) -> list[str]:
    """Docker's --env-file: KEY=value lines; a bare KEY takes the value this shell has (and
    is left out when it has none); blank lines and # comments are skipped."""
    import os

    out: list[str] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"open {path}: {getattr(exc, 'strerror', None) or exc}") from None
        for number, raw in enumerate(lines, 1):
            line = raw.lstrip()
            if not line or line.startswith("#"):
                continue
            key, sep, _ = line.partition("=")
            if not key or any(c.isspace() for c in key):
                raise InvalidArgument(
                    f"invalid env file {path} line {number}: variable {key!r} contains whitespaces"
                )
            if sep:
                out.append(line)
            elif key in os.environ:
                out.append(f"{key}={os.environ[key]}")
    return out


def placement_pref(text: str) -> str:
    """--placement-pref spread=node.labels.zone: the spread descriptor."""
    strategy, sep, arg = text.partition("=")
    if not sep or "=" in arg:
        raise InvalidArgument('placement preference must be of the format "<strategy>=<arg>"')
    if strategy != "spread":
        raise InvalidArgument(
            f"unsupported placement preference {strategy} (only spread is supported)"
        )
    return arg


def ulimit(text: str) -> Ulimit:
    """--ulimit nofile=1024[:2048] (soft[:hard]; one number is both)."""
    name, sep, values = text.partition("=")
    if not sep or not name:
        raise InvalidArgument(f"invalid ulimit argument: {text}")
    soft_text, _, hard_text = values.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if hard_text else soft
    except ValueError:
        raise InvalidArgument(f"invalid ulimit argument: {text}") from None
    if soft > hard:
        raise InvalidArgument(
            f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )
    return Ulimit(name=name, soft=soft, hard=hard)


def ulimits(
    current: Sequence[Ulimit], add: Sequence[str], remove: Sequence[str]
) -> tuple[Ulimit, ...]:
    """--ulimit-add/--ulimit-rm: by name, sorted by name (as Docker)."""
    by_name = {u.name: u for u in current}
    for name in remove:
        by_name.pop(name.partition("=")[0], None)
    for item in add:
        parsed = ulimit(item)
        by_name[parsed.name] = parsed
    return tuple(by_name[name] for name in sorted(by_name))


def host(text: str) -> str:
    """--host name:ip as the swarm's /etc/hosts line, "ip name" (Docker's order)."""
    import ipaddress

    name, sep, ip = text.partition(":")
    if not sep or not name or not ip:
        raise InvalidArgument(f"bad format for add-host: {text!r}")
    try:
        ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        raise InvalidArgument(f"invalid IP address in add-host: {ip!r}") from None
    return f"{ip.strip('[]')} {name}"


def hosts(current: Sequence[str], add: Sequence[str], remove: Sequence[str]) -> tuple[str, ...]:
    """Docker's --host-add/--host-rm: remove ``name`` (any IP) or ``name:ip`` from the lines,
    dropping lines left without a name, then append the new ones."""
    removals = [(r.partition(":")[0], r.partition(":")[2]) for r in remove]
    out: list[str] = []
    for line in current:
        parts = line.split()
        if not parts:
            continue
        ip, names = parts[0], parts[1:]
        for name, rm_ip in removals:
            if rm_ip and rm_ip != ip:
                continue
            names = [n for n in names if n != name]
        if names:
            out.append(f"{ip} {' '.join(names)}")
    out += [host(a) for a in add]
    return tuple(dict.fromkeys(out))


def merged(current: Sequence[str], add: Sequence[str], remove: Sequence[str]) -> tuple[str, ...]:
    """Docker's --X-add/--X-rm of a plain list (dns, dns-search, dns-option): duplicates
    dropped, removals applied, sorted."""
    drop = set(remove)
    return tuple(sorted(v for v in dict.fromkeys([*current, *add]) if v not in drop))


def pairs_update(
    current: Sequence[tuple[str, str]], add: Sequence[str], remove: Sequence[str], what: str
) -> tuple[tuple[str, str], ...]:
    """--label-add/--label-rm and friends: removals by key, then additions."""
    out = dict(current)
    for key in remove:
        out.pop(key.partition("=")[0], None)
    out.update(dict(key_values(add, what)))
    return tuple(sorted(out.items()))


def network(text: str) -> tuple[str, tuple[str, ...]]:
    """--network NAME, or Docker's long form name=NAME[,alias=A]...: the network and the
    service's aliases on it."""
    if "=" not in text:
        return text, ()
    target = ""
    aliases: list[str] = []
    for part in text.split(","):
        key, _, value = part.partition("=")
        key = key.strip().lower()
        if key in ("name", "target"):
            target = value
        elif key == "alias":
            aliases.append(value)
        elif key == "driver-opt":
            raise InvalidArgument(
                f"invalid network {validate.quoted(text)}: {key} is not supported by swarmpy"
            )
        else:
            raise InvalidArgument(f"invalid field key {key} in network {validate.quoted(text)}")
    if not target:
        raise InvalidArgument(f"network name/id is not specified in {validate.quoted(text)}")
    return target, tuple(aliases)


def boolean(text: str, flag: str) -> bool:
    """A boolean flag's value, as Go's strconv.ParseBool reads it."""
    lowered = text.lower()
    if lowered in ("1", "t", "true"):
        return True
    if lowered in ("0", "f", "false"):
        return False
    raise InvalidArgument(
        f'invalid argument "{text}" for "--{flag}" flag: strconv.ParseBool: '
        f'parsing "{text}": invalid syntax'
    )


# Boolean flags Docker lets `service update` turn off with --flag=false.
BOOL_FLAGS = ("--read-only", "--init", "--tty")


def bool_flag_argv(
    argv: Sequence[str], takes_value: Collection[str] = (), stop_at_argument: bool = False
) -> list[str]:
    """``service create/update``'s arguments as the CLI's parser reads them:
    --read-only=false as --no-read-only (a flag of ours takes no value); other arguments
    unchanged, the value of an option in ``takes_value`` and whatever follows ``--``
    included, and with ``stop_at_argument`` everything from the first argument on (create's
    IMAGE and the command's own arguments)."""
    out: list[str] = []
    rest = iter(argv)
    for arg in rest:
        flag, sep, value = arg.partition("=")
        if arg == "--" or (stop_at_argument and not arg.startswith("-")):
            out += [arg, *rest]
            break
        if sep and flag in BOOL_FLAGS:
            arg = flag if boolean(value, flag.lstrip("-")) else "--no-" + flag[2:]
        out.append(arg)
        if not sep and arg in takes_value:
            out.append(next(rest, ""))  # the option's value, as it is
    return out
