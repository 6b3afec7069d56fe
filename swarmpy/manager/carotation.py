"""The leader's root rotation loop: ends a rotation (`swarm ca --rotate`) once every node
holds a certificate from the new root, as SwarmKit's rootRotationReconciler.

Nodes move on their own (their sessions tell them the roots changed and they renew); the
node CA records what it issued to each. This loop only watches those records and makes the
new root the only one when all of them name it (swarmpy.ca.rotation).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from swarmpy.ca import rotation
from swarmpy.manager.controlloop import ControlLoop
from swarmpy.manager.state.store import CLUSTERS, NODES, Event, Tx
from swarmpy.model import now

log = logging.getLogger(__name__)


class RootRotationLoop(ControlLoop):
    name = "root rotation"
    tables = (CLUSTERS, NODES)

    async def tick(self, events: Sequence[Event]) -> float | None:
        snapshot = self.store.view()
        cluster = snapshot.cluster()
        if cluster is None or not rotation.rotation_converged(cluster, snapshot.all(NODES)):
            return None

        def finish(tx: Tx) -> bool:
            # Again over the transaction's snapshot: a node that joined meanwhile with an
            # old certificate, or a newer rotation, keeps this one going.
            current = tx.snapshot.cluster()
            if current is None or not rotation.rotation_converged(current, tx.snapshot.all(NODES)):
                return False
            done = rotation.finish_rotation(current)
            tx.replace(
                CLUSTERS,
                current.id,
                root_ca_cert=done.root_ca_cert,
                root_ca_key=done.root_ca_key,
                root_rotation=None,
                tokens=done.tokens,
                updated_at=now(),
            )
            return True

        if await self.store.update(finish):
            log.info("root CA rotation complete: every node has a certificate from the new root")
        return None
