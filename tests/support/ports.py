"""A free TCP port for a test's server: bound once by the kernel's choice, then released."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at ``host`` now (another process may take it before the
    test binds it; the kernel hands out ephemeral ports in turn, so that is rare)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
