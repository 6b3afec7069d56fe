"""A container's network sandbox: a named netns with lo up, made before runc starts, and
the resolv.conf/hosts/hostname that go with it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from swarmpy.model import Task
from swarmpy.netns import netns_path
from swarmpy.overlay.netlink import Netlink


@dataclass(frozen=True)
class SandboxInfo:
    """A task's network sandbox, made by the network provider before the container exists."""

    netns_path: str  # "/run/netns/<name>"
    resolv_conf: str  # file contents
    hosts: str
    hostname: str


class Sandboxes:
    def __init__(self, netlink: Netlink) -> None:
        self._nl = netlink

    def create(self, name: str) -> str:
        """Create netns ``name`` (replacing a stale one from a crashed run); its path."""
        if name in self._nl.list_netns():
            self._nl.remove_netns(name)
        self._nl.create_netns(name)
        return netns_path(name)

    def destroy(self, name: str) -> None:
        self._nl.remove_netns(name)


# ---------------------------------------------------------------- the files runc bind-mounts

RESOLV_CONF = "nameserver 127.0.0.11\noptions ndots:0\n"

_HOSTS_HEADER = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)


def hostname_for(task: Task) -> str:
    """The spec's hostname, else Docker's default: the short container id."""
    return task.spec.container.hostname or task.id[:12]


def hosts_file(hostname: str, ip: str | None, extra: Sequence[tuple[str, str]] = ()) -> str:
    """A sandbox's /etc/hosts: the defaults, ``extra`` (name, address) lines (--add-host),
    then the container's own address, in the order libnetwork writes them."""
    return _HOSTS_HEADER + extra_hosts_text(extra) + (f"{ip}\t{hostname}\n" if ip else "")


def extra_hosts_text(extra: Sequence[tuple[str, str]]) -> str:
    return "".join(f"{address}\t{name}\n" for name, address in extra)
