"""The lab's infrastructure host: an image registry and the only upstream DNS the lab sees.

It is an ordinary lab host at the subnet's .2 address running Debian's ``docker-registry``
(filesystem storage under the lab state dir, no auth) and ``dnsmasq`` answering only local
names, so daemons whose resolv.conf points here never reach the machine's real resolvers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import httpx

from swarmpy.errors import Unavailable
from swarmpy.lab.busybox import busybox_image
from swarmpy.lab.hosts import INFRA_HOST_NUMBER, REGISTRY_PORT, Host, Lab
from swarmpy.lab.push import push_image

REGISTRY_HOSTNAME = "registry"
# Names dnsmasq answers, besides refusing everything else.
REGISTRY_DNS_NAME = "registry.lab"
# What "busybox" resolves to through a registry mirror.
BUSYBOX_REPO, BUSYBOX_TAG = "library/busybox", "latest"


@dataclass(frozen=True)
class RegistryHost:
    host: Host
    url: str  # http://<ip>:5000, reachable from every lab host
    storage: Path

    @property
    def ip(self) -> str:
        return self.host.ip


def registry_config(addr: str, storage: Path) -> dict[str, object]:
    """A docker-registry configuration (JSON is YAML): filesystem storage, plain HTTP, no auth."""
    return {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
        },
        "http": {"addr": addr},
    }


def dnsmasq_argv(listen_ip: str, names: dict[str, str]) -> list[str]:
    return [
        "dnsmasq",
        "--keep-in-foreground",
        "--conf-file=/dev/null",
        "--pid-file=",
        "--log-facility=-",
        "--no-resolv",
        "--no-hosts",
        "--bind-interfaces",
        f"--listen-address={listen_ip}",
        *(f"--address=/{name}/{ip}" for name, ip in sorted(names.items())),
    ]


def start_registry_host(lab: Lab, *, preload: bool = True, timeout: float = 15.0) -> RegistryHost:
    """Add the registry/DNS host to ``lab`` (whose underlay must exist), wait until both
    services answer, and (``preload``) push busybox so tasks can run offline."""
    host = lab.add_host(REGISTRY_HOSTNAME, number=INFRA_HOST_NUMBER)
    storage = host.dir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = host.dir / "registry.json"
    config.write_text(json.dumps(registry_config(f"{host.ip}:{REGISTRY_PORT}", storage)))
    lab.spawn(host, ["docker-registry", "serve", config], host.dir / "registry.log")
    lab.spawn(host, dnsmasq_argv(host.ip, {REGISTRY_DNS_NAME: host.ip}), host.dir / "dns.log")
    registry = RegistryHost(host=host, url=f"http://{host.ip}:{REGISTRY_PORT}", storage=storage)
    _wait_until(lambda: lab.call_in(host, lambda: _answers(registry)), timeout, registry)
    if preload:
        preload_busybox(lab, registry)
    return registry


def preload_busybox(lab: Lab, registry: RegistryHost) -> str:
    """Push busybox as library/busybox:latest; return its manifest digest. The push runs in
    the registry host's namespace, the only place its address is reachable from."""
    image = busybox_image()
    return lab.call_in(
        registry.host, lambda: push_image(registry.url, BUSYBOX_REPO, BUSYBOX_TAG, image)
    )


def _answers(registry: RegistryHost) -> bool:
    try:
        if httpx.get(f"{registry.url}/v2/", timeout=1.0).status_code != 200:
            return False
        query = dns.message.make_query(REGISTRY_DNS_NAME, dns.rdatatype.A)
        dns.query.udp(query, registry.ip, timeout=1.0)
        return True
    except (httpx.HTTPError, OSError, dns.exception.DNSException):
        return False


def _wait_until(ready: Callable[[], bool], timeout: float, registry: RegistryHost) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise Unavailable(
                f"lab registry/DNS at {registry.ip} did not answer within {timeout:.0f}s; "
                f"see {registry.host.dir}/registry.log and dns.log"
            )
        time.sleep(0.1)
