"""Docker's network JSON <-> swarmpy.model (daemon/cluster/convert/network.go). Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swarmpy.dockerjson.common import labels, timestamp
from swarmpy.dockerjson.fields import Fields
from swarmpy.errors import InvalidArgument
from swarmpy.model import MTU_OPTION, Network
from swarmpy.overlay.bridges import BridgeNetwork

# Docker's driver option naming an overlay's VXLAN id, shown by `network inspect`.
VXLAN_OPTION = "com.docker.network.driver.overlay.vxlanid_list"


def network_json(network: Network) -> dict[str, Any]:
    options = {VXLAN_OPTION: str(network.vni)} if network.vni else {}
    if network.mtu:
        options[MTU_OPTION] = str(network.mtu)
    ipam_config = []
    if network.subnet:
        ipam_config.append({"Subnet": network.subnet, "Gateway": network.gateway})
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": timestamp(network.created_at),
        "Scope": "swarm",
        "Driver": network.driver,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": None, "Config": ipam_config},
        "Internal": False,
        "Attachable": network.attachable,
        "Ingress": network.ingress,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {},
        "Options": options,
        "Labels": labels(network.labels),
    }


def local_network_json(network: Network, endpoints: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """A network this node has, as its inspect shows it: with the node's containers on it,
    keyed by container id as Docker's are (``endpoints`` as the network provider lists them)."""
    out = network_json(network)
    out["Containers"] = {
        e.get("ContainerID") or e.get("EndpointID", ""): {
            "Name": e.get("Name", ""),
            "EndpointID": e.get("EndpointID", ""),
            "MacAddress": e.get("MacAddress", ""),
            "IPv4Address": e.get("IPv4Address", ""),
            "IPv6Address": "",
        }
        for e in endpoints
    }
    return out


# Docker's options on the default bridge (docker0), with swarmpy's bridge device.
def default_bridge_options(device: str) -> dict[str, str]:
    return {
        "com.docker.network.bridge.default_bridge": "true",
        "com.docker.network.bridge.enable_icc": "true",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
        "com.docker.network.bridge.name": device,
        MTU_OPTION: "1500",
    }


def bridge_network_json(
    network: BridgeNetwork, containers: Mapping[str, Mapping[str, str]], options: Mapping[str, str]
) -> dict[str, Any]:
    """A node-local network (bridge, host, none, a user bridge) as Docker's NetworkResource:
    scope local, its containers keyed by container id."""
    ipam_config = []
    if network.subnet and network.driver == "bridge":
        ipam_config.append({"Subnet": network.subnet, "Gateway": network.gateway})
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": timestamp(network.created_at),
        "Scope": "local",
        "Driver": network.driver,
        "EnableIPv6": False,
        # Docker: null for the built-in networks' IPAM options, {} for a user's.
        "IPAM": {
            "Driver": "default",
            "Options": None if network.builtin else {},
            "Config": ipam_config,
        },
        "Internal": network.internal,
        "Attachable": network.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": {
            cid: {
                "Name": c.get("Name", ""),
                "EndpointID": c.get("EndpointID", ""),
                "MacAddress": c.get("MacAddress", ""),
                "IPv4Address": c.get("IPv4Address", ""),
                "IPv6Address": "",
            }
            for cid, c in containers.items()
        },
        "Options": dict(options),
        "Labels": labels(network.labels),
    }


@dataclass(frozen=True)
class NetworkCreate:
    """A /networks/create request, as swarmpy's control API takes it."""

    name: str
    driver: str
    subnet: str
    gateway: str
    attachable: bool
    labels: dict[str, str]
    options: dict[str, str]
    ingress: bool = False  # `network create --ingress`: the routing mesh's network
    internal: bool = False  # a bridge's `--internal`: no way out of the host


def network_create(body: Any) -> NetworkCreate:
    f = Fields(body)
    name = f.text("Name")
    # Docker's daemon makes a bridge when no driver is named.
    driver = f.text("Driver") or "bridge"
    scope = f.text("Scope")
    if scope not in ("", "swarm", "local"):
        raise InvalidArgument(f"invalid Scope {scope!r}: use local or swarm")
    if scope and (scope == "local") != (driver == "bridge"):
        raise InvalidArgument(f"invalid Scope {scope!r} for a network of driver {driver}")
    internal = f.flag("Internal")
    if internal and driver != "bridge":
        raise InvalidArgument("Internal is supported only for bridge networks by swarmpy")
    f.flag("CheckDuplicate")  # swarmpy always refuses a duplicate name, as Docker then does
    attachable = f.flag("Attachable")
    ingress = f.flag("Ingress")
    network_labels = dict(f.labels("Labels"))
    options = dict(f.labels("Options"))
    subnet = gateway = ""
    ipam = f.obj("IPAM")
    if ipam is not None:
        ipam_driver = ipam.text("Driver")
        if ipam_driver not in ("", "default"):
            raise InvalidArgument(f"unsupported IPAM driver {ipam_driver!r}: only default")
        configs = ipam.objs("Config")
        if len(configs) > 1:
            raise InvalidArgument("unsupported IPAM.Config: swarmpy networks have one subnet")
        for config in configs:
            subnet = config.text("Subnet")
            gateway = config.text("Gateway")
            config.unsupported(("IPRange", "AuxiliaryAddresses"))
            config.done()
        ipam.unsupported(("Options",))
        ipam.done()
    f.unsupported(("EnableIPv6", "ConfigOnly", "ConfigFrom"))
    f.done()
    return NetworkCreate(
        name, driver, subnet, gateway, attachable, network_labels, options, ingress, internal
    )
