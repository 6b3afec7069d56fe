"""pysyncobj replaces socket.inet_ntop with a Windows-only function on import; swarmpy's raft
package puts the real one back, so pyroute2 imported after it still decodes addresses."""

from __future__ import annotations

import subprocess
import sys


def test_addresses_decode_after_the_raft_package_is_imported() -> None:
    # A fresh interpreter: in this one the import order is the test session's.
    code = (
        "import swarmpy.manager.state.raft.log, socket\n"
        "from pyroute2.netlink import inet_ntop\n"
        "packed = bytes([198, 51, 100, 97])\n"
        "print(socket.inet_ntop(socket.AF_INET, packed), inet_ntop(socket.AF_INET, packed))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["198.51.100.97", "198.51.100.97"]
