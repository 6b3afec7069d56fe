"""`--publish`, `--publish-add` and `--publish-rm` as docker/cli's (its PortOpt in
opts/swarmopts/port.go, updatePorts in cli/command/service/update.go). Pure. The PORTS
column of `service ls` is in ls.py, which does not load the model this module needs."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence

from swarmpy.errors import InvalidArgument
from swarmpy.model import PortConfig, PortProtocol, PublishMode

_LONG = re.compile(r"\w+=\w+(,\w+=\w+)*")
_MAX_PORT = 65535


def _bad(flag: str, text: str, why: str) -> InvalidArgument:
    return InvalidArgument(f'invalid argument "{text}" for "{flag}" flag: {why}')


def parse_publish(text: str, flag: str = "-p, --publish") -> tuple[PortConfig, ...]:
    """One --publish value: ``published=8080,target=80,protocol=udp,mode=host`` or
    ``[PUBLISHED:]TARGET[/PROTOCOL]`` (ranges ``8080-8081:80-81`` too)."""
    if _LONG.search(text):
        return (_long(text, flag),)
    return _short(text, flag)


def _port_number(value: str, what: str, flag: str, text: str) -> int:
    if not value.isdigit() or int(value) > _MAX_PORT:
        why = "value out of range" if value.isdigit() else "invalid syntax"
        raise _bad(flag, text, f"invalid {what} ({value}): value must be an integer: {why}")
    return int(value)


def _long(text: str, flag: str) -> PortConfig:
    fields = next(csv.reader([text]), [])
    target = published = 0
    protocol, mode = PortProtocol.TCP, PublishMode.INGRESS
    for item in fields:
        key, sep, value = item.lower().partition("=")
        if not sep or not key:
            raise _bad(flag, text, f"invalid field: {item}")
        if key == "protocol":
            if value not in {str(p) for p in PortProtocol}:
                raise _bad(flag, text, f"invalid protocol value '{value}'")
            protocol = PortProtocol(value)
        elif key == "mode":
            if value not in {str(m) for m in PublishMode}:
                raise _bad(
                    flag,
                    text,
                    f"invalid publish mode value ({value}): must be either 'ingress' or 'host'",
                )
            mode = PublishMode(value)
        elif key == "target":
            target = _port_number(value, "target port", flag, text)
        elif key == "published":
            published = _port_number(value, "published port", flag, text)
        else:
            raise _bad(flag, text, f"invalid field key: {key}")
    if not target:
        raise _bad(flag, text, "missing mandatory field 'target'")
    return PortConfig(target, published, protocol, mode)


def _range(value: str, what: str, flag: str, text: str) -> list[int]:
    start, sep, end = value.partition("-")
    try:
        first = int(start)
        last = int(end) if sep else first
    except ValueError:
        raise _bad(flag, text, f"Invalid {what}: {value}") from None
    if not 0 < first <= last <= _MAX_PORT:
        raise _bad(flag, text, f"Invalid {what}: {value}")
    return list(range(first, last + 1))


def _short(text: str, flag: str) -> tuple[PortConfig, ...]:
    spec, _, proto = text.partition("/")
    proto = proto.lower() or "tcp"
    if proto not in {str(p) for p in PortProtocol}:
        raise _bad(flag, text, f"Invalid proto: {proto}")
    parts = spec.split(":")
    if len(parts) > 3:
        raise _bad(flag, text, f"invalid port format for --publish: {text}")
    if len(parts) == 3:
        if parts[0]:
            raise _bad(flag, text, "hostip is not supported")
        parts = parts[1:]
    host = parts[0] if len(parts) == 2 else ""
    targets = _range(parts[-1], "containerPort", flag, text)
    protocol = PortProtocol(proto)
    if not host:
        return tuple(PortConfig(t, 0, protocol) for t in targets)
    published = _range(host, "hostPort", flag, text)
    if len(targets) == 1:
        return tuple(PortConfig(targets[0], p, protocol) for p in published)
    if len(published) != len(targets):
        raise _bad(
            flag,
            text,
            f"Invalid ranges specified for container and host Ports: {parts[-1]} and {host}",
        )
    return tuple(PortConfig(t, p, protocol) for t, p in zip(targets, published, strict=True))


def create_ports(values: Iterable[str]) -> tuple[PortConfig, ...]:
    return tuple(p for v in values for p in parse_publish(v))


def _key(p: PortConfig) -> str:
    return f"{p.published}:{p.target}/{p.protocol}/{p.publish_mode}"


def update_ports(
    current: Sequence[PortConfig], add: Sequence[str], remove: Sequence[str]
) -> tuple[PortConfig, ...]:
    """docker/cli's updatePorts: --publish-rm drops the ports with its target port, protocol
    and mode (its published port is not compared); --publish-add adds what is not there yet;
    sorted by ``published:target/protocol/mode`` so an unchanged set is no change."""
    if not add and not remove:
        return tuple(current)
    by_key: dict[str, PortConfig] = {}
    for p in current:
        by_key.setdefault(_key(p), p)
    gone = [p for r in remove for p in parse_publish(r, "--publish-rm")]
    kept = [
        p
        for p in by_key.values()
        if not any(
            (p.target, p.protocol, p.publish_mode) == (g.target, g.protocol, g.publish_mode)
            for g in gone
        )
    ]
    for p in (p for a in add for p in parse_publish(a, "--publish-add")):
        if _key(p) not in by_key:
            kept.append(p)
    return tuple(sorted(kept, key=_key))
