"""Docker's Task JSON from swarmpy.model (daemon/cluster/convert/task.go). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from swarmpy import genericresource
from swarmpy.dockerjson.common import timestamp, version
from swarmpy.dockerjson.service import port_json, task_spec_json
from swarmpy.model import Network, PublishMode, Task, TaskState
from swarmpy.server.convert.network import network_json


def task_state(state: TaskState) -> str:
    """Docker's spelling of a task state: "running", "shutdown", ..."""
    return state.name.lower()


def _spec_json(task: Task) -> dict[str, Any]:
    """A network attachment's spec is moby's NetworkAttachmentSpec alone (its runtime), with
    its network; a service task's is its service's task template."""
    if not task.is_attachment:
        return task_spec_json(task.spec)
    return {
        "NetworkAttachmentSpec": {"ContainerID": task.attachment.container_id},
        "Networks": [{"Target": n} for n in task.spec.networks],
        "ForceUpdate": 0,
    }


def task_json(task: Task, index: int | None, networks: Mapping[str, Network]) -> dict[str, Any]:
    status: dict[str, Any] = {
        "Timestamp": timestamp(task.status.timestamp),
        "State": task_state(task.status.state),
        "Message": task.status.message,
    }
    if task.status.err:
        status["Err"] = task.status.err
    # The host-mode ports the task's container was given (Docker's PortStatus), as its node
    # reported them (a published port the node picked filled in); shown after as they were.
    host_ports = list(task.status.port_status) or [
        p for p in task.spec.ports if p.publish_mode == PublishMode.HOST and p.published
    ]
    if host_ports and task.node_id and task.status.state >= TaskState.RUNNING:
        status["PortStatus"] = {"Ports": [port_json(p) for p in host_ports]}
    if task.status.container_id or task.status.pid or task.status.exit_code:
        status["ContainerStatus"] = {
            "ContainerID": task.status.container_id,
            "PID": task.status.pid,
            "ExitCode": task.status.exit_code,
        }
    out: dict[str, Any] = {
        "ID": task.id,
        "Version": version(index),
        "CreatedAt": timestamp(task.created_at),
        "UpdatedAt": timestamp(task.updated_at),
        "Labels": {},
        "Spec": _spec_json(task),
        "ServiceID": task.service_id,
        "Slot": task.slot,
        "NodeID": task.node_id,
        "Status": status,
        "DesiredState": task_state(task.desired_state),
    }
    if task.assigned_generic_resources:
        out["GenericResources"] = genericresource.to_json(task.assigned_generic_resources)
    if task.spec.mode.is_job:
        out["JobIteration"] = {"Index": task.job_iteration}
    attachments = [
        {
            "Network": network_json(networks[a.network_id]),
            "Addresses": list(a.addresses),
        }
        for a in task.networks
        if a.network_id in networks
    ]
    if attachments:
        out["NetworksAttachments"] = attachments
    return out
