"""Suite-wide pytest configuration.

- Tests marked ``@pytest.mark.root`` (real runc, namespaces, daemons) are skipped, with the
  reason, when the suite does not run as root.
- At session start the root tier's tools are looked up. A missing tool would only turn tests
  into skips, which hides a broken machine, so under CI (``CI`` set) as root it stops the run
  before any test; elsewhere it is reported in the header.
- Hypothesis keeps its caches in a tmp dir removed at the end, not in ./.hypothesis.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest

# Fixtures any test may ask for (pytest only reads pytest_plugins in the root conftest).
pytest_plugins = ["tests.support.fixtures"]

# Executables the root tier needs, and the Debian package that provides each
# (scripts/install-deps.sh installs them all).
ROOT_TIER_TOOLS = {
    "runc": "runc",
    "ip": "iproute2",
    "nft": "nftables",
    "busybox": "busybox-static",
    "ping": "iputils-ping",
    "docker-registry": "docker-registry",
    "dnsmasq": "dnsmasq-base",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "systemd-analyze": "systemd",
}

NOT_ROOT_REASON = "needs root (the integration tier runs real runc and namespaces: sudo make test)"


def is_root() -> bool:
    return os.geteuid() == 0


def missing_tools() -> list[str]:
    return [
        f"{tool} ({pkg})" for tool, pkg in ROOT_TIER_TOOLS.items() if shutil.which(tool) is None
    ]


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis caches what it learns of the source tree in ./.hypothesis, from collection
    on: a tmp dir instead, gone when the run ends (a test leaves nothing behind)."""
    try:
        from hypothesis.configuration import set_hypothesis_home_dir
    except ImportError:  # not installed: it writes nothing either
        return
    home = tempfile.mkdtemp(prefix="swarmpy-hypothesis-")
    set_hypothesis_home_dir(home)
    atexit.register(shutil.rmtree, home, ignore_errors=True)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not (is_root() and os.environ.get("CI")):
        return
    missing = missing_tools()
    if missing:
        pytest.exit(
            f"missing for the root tier: {', '.join(missing)}; run scripts/install-deps.sh",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    if not is_root():
        return ["swarmpy: not root, @pytest.mark.root tests will be skipped"]
    missing = missing_tools()
    if missing:
        return [f"swarmpy: root; missing {', '.join(missing)}: tests needing them will skip"]
    return ["swarmpy: root; root-tier tools present"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if is_root():
        return
    skip = pytest.mark.skip(reason=NOT_ROOT_REASON)
    for item in items:
        if item.get_closest_marker("root") is not None:
            item.add_marker(skip)
