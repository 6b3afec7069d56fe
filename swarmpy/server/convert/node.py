"""Docker's Node JSON <-> swarmpy.model (daemon/cluster/convert/node.go). Pure functions."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from typing import Any

from swarmpy import genericresource
from swarmpy.dockerjson.common import labels, timestamp, version
from swarmpy.dockerjson.fields import Fields
from swarmpy.errors import InvalidArgument
from swarmpy.model import Node, NodeAvailability, NodeRole

# The drivers of each kind this build has, by Docker's plugin type: what `docker info` lists
# under Plugins and a node's Description.Engine.Plugins (`node inspect --pretty`) shows. Every
# node runs the same build, so one constant says it for all. Log: the drivers a service may
# name (none is no driver, and Docker does not list it).
ENGINE_PLUGINS: dict[str, tuple[str, ...]] = {
    "Volume": ("local",),
    "Network": ("bridge", "host", "null", "overlay"),
    "Log": ("json-file",),
}


def node_json(node: Node, index: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ID": node.id,
        "Version": version(index),
        "CreatedAt": timestamp(node.created_at),
        "UpdatedAt": timestamp(node.updated_at),
        "Spec": {
            "Labels": labels(node.labels),
            "Role": str(node.role),
            "Availability": str(node.availability),
        },
        "Description": {
            "Hostname": node.hostname,
            # A node reports no platform of its own; the managers run the same build.
            "Platform": {"Architecture": platform.machine(), "OS": "linux"},
            "Resources": _resources_json(node),
            "Engine": {
                "EngineVersion": node.engine_version,
                # As dockerd's executor describes them: sorted by type, then name.
                "Plugins": [
                    {"Type": kind, "Name": name}
                    for kind in sorted(ENGINE_PLUGINS)
                    for name in ENGINE_PLUGINS[kind]
                ],
            },
        },
        "Status": {"State": str(node.state), "Message": node.message, "Addr": node.addr},
    }
    if node.tls_info is not None:
        out["Description"]["TLSInfo"] = {
            "TrustRoot": node.tls_info.trust_root,
            "CertIssuerSubject": node.tls_info.cert_issuer_subject,
            "CertIssuerPublicKey": node.tls_info.cert_issuer_public_key,
        }
    if node.manager is not None and node.role == NodeRole.MANAGER:
        out["ManagerStatus"] = {
            "Leader": node.manager.leader,
            "Reachability": "reachable" if node.manager.reachable else "unreachable",
            "Addr": node.manager.api_addr,
        }
    return out


def _resources_json(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {
        "NanoCPUs": node.resources.nano_cpus,
        "MemoryBytes": node.resources.memory_bytes,
    }
    if node.resources.generic:
        out["GenericResources"] = genericresource.to_json(node.resources.generic)
    return out


@dataclass(frozen=True)
class NodeChange:
    """What a NodeSpec sent to /nodes/{id}/update asks of the control API."""

    availability: str
    role: str
    label_add: dict[str, str]
    label_rm: tuple[str, ...]


def node_change(body: Any, current: Node) -> NodeChange:
    """The difference between a node's current spec and the NodeSpec a client sent (Docker's
    update replaces the spec; swarmpy's control API takes changes)."""
    f = Fields(body)
    if f.text("Name"):
        raise InvalidArgument("unsupported field Name: swarmpy nodes are named by their hostname")
    wanted = dict(f.labels("Labels"))
    role = f.text("Role")
    availability = f.text("Availability")
    f.done()
    if role and role not in {r.value for r in NodeRole}:
        raise InvalidArgument(f"invalid Role {role!r}: expected worker or manager")
    if availability and availability not in {a.value for a in NodeAvailability}:
        raise InvalidArgument(
            f"invalid Availability {availability!r}: expected active, pause or drain"
        )
    have = current.label_dict()
    return NodeChange(
        availability=availability if availability != current.availability else "",
        role=role if role != current.role else "",
        label_add={k: v for k, v in wanted.items() if have.get(k) != v},
        label_rm=tuple(sorted(k for k in have if k not in wanted)),
    )
