"""deploy/: the systemd unit is valid and install.sh yields a working ``swarmpy`` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def build_wheel(workdir: Path) -> Path:
    """A wheel of the current tree, built offline from a copy so the checkout stays clean."""
    source = workdir / "src"
    source.mkdir()
    shutil.copy(REPO / "pyproject.toml", source)
    shutil.copytree(
        REPO / "swarmpy", source / "swarmpy", ignore=shutil.ignore_patterns("__pycache__")
    )
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--no-index", "-w", workdir / "wheels", source], check=True)
    return next((workdir / "wheels").glob("swarmpy-*.whl"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """install.sh run into a temporary prefix, without apt, systemd or the network."""
    workdir = tmp_path_factory.mktemp("deploy")
    wheel = build_wheel(workdir)
    subprocess.run(
        [
            DEPLOY / "install.sh",
            "--prefix",
            workdir / "opt",
            "--bin-dir",
            workdir / "bin",
            "--no-apt",
            "--no-systemd",
            "--pip-args",
            "--no-index --no-deps",
            wheel,
        ],
        check=True,
        capture_output=True,
    )
    return workdir


def run_installed(workdir: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    # --no-deps kept the test offline; the dependencies come from the test's own environment.
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    return subprocess.run(argv, env=env, capture_output=True, text=True, cwd=workdir)


@pytest.mark.root
def test_installed_unit_passes_systemd_analyze(installed: Path) -> None:
    unit = installed / "opt" / "swarmpy.service"
    assert f"ExecStart={installed}/opt/venv/bin/swarmpy daemon" in unit.read_text()
    verify = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    assert verify.stderr == ""


def test_packaged_unit_keeps_containers_across_restarts() -> None:
    unit = (DEPLOY / "swarmpy.service").read_text().splitlines()
    for line in ("ExecStart=/opt/swarmpy/venv/bin/swarmpy daemon", "Delegate=yes",
                 "KillMode=process", "Restart=always"):  # fmt: skip
        assert line in unit


def test_installed_package_is_the_one_imported(installed: Path) -> None:
    python = installed / "opt" / "venv" / "bin" / "python"
    found = run_installed(installed, str(python), "-c", "import swarmpy; print(swarmpy.__file__)")
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith(f"{installed}/opt/venv/")


def test_installed_swarmpy_help_works(installed: Path) -> None:
    helped = run_installed(installed, str(installed / "bin" / "swarmpy"), "--help")
    assert helped.returncode == 0, helped.stderr
    assert "swarm" in helped.stdout


def test_install_refuses_a_missing_source(tmp_path: Path) -> None:
    refused = subprocess.run(
        [DEPLOY / "install.sh", "--no-apt", "--no-systemd", "--prefix", tmp_path, tmp_path / "x"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert "does not exist" in refused.stderr
    assert not (tmp_path / "venv").exists()
