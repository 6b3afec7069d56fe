"""The pyroute2 adapter: every netlink call swarmpy makes goes through ``Netlink``.

Handles are kept open and are not thread-safe (pyroute2 keeps their sockets per thread), so
one ``Netlink`` must only be used from one thread: the provider's worker.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ndmsg import NTF_SELF, NUD_NOARP, NUD_PERMANENT

from swarmpy.errors import RuntimeFailure
from swarmpy.netns import CLONE_NEWNET, NETNS_DIR, call_in_thread, entered, libc, netns_path

log = logging.getLogger(__name__)

T = TypeVar("T")

_MS_BIND = 4096


def create_netns(name: str) -> None:
    """A named network namespace, like `ip netns add`, made without forking.

    pyroute2's netns.create forks a helper; in a daemon full of gRPC threads that child can
    abort. unshare(CLONE_NEWNET) moves only the calling thread, so a throwaway thread makes
    the namespace and pins it with a bind mount before it exits.
    """
    os.makedirs(NETNS_DIR, exist_ok=True)
    path = netns_path(name)
    try:
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444))
    except FileExistsError:
        raise RuntimeFailure(f"create netns {name}: it already exists") from None
    failure: list[OSError] = []

    def target() -> None:
        if libc.unshare(CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            failure.append(OSError(err, f"unshare: {os.strerror(err)}"))
            return
        source = f"/proc/self/task/{threading.get_native_id()}/ns/net".encode()
        if libc.mount(source, path.encode(), None, _MS_BIND, None) != 0:
            err = ctypes.get_errno()
            failure.append(OSError(err, f"bind mount: {os.strerror(err)}"))

    thread = threading.Thread(target=target, name=f"netns-create-{name}")
    thread.start()
    thread.join()
    if failure:
        with suppress(OSError):
            os.unlink(path)
        raise RuntimeFailure(f"create netns {name}: {failure[0]}")


def _inode(name: str) -> int:
    """The inode of named netns ``name``'s file (0: none)."""
    try:
        return os.stat(netns_path(name)).st_ino
    except FileNotFoundError:
        return 0


