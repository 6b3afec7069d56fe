"""A forged Raft peer: talks pysyncobj's transport to a manager with a given key, claiming to be
a member, to show what a holder of an old Raft secret can (no longer) do."""

from __future__ import annotations

import os
import time
from typing import Any

from pysyncobj.node import TCPNode
from pysyncobj.poller import createPoller
from pysyncobj.tcp_connection import TcpConnection

from swarmpy.manager.state.raft.keyring import KeyRing, run_utility

# A term no real election reaches in a test: a peer that takes this vote request moves to it.
FORGED_TERM = 1_000_000


def forged_vote() -> dict[str, Any]:
    """A vote request as pysyncobj's candidates send it, from a candidate with the longest log."""
    return {
        "type": "request_vote",
        "term": FORGED_TERM,
        "last_log_index": 10**9,
        "last_log_term": FORGED_TERM,
    }


def send_as_member(
    addr: str,
    keys: KeyRing,
    claim: str,
    messages: list[dict[str, Any]],
    timeout: float = 3.0,
    linger: float = 0.0,
) -> bool:
    """Connect to the Raft port ``addr`` with ``keys``, name ourselves ``claim`` (a member's
    address) and send ``messages``. True if the peer took the key: it answered the key
    exchange (a peer that cannot decrypt us hangs up at once). With ``linger``, it must also
    keep the connection open that long after our claim (a refused claim is hung up on)."""
    node = TCPNode(addr)
    poller = createPoller("auto")
    done = {"open": True, "answered": False}

    def on_disconnected() -> None:
        done["open"] = False

    conn: TcpConnection

    def on_connected() -> None:
        conn.recvRandKey = os.urandom(32)
        conn.send(conn.recvRandKey)

    def on_message(message: Any) -> None:
        if not conn.sendRandKey:
            conn.sendRandKey = message
            done["answered"] = True
            conn.send(claim)
            for m in messages:
                conn.send(m)

    conn = TcpConnection(
        poller,
        onDisconnected=on_disconnected,
        onMessageReceived=on_message,
        onConnected=on_connected,
        timeout=timeout,
    )
    conn.encryptor = keys
    deadline = time.monotonic() + timeout
    if not conn.connect(node.ip, node.port):
        return False
    while done["open"] and not done["answered"] and time.monotonic() < deadline:
        poller.poll(0.05)
    # What we sent after its answer is in the socket; one more turn writes what is left.
    poller.poll(0.05)
    # A bound, not a wait for a condition: what is checked is that nothing happens.
    until = time.monotonic() + linger
    while done["open"] and time.monotonic() < until:
        poller.poll(0.05)
    kept = done["open"]
    conn.disconnect()
    return done["answered"] and kept


def raft_term(addr: str, keys: KeyRing) -> int:
    """The peer's current term, from its status (asked with a key it takes)."""
    status = run_utility(keys, addr, ["status"], 3.0)
    return int(status["raft_term"])
