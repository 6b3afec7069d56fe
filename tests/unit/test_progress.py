"""The convergence view of `service create/update/rollback/scale`, over Engine API documents."""

from __future__ import annotations

from typing import Any

from swarmpy.cli.progress import assess, update_failure


def service(status: dict[str, Any] | None = None, replicas: int = 1) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ID": "s",
        "UpdatedAt": "2026-01-01T00:00:10Z",
        "Spec": {"Name": "web", "Mode": {"Replicated": {"Replicas": replicas}}},
    }
    if status is not None:
        doc["UpdateStatus"] = status
    return doc


def task(tid: str, slot: int, state: str, created: str = "2026-01-01T00:00:11Z") -> dict[str, Any]:
    return {
        "ID": tid,
        "ServiceID": "s",
        "Slot": slot,
        "NodeID": "n",
        "CreatedAt": created,
        "DesiredState": "running",
        "Status": {
            "State": state,
            "Timestamp": created,
            "Err": "boom" if state == "failed" else "",
        },
    }


UPDATING = {
    "State": "updating",
    "StartedAt": "2026-01-01T00:00:10Z",
    "Message": "update in progress",
}


def test_an_update_in_progress_or_done_is_no_failure() -> None:
    assert update_failure(service(UPDATING), UPDATING, False) == ""
    done = {"State": "completed", "Message": "update completed"}
    assert update_failure(service(done), UPDATING, False) == ""


def test_a_paused_or_rolled_back_update_ends_the_wait_with_its_reason() -> None:
    paused = {"State": "paused", "Message": "update paused due to failure of task t"}
    assert update_failure(service(paused), UPDATING, False) == paused["Message"]
    rolled = {"State": "rollback_started", "Message": "update rolled back due to t"}
    assert update_failure(service(rolled), UPDATING, False) == rolled["Message"]


def test_a_requested_rollback_and_an_older_pause_are_not_failures() -> None:
    rolled = {"State": "rollback_completed", "Message": "rollback completed"}
    assert update_failure(service(rolled), None, True) == ""
    old_pause = {"State": "paused", "Message": "update paused"}
    assert update_failure(service(old_pause), old_pause, False) == ""


def test_only_running_tasks_of_the_current_spec_count() -> None:
    tasks = [task("a", 1, "running"), task("b", 2, "running")]
    kept = assess(service(replicas=2), tasks, current={"a", "b"})
    assert kept.converged
    assert kept.running == 2
    assert kept.lines[0].startswith("1/2: running ")
    outdated = assess(service(replicas=2), tasks, current={"a"})
    assert not outdated.converged
    assert outdated.running == 1


def test_repeated_failures_of_the_new_spec_end_the_wait() -> None:
    tasks = [task(f"f{i}", 1, "failed") for i in range(3)]
    assert assess(service(), tasks, current={t["ID"] for t in tasks}).error == "boom"
    old = [task(f"o{i}", 1, "failed", created="2026-01-01T00:00:01Z") for i in range(3)]
    assert assess(service(), old, current={t["ID"] for t in old}).error == ""
