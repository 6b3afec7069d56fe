"""Fixtures for the root tier: daemons on loopback, and labs of N hosts plus the registry/DNS
host; all torn down after the test, pass or fail."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.daemons import DaemonSet
from tests.support.lab import LabFactory, TestLab, new_lab


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
