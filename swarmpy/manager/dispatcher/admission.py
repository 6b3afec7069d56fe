"""Backpressure for the dispatcher: how many sessions the leader takes on at once, when the
others should come back, and how long the leader itself was too busy to read heartbeats.

SwarmKit's dispatcher rate-limits node registrations and answers the excess with an error
the agent backs off from; here a session beyond what the leader can register is refused
with a delay the agent obeys (``protocol.RETRY_AFTER_KEY``), derived from the rate at which
registrations have been committing, so 2,500 agents reconnecting at once arrive in waves the
leader can commit instead of as one burst of 2,500 writes that starves its Raft thread.

Pure bookkeeping over times the caller passes: no clock, no I/O, no asyncio.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field

# Sessions registering (opened, their node not yet written) at once, at most.
MAX_PENDING_SESSIONS = 128
# Bounds of the delay a refused agent is given.
MIN_RETRY_S = 1.0
MAX_RETRY_S = 30.0
# Until the first registrations commit, the rate assumed (registrations per second).
DEFAULT_RATE = 100.0
# The weight of the newest measurement in the commit rate's moving average.
RATE_WEIGHT = 0.3
# A wake-up of the liveness check this much later than asked counts as the leader stalling.
STALL_SLACK_S = 0.5
# However slowly the swarm is coming back, a node that hung up is down at most this much
# later than its heartbeats alone would say: a dead node among reconnecting ones is found.
MAX_RECONNECT_ALLOWANCE_S = 60.0
# So many nodes falling late within MASS_SILENCE_WINDOW_S are late for one reason (the
# leader or the network), not each for its own: at least this many, and this share of the
# swarm. Nodes marked down before a mass is seen stay down, so the share is small: with a
# tenth, a 2,500-node swarm's mass reconnect marked 116 live nodes down in its first two
# checks (100, then 16) before the 250th late node made it a mass.
MASS_SILENCE_NODES = 50
MASS_SILENCE_SHARE = 0.02
# How far back late nodes are counted towards a mass. Not one check: a leader that is
# behind hears its nodes' silence in batches (a new leader's reconnections running out of
# allowance a few dozen per check), each under the threshold, and marked them down one
# batch at a time (1,301 live nodes in a 2,500-node run) while they added up to a mass.
MASS_SILENCE_WINDOW_S = 60.0


@dataclass
class Admission:
    """Admits sessions while fewer than ``max_pending`` are registering, and tells the rest
    when to come back: after the backlog ahead of them would have committed, spread so that
    they do not all return in the same instant."""

    max_pending: int = MAX_PENDING_SESSIONS
    rng: random.Random = field(default_factory=random.Random)
    pending: int = 0
    refused: int = 0
    rate: float = DEFAULT_RATE
    # Refused agents told to come back, not yet due: their share of the backlog.
    _promised: list[float] = field(default_factory=list)

    def admit(self, now: float) -> float | None:
        """None: take the session (call ``released`` once its registration is over); else
        the seconds after which the agent should try again."""
        self._promised = [t for t in self._promised if t > now]
        if self.pending < self.max_pending:
            self.pending += 1
            return None
        self.refused += 1
        # Everyone already waiting or told to come back is ahead of this agent.
        ahead = self.pending + len(self._promised)
        delay = ahead / max(self.rate, 1.0)
        delay = min(MAX_RETRY_S, max(MIN_RETRY_S, delay * self.rng.uniform(1.0, 1.5)))
        self._promised.append(now + delay)
        return delay

    def registered(self, count: int, took_s: float) -> None:
        """One write registered ``count`` sessions in ``took_s``: the commit rate."""
        if count and took_s > 0:
            measured = count / took_s
            self.rate = (1 - RATE_WEIGHT) * self.rate + RATE_WEIGHT * measured

    def released(self) -> None:
        """An admitted session's registration is over (written or failed)."""
        self.pending = max(0, self.pending - 1)


@dataclass
class StallClock:
    """Time during which the leader could not have read a heartbeat does not count against
    a node: ``late_by`` is how much later than asked a periodic check woke; past a slack,
    that lateness is owed to every node's deadline."""

    slack_s: float = STALL_SLACK_S
    stalled_s: float = 0.0

    def woke(self, asked_s: float, slept_s: float) -> float:
        """Record a check that asked to sleep ``asked_s`` and slept ``slept_s``; returns the
        stall to credit every node with (0 when the leader was on time)."""
        late = slept_s - asked_s
        if late <= self.slack_s:
            return 0.0
        self.stalled_s += late
        return late


