"""pytest fixtures shared by the tiers, loaded for the whole suite by ``pytest_plugins`` in
tests/conftest.py: a test names one as an argument and imports nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.busybox_image import busybox_image
from tests.support.registry import free_port, push_image, start_registry


@pytest.fixture(scope="session")
def registry() -> Iterator[str]:
    """``host:port`` of a running registry holding busybox as ``library/busybox:latest``
    (what ``busybox`` resolves to through a mirror) and ``busybox:latest``."""
    with start_registry(f"127.0.0.1:{free_port()}") as reg:
        image = busybox_image()
        push_image(reg.url, "library/busybox", "latest", image)
        push_image(reg.url, "busybox", "latest", image)
        yield reg.addr
