"""/volumes as Docker's daemon answers: the JSON, the list filters, what prune removes and how
a create request is read (swarmpy.server.convert.volume)."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmpy.engine.volumes import ANONYMOUS_LABEL, Volume
from swarmpy.errors import InvalidArgument
from swarmpy.server.convert.volume import (
    create_request,
    prunable,
    rfc3339,
    volume_json,
    volume_matches,
)
from swarmpy.server.filters import Filters

NAMED = Volume("data", Path("/v/data/_data"), 0.0, labels={"tier": "db"})
ANON = Volume("f" * 64, Path("/v/f/_data"), 0.0, labels={ANONYMOUS_LABEL: ""})
TMPFS = Volume("scratch", Path("/v/s/_data"), 0.0, options={"type": "tmpfs", "device": "tmpfs"})


def filters(**values: list[str]) -> Filters:
    return Filters({k.replace("_not", "!"): tuple(v) for k, v in values.items()})


def test_volume_json_as_docker() -> None:
    doc = volume_json(NAMED, (12, 1))
    assert doc == {
        "CreatedAt": rfc3339(0.0),
        "Driver": "local",
        "Labels": {"tier": "db"},
        "Mountpoint": "/v/data/_data",
        "Name": "data",
        "Options": {},
        "Scope": "local",
        "UsageData": {"Size": 12, "RefCount": 1},
    }
    bare = Volume("x1", Path("/x"), 0.0, labels_given=False, options_given=False)
    assert volume_json(bare)["Labels"] is None
    assert volume_json(bare)["Options"] is None
    assert rfc3339(0.0).startswith("19")


def test_list_filters() -> None:
    assert volume_matches(filters(name=["at"]), NAMED, [])
    assert not volume_matches(filters(name=["^at"]), NAMED, [])
    assert volume_matches(filters(label=["tier=db"]), NAMED, [])
    assert not volume_matches(filters(label=["tier=web"]), NAMED, [])
    assert volume_matches(filters(dangling=["true"]), NAMED, [])
    assert not volume_matches(filters(dangling=["true"]), NAMED, ["c1"])
    assert volume_matches(filters(dangling=["false"]), NAMED, ["c1"])
    assert not volume_matches(filters(driver=["nfs"]), NAMED, [])


def test_prune_takes_unused_volumes_without_options() -> None:
    none = Filters()
    old_api, new_api = (1, 41), (1, 43)
    assert prunable(none, NAMED, [], old_api)
    assert not prunable(none, NAMED, ["c1"], old_api)
    assert not prunable(none, TMPFS, [], old_api)
    # From API 1.42 only anonymous volumes, unless all=true.
    assert not prunable(none, NAMED, [], new_api)
    assert prunable(none, ANON, [], new_api)
    assert prunable(filters(all=["true"]), NAMED, [], new_api)
    assert not prunable(filters(label_not=["tier"]), NAMED, [], old_api)
    assert not prunable(filters(label=["other"]), NAMED, [], old_api)
    with pytest.raises(InvalidArgument, match="only one value is expected"):
        prunable(filters(all=["true", "false"]), NAMED, [], new_api)


def test_create_request() -> None:
    assert create_request(None) == ("", "", None, None)
    body = {"Name": "v1", "Driver": "local", "Labels": {}, "DriverOpts": {"type": "tmpfs"}}
    assert create_request(body) == ("v1", "local", {}, {"type": "tmpfs"})
    with pytest.raises(InvalidArgument, match="unknown field 'Size'"):
        create_request({"Size": 1})
    with pytest.raises(InvalidArgument, match="Labels must be a map of strings"):
        create_request({"Labels": {"a": 1}})