@dataclass
class Reconnects:
    """Nodes whose agent hung up its session and has not opened a new one, and how long the
    nodes that did come back were away.

    After a network blip or a restart of the agents, every agent reconnects at once and the
    leader takes them in at its own pace (TLS handshakes, new calls, registrations): the
    last may be back only well after three heartbeat periods from its last beat, through no
    fault of its own. While nodes come back that slowly, a node still away is waiting for
    its turn, not gone: ``allowance`` is how long the slowest return of the last window took
    (bounded), and the liveness check adds it to the grace of every node still away. A lone
    node that hangs up while the others come back at once gets (next to) nothing.
    """

    cap_s: float = MAX_RECONNECT_ALLOWANCE_S
    # Node id -> when its session ended.
    away: dict[str, float] = field(default_factory=dict)
    # (when a node came back, how long it had been away), oldest first.
    _returns: deque[tuple[float, float]] = field(default_factory=deque)
    # (when a node came back, the node), oldest first, for ``disturbed`` (kept longer than
    # ``_returns``).
    _back_at: deque[tuple[float, str]] = field(default_factory=deque)

    def hung_up(self, node_id: str, at: float) -> None:
        self.away[node_id] = at

    def back(self, node_id: str, at: float) -> None:
        """The node opened a new session."""
        since = self.away.pop(node_id, None)
        if since is not None:
            self._returns.append((at, at - since))
            self._back_at.append((at, node_id))

    def forget(self, node_id: str) -> None:
        """The node is down or gone: no longer waited for."""
        self.away.pop(node_id, None)

    def disturbed(self, now: float, window_s: float) -> set[str]:
        """Nodes away now or back within the last ``window_s``: those a reconnection in
        progress (or just over) has touched."""
        while self._back_at and self._back_at[0][0] < now - window_s:
            self._back_at.popleft()
        return set(self.away).union(node_id for _, node_id in self._back_at)

    def allowance(self, now: float, window_s: float) -> float:
        """How much longer than its grace a node still away may take: the longest time a
        node that came back within the last ``window_s`` had been away."""
        while self._returns and self._returns[0][0] < now - window_s:
            self._returns.popleft()
        return min(self.cap_s, max((took for _, took in self._returns), default=0.0))


@dataclass
class MassSilence:
    """Holds back marking nodes down while a mass of them falls late at once.

    Nodes fail one by one; 2% of the swarm (and 50 nodes) falling silent in the same minute is
    the leader not reading (its loop or its Raft thread starved, its gRPC queues behind)
    or the network between, and marking them all down would reschedule every task they
    run, which is the collapse, not a cure. So, as SwarmKit gives every node a grace after
    a change of leader, a mass of late nodes is given ``hold_s`` (from when it became a
    mass) to be heard from again; whoever is still late after that is down. Nodes count
    towards a mass for ``window_s`` after they were first found late, whether they have
    been marked down since or heard again, so a mass that arrives in small batches is one.
    So do the nodes a mass reconnection touched (``disturbed``: away, or back within the
    window): while the leader takes thousands of sessions in, the first few nodes late are
    its doing too (7 of 2,500 were marked down 3 s before 267 fell late at once).
    A few late nodes (fewer than ``min_nodes``: any small swarm) are judged at once.
    """

    min_nodes: int = MASS_SILENCE_NODES
    share: float = MASS_SILENCE_SHARE
    hold_s: float = MAX_RECONNECT_ALLOWANCE_S
    window_s: float = MASS_SILENCE_WINDOW_S
    since: float | None = None
    # Node id -> when it was first found late, within the window.
    _late_at: dict[str, float] = field(default_factory=dict)

    def holds(
        self, late: Collection[str], nodes: int, now: float, disturbed: Collection[str] = ()
    ) -> bool:
        """Whether to wait before marking the ``late`` nodes (of ``nodes``) down at ``now``,
        ``disturbed`` of them touched by a reconnection (``Reconnects.disturbed``). Called at
        every check, with no node late too: that ends a hold (all were heard)."""
        for node_id in late:
            self._late_at.setdefault(node_id, now)
        horizon = now - self.window_s
        if any(at < horizon for at in self._late_at.values()):
            self._late_at = {n: at for n, at in self._late_at.items() if at >= horizon}
        mass = len(self._late_at.keys() | set(disturbed))
        if not late or mass < max(self.min_nodes, self.share * nodes):
            self.since = None
            return False
        if self.since is None:
            self.since = now
        return now - self.since < self.hold_s

    @property
    def fallen_late(self) -> int:
        """Nodes found late within the window (as of the last ``holds``)."""
        return len(self._late_at)

    def reset(self) -> None:
        """A new term of leading: what an earlier one saw late says nothing now."""
        self.since = None
        self._late_at.clear()
