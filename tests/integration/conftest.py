"""Fixtures for the root tier: daemons on loopback, and labs of N hosts plus the registry/DNS
host; all torn down after the test, pass or fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.daemons import Daemon, DaemonSet
from tests.support.lab import LabFactory, TestLab, new_lab
from tests.support.localswarm import SharedSwarm
from tests.support.swarmlab import keep_logs, new_swarm_lab, restore


@pytest.fixture
def daemons() -> Iterator[DaemonSet]:
    """Real daemons on loopback (``tests.support.daemons``), all killed and cleaned up after
    the test."""
    with DaemonSet() as ds:
        yield ds


@pytest.fixture
def lab_factory() -> Iterator[LabFactory]:
    """``lab_factory(n_hosts=3, registry=True)`` builds a lab; every lab is destroyed after the
    test, pass or fail. Daemons are started on demand (``TestLab.start_daemons``)."""
    labs: list[TestLab] = []

    def make(n_hosts: int = 3, *, registry: bool = True) -> TestLab:
        test_lab = new_lab(n_hosts, registry=registry)
        labs.append(test_lab)
        return test_lab

    try:
        yield make
    finally:
        for test_lab in labs:
            test_lab.lab.destroy()


@pytest.fixture
def lab3(lab_factory: LabFactory) -> TestLab:
    """Three hosts plus the registry/DNS host, no daemons yet."""
    return lab_factory(3)


@pytest.fixture(scope="session")
def shared_swarm_lab() -> Iterator[TestLab]:
    """The session's one three-host swarm (``tests.support.swarmlab``), built on first use and
    destroyed, its daemons' logs kept, when the session ends. Tests ask for ``swarm_lab``."""
    test_lab = new_swarm_lab()
    try:
        yield test_lab
    finally:
        keep_logs(test_lab, "swarm-lab")
        test_lab.lab.destroy()


@pytest.fixture
def swarm_lab(shared_swarm_lab: TestLab) -> Iterator[TestLab]:
    """A swarm of three hosts (node1 manager; node2, node3 workers; the registry host), shared
    by the session: the test may kill daemons, drain nodes and leave services; all is put back
    after it, pass or fail."""
    try:
        yield shared_swarm_lab
    finally:
        restore(shared_swarm_lab)


@pytest.fixture(scope="session")
def shared_one_node_swarm() -> Iterator[SharedSwarm]:
    """The session's one-node swarm (``tests.support.localswarm.SharedSwarm``), started on
    first use, torn down when the session ends. Tests ask for ``one_node_swarm``.

    While it lives it holds the ingress network's VXLAN device (VNI 4096) in this network
    namespace, and the kernel allows one device per VNI there: other loopback daemons of the
    session come up without a routing mesh (a logged warning), as the second daemon of any
    loopback swarm always has. A test of the routing mesh uses a lab, whose hosts have
    namespaces of their own."""
    shared = SharedSwarm()
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture
def one_node_swarm(shared_one_node_swarm: SharedSwarm) -> Iterator[Daemon]:
    """A daemon managing a swarm of its own, busybox loaded, shared by the session: no
    service, secret, config, user network or task container at the start; what the test
    leaves is removed after it, pass or fail. For tests that need a fresh daemon (its
    start, its files, its restart), use ``daemons`` instead."""
    daemon = shared_one_node_swarm.get()
    try:
        yield daemon
    finally:
        shared_one_node_swarm.restore()
