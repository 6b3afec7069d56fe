"""Who may call a manager: a certificate of this cluster, of a role the call allows, held by a
node the swarm has not taken out.

Every call a node authenticates with its certificate goes through ``authorize``: the
dispatcher's streams, NodeCA renewals and the log broker, on every manager (a follower too,
before it points the caller at the leader). The certificate alone cannot say whether its node
is still wanted: `node rm` cannot take back a certificate, so, as SwarmKit's
``RemovedNodes``, the cluster object lists the removed nodes and every check reads it. A
removed node is refused with ``NodeRemoved``, which carries a trailing-metadata marker
(``swarmpy.protocol.NODE_REMOVED_KEY``) its agent acts on; and a demoted manager's old
manager certificate no longer opens the calls only managers may make.
"""

from __future__ import annotations

from typing import Any

import grpc

from swarmpy.errors import PermissionDenied
from swarmpy.manager.state.store import NODES, Snapshot
from swarmpy.model import NodeRole
from swarmpy.protocol import NodeRemoved
from swarmpy.tls import PeerIdentity, require_role

Ctx = grpc.aio.ServicerContext[Any, Any]


def refuse_removed(context: Ctx, node_id: str) -> NodeRemoved:
    """The refusal of a removed node, its marker already set on the call; raise it."""
    error = NodeRemoved(node_id)
    context.set_trailing_metadata(error.trailers)
    return error


def check_not_removed(context: Ctx, snapshot: Snapshot, node_id: str) -> None:
    cluster = snapshot.cluster()
    if cluster is not None and cluster.is_removed(node_id):
        raise refuse_removed(context, node_id)


def authorize(
    context: Ctx,
    ca_pem: str,
    snapshot: Snapshot,
    *roles: NodeRole,
    action: str = "make this call",
) -> PeerIdentity:
    """The caller if its certificate holds one of ``roles`` and its node was not removed.

    For a call only managers may make, the store must still count the node a manager: a
    demoted manager keeps its old certificate (it stays valid until it expires).
    """
    peer = require_role(context, ca_pem, *roles, action=action)
    check_not_removed(context, snapshot, peer.node_id)
    if NodeRole.WORKER not in roles:
        node = snapshot.get(NODES, peer.node_id)
        if node is not None and node.role != NodeRole.MANAGER:
            raise PermissionDenied(
                f"permission denied: node {peer.node_id} is no longer a manager and cannot {action}"
            )
    return peer


def calling_node(context: Ctx, ca_pem: str, snapshot: Snapshot, action: str) -> str:
    """The id of the node making the call, a worker or a manager (and not removed): the
    agents' services (sessions, logs, network attachments) take either."""
    peer = authorize(context, ca_pem, snapshot, NodeRole.WORKER, NodeRole.MANAGER, action=action)
    return peer.node_id
