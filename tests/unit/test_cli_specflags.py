"""The `service create/update` flag parsers shared by the service commands."""

from __future__ import annotations

import pytest

from swarmpy.cli import specflags
from swarmpy.errors import InvalidArgument
from swarmpy.model import MountType, UpdateOrder


def test_choice_takes_an_enum_value_or_names_the_allowed_ones() -> None:
    assert specflags.choice("start-first", UpdateOrder, "--update-order") is UpdateOrder.START_FIRST
    with pytest.raises(InvalidArgument) as raised:
        specflags.choice("sideways", UpdateOrder, "--update-order")
    assert raised.value.message == (
        "invalid argument 'sideways' for --update-order: use stop-first, start-first"
    )


def test_durations_and_sizes_read_as_docker_reads_them() -> None:
    assert specflags.duration("300ms") == pytest.approx(0.3)
    assert specflags.duration("1m") == 60
    assert specflags.memory_bytes("64m") == 64 * 1024**2
    with pytest.raises(InvalidArgument):
        specflags.duration("soon")


def test_mounts_and_scale_pairs() -> None:
    mount = specflags.mount("type=bind,source=/a,target=/b,readonly")
    assert (mount.type, mount.source, mount.target, mount.readonly) == (
        MountType.BIND,
        "/a",
        "/b",
        True,
    )
    assert specflags.scale_pairs(["web=3", "db=0"]) == [("web", 3), ("db", 0)]
    with pytest.raises(InvalidArgument):
        specflags.scale_pairs(["web=-1"])