def run_in_netns(name: str | None, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a short-lived thread that entered netns ``name`` (None: ours), to make
    something (a socket, a libnftables context) bound to another namespace."""
    return call_in_thread(None if name is None else netns_path(name), fn)


def enable_route_localnet(netns: str | None, ifname: str) -> None:
    """Let what the node sends from 127.0.0.0/8 leave through ``ifname`` (to be masqueraded
    there): without it the kernel drops a loopback client's packets that a DNAT sent out of
    the host, as Docker's docker_gwbridge needs it for ``curl localhost:PORT``."""

    def write() -> None:
        # /proc/sys/net follows the netns of the thread that opens it.
        with open(f"/proc/sys/net/ipv4/conf/{ifname}/route_localnet", "w") as f:
            f.write("1")

    run_in_netns(netns, write)


@contextmanager
def _netlink_errors(what: str, tolerate: tuple[int, ...] = ()) -> Iterator[None]:
    try:
        yield
    except NetlinkError as e:
        if e.code in tolerate:
            return
        raise RuntimeFailure(f"{what}: {os.strerror(e.code)}") from e


class Netlink:
    """Links, addresses, routes, FDB and neighbour entries in the host netns and sandboxes.

    ``host_netns`` None means the netns this process runs in (the daemon's host); a name is
    used by tests and the lab to drive a "host" namespace from outside it.
    """

    def __init__(self, host_netns: str | None = None) -> None:
        self.host_netns = host_netns
        self._handles: dict[str | None, Any] = {}
        # The namespace each handle was opened in (its file's inode): a sandbox another
        # Netlink removed and made again under the same name is a new namespace.
        self._inodes: dict[str | None, int] = {}

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def _ipr(self, ns: str | None = None) -> Any:
        """The open handle for sandbox ``ns`` (None: the host)."""
        key = ns if ns is not None else self.host_netns
        handle = self._handles.get(key)
        if handle is not None and key is not None and self._inodes.get(key) != _inode(key):
            self._handles.pop(key).close()
            handle = None
        if handle is None:
            # pyroute2 keeps a handle's socket per thread, so the socket is opened here, on
            # the thread that will use it, after stepping into the netns for a moment: a
            # netlink socket stays bound to the netns it was made in. IPRoute(netns=...)
            # would fork a helper instead (10 ms, more in a large daemon).
            if key is None:
                handle = IPRoute()
            else:
                with entered(netns_path(key)):
                    handle = IPRoute()
                self._inodes[key] = _inode(key)
            self._handles[key] = handle
        return handle

    # ------------------------------------------------------------ namespaces

    def create_netns(self, name: str) -> None:
        create_netns(name)
        self.set_up("lo", ns=name)

    def remove_netns(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.close()
        with suppress(FileNotFoundError):
            netns.remove(name)

    @staticmethod
    def list_netns() -> list[str]:
        return list(netns.listnetns())

    # ------------------------------------------------------------ links

    def link_index(self, ifname: str, ns: str | None = None) -> int | None:
        found = self._ipr(ns).link_lookup(ifname=ifname)
        return int(found[0]) if found else None

    def link_names(self, ns: str | None = None) -> list[str]:
        return [str(link.get("ifname")) for link in self._ipr(ns).get_links()]

    def set_up(self, ifname: str, ns: str | None = None) -> None:
        with _netlink_errors(f"set {ifname} up"):
            self._ipr(ns).link("set", ifname=ifname, state="up")

    def delete_link(self, ifname: str, ns: str | None = None) -> None:
        with _netlink_errors(f"delete {ifname}", tolerate=(errno.ENODEV,)):
            self._ipr(ns).link("del", ifname=ifname)

    def ensure_bridge(self, name: str, mtu: int) -> int:
        with _netlink_errors(f"create bridge {name}", tolerate=(errno.EEXIST,)):
            self._ipr().link("add", ifname=name, kind="bridge", mtu=mtu)
        self.set_up(name)
        return self._index(name)

    def ensure_vxlan(self, name: str, vni: int, local: str, mtu: int, master: int) -> int:
        with _netlink_errors(f"create vxlan {name}", tolerate=(errno.EEXIST,)):
            self._ipr().link(
                "add",
                ifname=name,
                kind="vxlan",
                vxlan_id=vni,
                vxlan_port=4789,
                vxlan_learning=0,
                vxlan_proxy=1,
                vxlan_local=local,
                mtu=mtu,
            )
        index = self._index(name)
        with _netlink_errors(f"attach {name} to its bridge"):
            self._ipr().link("set", index=index, master=master)
        self.set_up(name)
        return index

    def add_veth(
        self, host_name: str, master: int, sandbox: str, peer_name: str, mac: str, mtu: int
    ) -> None:
        """A veth pair: ``host_name`` in bridge ``master``, ``peer_name`` inside ``sandbox``."""
        peer = {"ifname": peer_name, "net_ns_fd": sandbox, "address": mac, "mtu": mtu}
        try:
            # Made in the bridge and up in one request: sandbox setup is on the critical
            # path of every container start.
            self._ipr().link(
                "add", ifname=host_name, kind="veth", mtu=mtu, master=master, state="up", peer=peer
            )
        except NetlinkError as e:
            if e.code != errno.EEXIST:
                raise RuntimeFailure(f"create veth {host_name}: {os.strerror(e.code)}") from e
            with _netlink_errors(f"attach {host_name} to its bridge"):
                self._ipr().link("set", index=self._index(host_name), master=master, state="up")
        self.set_up(peer_name, ns=sandbox)

    def add_veth_pair(self, host_name: str, sandbox: str, peer_name: str, mtu: int) -> None:
        """A routed veth pair (in no bridge): ``host_name`` up here, ``peer_name`` up in
        ``sandbox``."""
        peer = {"ifname": peer_name, "net_ns_fd": sandbox, "mtu": mtu}
        with _netlink_errors(f"create veth {host_name}"):
            self._ipr().link("add", ifname=host_name, kind="veth", mtu=mtu, state="up", peer=peer)
        self.set_up(peer_name, ns=sandbox)

    def _index(self, ifname: str, ns: str | None = None) -> int:
        index = self.link_index(ifname, ns)
        if index is None:
            raise RuntimeFailure(f"link {ifname} vanished")
        return index

    # ------------------------------------------------------------ addresses and routes

    def add_address(self, ifname: str, cidr: str, ns: str | None = None) -> None:
        ip, prefix = cidr.split("/")
        index = self._index(ifname, ns)
        with _netlink_errors(f"add {cidr} to {ifname}", tolerate=(errno.EEXIST,)):
            self._ipr(ns).addr("add", index=index, address=ip, prefixlen=int(prefix))

    def add_default_route(self, gateway: str, ns: str | None = None) -> None:
        with _netlink_errors(f"default route via {gateway}", tolerate=(errno.EEXIST,)):
            self._ipr(ns).route("add", dst="0.0.0.0/0", gateway=gateway)

    # ------------------------------------------------------------ programmed forwarding

    def fdb_replace(self, vxlan: int, mac: str, remote: str) -> None:
        """``mac`` is behind ``remote``. Replace, not append: for a unicast MAC the kernel
        keeps an existing entry's destination on append (EEXIST), so an entry a daemon's
        earlier run left behind (the device survives a restart, our record of its entries
        does not) kept pointing at the node the address was on before it moved."""
        with _netlink_errors(f"fdb {mac} -> {remote}"):
            # What pyroute2 fills in for add and append only: the VXLAN device's own
            # table (self), a static entry (permanent, noarp).
            self._ipr().fdb(
                "replace",
                ifindex=vxlan,
                lladdr=mac,
                dst=remote,
                state=NUD_PERMANENT | NUD_NOARP,
                flags=NTF_SELF,
            )

    def fdb_delete(self, vxlan: int, mac: str, remote: str) -> None:
        with _netlink_errors(f"fdb del {mac}", tolerate=(errno.ENOENT,)):
            self._ipr().fdb("del", ifindex=vxlan, lladdr=mac, dst=remote)

    def neigh_replace(self, vxlan: int, ip: str, mac: str) -> None:
        with _netlink_errors(f"neigh {ip} -> {mac}"):
            self._ipr().neigh("replace", ifindex=vxlan, dst=ip, lladdr=mac, state="permanent")

    def neigh_delete(self, vxlan: int, ip: str, mac: str) -> None:
        with _netlink_errors(f"neigh del {ip}", tolerate=(errno.ENOENT,)):
            self._ipr().neigh("del", ifindex=vxlan, dst=ip, lladdr=mac)
