"""`swarmpy service logs` on two namespaced hosts: lines of both tasks, through the leader."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import pytest

from swarmpy.lab.hosts import swarmpy_executable
from tests.support.lab import TestLab
from tests.support.poll import wait_for

pytestmark = pytest.mark.root

TALK = 'i=0; while true; do echo "line $i from $(hostname)"; i=$((i+1)); sleep 0.2; done'
PREFIX = re.compile(r"^talk\.(\d)\.([0-9a-z]{12})@(node\d) +\| line (\d+) from (\S+)$")


@pytest.fixture
def swarm(swarm_lab: TestLab) -> TestLab:
    """The session's shared three-host swarm; the test's service keeps off node3 so that its
    two tasks spread over node1 and node2."""
    return swarm_lab


def logs(lab: TestLab, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return lab.lab.run(
        lab.hosts[0],
        [swarmpy_executable(), "service", "logs", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def parsed(out: str) -> list[re.Match[str]]:
    lines = [line for line in out.splitlines() if line.strip()]
    bad = [line for line in lines if not PREFIX.match(line)]
    assert not bad, f"unexpected lines: {bad}"
    return [m for m in map(PREFIX.match, lines) if m]


def test_service_logs(swarm: TestLab) -> None:
    n1 = swarm.hosts[0]
    created = swarm.swarmpy(
        n1,
        "service",
        "create",
        "--name",
        "talk",
        "--replicas",
        "2",
        "--constraint",
        "node.hostname!=node3",
        "busybox",
        "sh",
        "-c",
        TALK,
    )
    assert created.returncode == 0, created.stderr
    ps = swarm.swarmpy(n1, "service", "ps", "talk", check=True).stdout
    assert "node1" in ps, ps  # spread: one task per node
    assert "node2" in ps, ps
    time.sleep(1.5)  # a few lines each

    # Without -f: every line so far from both tasks, then the command ends.
    started = time.monotonic()
    result = logs(swarm, "talk")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 10
    lines = parsed(result.stdout)
    by_task: dict[str, list[int]] = {}
    for m in lines:
        slot, _task, node, number, _host = m.groups()
        by_task.setdefault(f"{slot}@{node}", []).append(int(number))
    assert {k.split("@")[1] for k in by_task} == {"node1", "node2"}, result.stdout
    for numbers in by_task.values():
        # From the first line, in order, nothing lost.
        assert numbers == list(range(len(numbers)))
        assert len(numbers) >= 3

    # --tail 2: at most two lines per task, the newest.
    tail = parsed(logs(swarm, "--tail", "2", "talk").stdout)
    per_task: dict[str, int] = {}
    for m in tail:
        per_task[m.group(2)] = per_task.get(m.group(2), 0) + 1
    assert len(per_task) == 2, per_task
    assert all(n <= 2 for n in per_task.values()), per_task

    # --no-task-ids and --raw.
    short = logs(swarm, "--tail", "1", "--no-task-ids", "talk").stdout.splitlines()
    assert short, short
    assert all(re.match(r"^talk\.\d@node\d +\| line \d+", s) for s in short), short
    raw = logs(swarm, "--tail", "1", "--raw", "talk").stdout.splitlines()
    assert raw, raw
    assert all(s.startswith("line ") for s in raw), raw

    # A task id works as well as a service.
    task_id = lines[0].group(2)
    one = parsed(logs(swarm, "--tail", "3", task_id).stdout)
    assert one
    assert {m.group(2) for m in one} == {task_id}

    # -f: new lines keep coming until the user interrupts.
    out_path = swarm.lab.state_dir / "follow.log"
    proc = swarm.lab.spawn(
        n1, [swarmpy_executable(), "service", "logs", "-f", "--tail", "0", "talk"], out_path
    )
    try:

        def followed() -> list[re.Match[str]]:
            text = out_path.read_text()
            return [m for m in map(PREFIX.match, text.splitlines()) if m]

        wait_for(
            "-f to show both nodes",
            lambda: {m.group(3) for m in followed()} == {"node1", "node2"},
            15,
        )
        first = {m.group(2): int(m.group(4)) for m in followed()}
        time.sleep(1)
        later = {m.group(2): int(m.group(4)) for m in followed()}
        assert all(later[t] > first[t] for t in first), (first, later)
        assert proc.poll() is None, "service logs -f ended on its own"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert "Traceback" not in out_path.read_text()

    # -t: each line with the time its container wrote it, in order within a task.
    stamped = logs(swarm, "-t", "--tail", "3", "talk").stdout.splitlines()
    times: dict[str, list[str]] = {}
    for line in stamped:
        stamp, _, rest = line.partition(" ")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp), line
        found = PREFIX.match(rest)
        assert found, line
        times.setdefault(found.group(2), []).append(stamp)
    assert len(times) == 2, stamped
    assert all(t == sorted(t) for t in times.values()), times

    # An unknown service or task: docker's sentence, exit 1.
    missing = logs(swarm, "nosuch")
    assert missing.returncode == 1
    assert "no such task or service: nosuch" in missing.stderr, missing.stderr

    # A worker refuses, as for every control call.
    worker = swarm.swarmpy(swarm.hosts[1], "service", "logs", "talk")
    assert worker.returncode == 1, worker.stderr
    assert "not a swarm manager" in worker.stderr, worker.stderr

    print(result.stdout[:400])
    for host in swarm.hosts:
        text = host.daemon_log.read_text()
        assert "Traceback" not in text, f"{host.name}: {text[-3000:]}"
