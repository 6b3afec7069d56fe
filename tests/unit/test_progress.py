from swarmpy.cli.progress import update_failure
from swarmpy.model import ContainerSpec, Service, ServiceSpec, UpdateState, UpdateStatus


def service(status: UpdateStatus | None) -> Service:
    return Service("s", ServiceSpec("web", ContainerSpec("busybox")), update_status=status)


UPDATING = UpdateStatus(UpdateState.UPDATING, 1.0, 0.0, "update in progress", 2)


def test_an_update_in_progress_or_done_is_no_failure() -> None:
    assert update_failure(service(UPDATING), UPDATING, False) == ""
    done = UpdateStatus(UpdateState.COMPLETED, 1.0, 2.0, "update completed", 2)
    assert update_failure(service(done), UPDATING, False) == ""


def test_a_paused_or_rolled_back_update_ends_the_wait_with_its_reason() -> None:
    paused = UpdateStatus(UpdateState.PAUSED, 1.0, 0.0, "update paused due to failure of task t", 2)
    assert update_failure(service(paused), UPDATING, False) == paused.message
    rolled = UpdateStatus(UpdateState.ROLLBACK_STARTED, 3.0, 0.0, "update rolled back due to t", 3)
    assert update_failure(service(rolled), UPDATING, False) == rolled.message


def test_a_requested_rollback_and_an_older_pause_are_not_failures() -> None:
    rolled = UpdateStatus(UpdateState.ROLLBACK_COMPLETED, 3.0, 4.0, "rollback completed", 3)
    assert update_failure(service(rolled), None, True) == ""
    old_pause = UpdateStatus(UpdateState.PAUSED, 1.0, 0.0, "update paused", 2)
    assert update_failure(service(old_pause), old_pause, False) == ""


def test_tasks_an_update_keeps_count_as_converged() -> None:
    import dataclasses

    from swarmpy.cli.progress import assess
    from swarmpy.model import Task, TaskState, TaskStatus

    svc = dataclasses.replace(service(None), spec_version=3)
    kept = Task("t", "s", "web", svc.spec, spec_version=1, slot=1, node_id="n",
                status=TaskStatus(TaskState.RUNNING))  # fmt: skip
    assert assess(svc, [kept]).converged
    changed = dataclasses.replace(
        kept, spec=dataclasses.replace(svc.spec, container=ContainerSpec("other"))
    )
    assert not assess(svc, [changed]).converged
