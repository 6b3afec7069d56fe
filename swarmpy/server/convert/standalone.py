"""A standalone container's inspect document and list row: the engine's, with what its
record adds (Docker's Config and HostConfig as asked, restart count, published ports, the
default bridge's settings). Pure."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from swarmpy.humanize import human_duration
from swarmpy.standalone.ports import PortMapping, port_bindings_json, summary_ports

BRIDGE_NETWORK_ID = "bridge"


def _network_mode(rec: dict[str, Any]) -> str:
    host = rec["request"].get("HostConfig") or {}
    return str(host.get("NetworkMode") or "default")


def _endpoint(network_id: str) -> dict[str, Any]:
    """An endpoint's settings as inspect shows them, its addresses empty (not running)."""
    return {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "NetworkID": network_id,
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "",
        "DriverOpts": None,
    }


def inspect_doc(
    doc: dict[str, Any],
    rec: dict[str, Any],
    published: Sequence[PortMapping],
    restarting: int | None,
    user_networks: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``user_networks``: the user bridges (name -> id) the container joins when it runs;
    one it has no live endpoint on is shown without addresses, as Docker shows it."""
    out = copy.deepcopy(doc)
    request = rec["request"]
    config = out.setdefault("Config", {})
    for key in (
        "Domainname",
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "OpenStdin",
        "StdinOnce",
        "StopSignal",
        "StopTimeout",
    ):
        if key in request:
            config[key] = request[key]
    if "entrypoint" in rec:
        config["Entrypoint"] = rec["entrypoint"] or None
        config["Cmd"] = rec["cmd"] or None
    exposed = rec.get("exposed") or []
    if exposed:
        config["ExposedPorts"] = {key: {} for key in exposed}
    host = dict(out.get("HostConfig") or {})
    host.update(request.get("HostConfig") or {})
    host.setdefault("NetworkMode", "default")
    # As asked, its driver filled in when none was named, as dockerd does at create.
    log_config = dict(host.get("LogConfig") or {})
    host["LogConfig"] = {
        "Type": log_config.get("Type") or "json-file",
        "Config": log_config.get("Config") or {},
    }
    out["HostConfig"] = host
    out["RestartCount"] = int(rec.get("restart_count", 0))
    state = out.setdefault("State", {})
    if rec.get("start_error"):
        state["Error"] = rec["start_error"]
    if restarting is not None:
        state.update({"Status": "restarting", "Restarting": True, "Running": True})
    running = bool(state.get("Running"))
    settings = dict(out.get("NetworkSettings") or {})
    # dockerd drops a container's ports with its network when it ends (releaseNetwork), and
    # has none before its first start: only a running container shows them.
    ports: dict[str, Any] = {}
    if running:
        ports = {key: None for key in exposed}
        ports.update(port_bindings_json(published))
    settings["Ports"] = ports
    network = rec.get("network") or {}
    mode = _network_mode(rec)
    if mode in ("default", "bridge"):
        ip = network.get("ip", "") if running else ""
        endpoint = {
            "IPAMConfig": None,
            "Links": None,
            "Aliases": None,
            "NetworkID": BRIDGE_NETWORK_ID,
            "EndpointID": "",
            "Gateway": network.get("gateway", "") if running else "",
            "IPAddress": ip,
            "IPPrefixLen": int(network.get("prefix", 0)) if running else 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "MacAddress": network.get("mac", "") if running else "",
            "DriverOpts": None,
        }
        settings.update(
            {
                "Bridge": "",
                "Gateway": endpoint["Gateway"],
                "IPAddress": ip,
                "IPPrefixLen": endpoint["IPPrefixLen"],
                "MacAddress": endpoint["MacAddress"],
            }
        )
        networks = dict(settings.get("Networks") or {})
        networks["bridge"] = endpoint
        settings["Networks"] = networks
    elif rec.get("overlay_network"):
        # A swarm overlay (attachable): its endpoint while the container is on it.
        attached = running and bool(rec.get("attachment"))
        networks = dict(settings.get("Networks") or {})
        networks[mode] = _endpoint(rec["overlay_network"])
        if attached:
            networks[mode].update(
                {
                    "IPAddress": network.get("ip", ""),
                    "IPPrefixLen": int(network.get("prefix", 0)),
                    "MacAddress": network.get("mac", ""),
                }
            )
        settings["Networks"] = networks
    elif mode in ("host", "none"):
        networks = dict(settings.get("Networks") or {})
        networks[mode] = {
            "NetworkID": mode,
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "MacAddress": "",
        }
        settings["Networks"] = networks
    if user_networks:
        networks = dict(settings.get("Networks") or {})
        for name, network_id in user_networks.items():
            networks.setdefault(name, _endpoint(network_id))
        settings["Networks"] = networks
    out["NetworkSettings"] = settings
    return out


def summary_row(
    row: dict[str, Any],
    rec: dict[str, Any],
    published: Sequence[PortMapping],
    restarting: int | None,
    finished_at: float,
    now: float,
) -> dict[str, Any]:
    out = dict(row)
    running = row.get("State") in ("running", "paused")
    out["Ports"] = summary_ports(published, rec.get("exposed") or []) if running else []
    out["HostConfig"] = {"NetworkMode": _network_mode(rec)}
    if restarting is not None:
        out["State"] = "restarting"
        out["Status"] = f"Restarting ({restarting}) {human_duration(now - finished_at)} ago"
    return out
