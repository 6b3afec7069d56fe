"""The image endpoints' pure parts: list rows, inspect keys, ``docker images`` filters, a
pull's progress as Docker's JSON messages, load's report, and the pull reference."""

from __future__ import annotations

import json

import pytest

from swarmpy.engine.images import ImageRecord
from swarmpy.errors import InvalidArgument
from swarmpy.server.convert.image import (
    IMAGE_FILTERS,
    ImageQuery,
    error_json,
    go_path_pattern,
    inspect_json,
    load_json,
    matches,
    progress_json,
    reference_matches,
    summary,
)
from swarmpy.server.filters import parse_filters
from swarmpy.server.routes.images import pull_reference

BUSYBOX = ImageRecord(
    id="sha256:" + "1" * 64,
    repo_tags=("docker.io/library/busybox:latest", "docker.io/library/busybox:v2"),
    repo_digests=("docker.io/library/busybox@sha256:" + "2" * 64,),
    created="2024-01-01T00:00:00Z",
    size=2_000_000,
)
APP = ImageRecord(
    id="sha256:" + "3" * 64,
    repo_tags=("127.0.0.1:5000/team/app:v1",),
    created="2025-01-01T00:00:00Z",
)
DANGLING = ImageRecord(id="sha256:" + "4" * 64, created="2023-01-01T00:00:00Z")


def query(filters: dict[str, list[str]], **kw: float) -> ImageQuery:
    return ImageQuery(parse_filters(json.dumps(filters), IMAGE_FILTERS), all=False, **kw)


def test_a_list_row_has_docker_keys() -> None:
    row = summary(BUSYBOX, {"maintainer": "me"})
    assert row["Id"] == BUSYBOX.id
    assert row["RepoTags"] == ["busybox:latest", "busybox:v2"]
    assert row["RepoDigests"] == ["busybox@sha256:" + "2" * 64]
    assert row["Created"] == 1704067200
    assert (row["Size"], row["VirtualSize"], row["SharedSize"]) == (2_000_000, 2_000_000, -1)
    assert row["Labels"] == {"maintainer": "me"}
    assert summary(DANGLING, None)["RepoTags"] == []


def test_inspect_gets_the_rest_of_docker_keys_without_losing_the_store_ones() -> None:
    out = inspect_json({"Id": "sha256:x", "Size": 5, "Created": "2024-01-01T00:00:00Z"})
    assert (out["Id"], out["VirtualSize"], out["Parent"]) == ("sha256:x", 5, "")
    assert out["GraphDriver"]["Name"] == "overlay"


def test_go_path_patterns_stop_at_slashes() -> None:
    assert go_path_pattern("busy*").match("busybox")
    assert not go_path_pattern("*").match("team/app")
    assert go_path_pattern("*/*").match("team/app")
    assert go_path_pattern("b?sybox:[lv]*").match("busybox:latest")
    assert not go_path_pattern("busybox").match("busybox:latest")


def test_reference_filter_matches_a_reference_or_its_name() -> None:
    assert reference_matches(["busybox"], BUSYBOX)
    assert reference_matches(["busybox:v2"], BUSYBOX)
    assert reference_matches(["busy*:lat*"], BUSYBOX)
    assert not reference_matches(["busybox:v3"], BUSYBOX)
    assert reference_matches(["127.0.0.1:5000/team/app"], APP)
    assert reference_matches(["127.0.0.1:5000/*/app:v1"], APP)
    assert not reference_matches(["app"], APP)
    assert not reference_matches(["*"], DANGLING)


def test_dangling_label_before_since() -> None:
    assert matches(query({"dangling": ["true"]}), DANGLING, {})
    assert not matches(query({"dangling": ["true"]}), BUSYBOX, {})
    assert matches(query({"dangling": ["false"]}), BUSYBOX, {})
    assert matches(query({"label": ["tier=db"]}), APP, {"tier": "db"})
    assert not matches(query({"label": ["tier"]}), APP, {})
    assert matches(query({}, before=1735689600.0), BUSYBOX, {})
    assert not matches(query({}, before=1735689600.0), APP, {})
    assert matches(query({}, since=1704067200.0), APP, {})
    assert not matches(query({}, since=1704067200.0), BUSYBOX, {})
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling=maybe'"):
        query({"dangling": ["maybe"]}).filters.bool_value("dangling")


def test_progress_lines_become_docker_json_messages() -> None:
    assert progress_json("latest: Pulling from library/busybox") == {
        "status": "Pulling from library/busybox",
        "progressDetail": {},
        "id": "latest",
    }
    assert progress_json("0123456789ab: Pull complete") == {
        "status": "Pull complete",
        "progressDetail": {},
        "id": "0123456789ab",
    }
    assert progress_json("Digest: sha256:abc") == {"status": "Digest: sha256:abc"}
    assert progress_json("Status: Downloaded newer image for busybox:latest") == {
        "status": "Status: Downloaded newer image for busybox:latest"
    }
    assert error_json("manifest unknown") == {
        "errorDetail": {"message": "manifest unknown"},
        "error": "manifest unknown",
    }


def test_load_reports_each_tag_or_the_id() -> None:
    assert load_json(BUSYBOX) == [
        {"stream": "Loaded image: busybox:latest\n"},
        {"stream": "Loaded image: busybox:v2\n"},
    ]
    assert load_json(DANGLING) == [{"stream": f"Loaded image ID: {DANGLING.id}\n"}]


def test_pull_reference_from_from_image_and_tag() -> None:
    assert pull_reference("busybox", "latest") == "busybox:latest"
    assert pull_reference("busybox", "") == "busybox"
    assert pull_reference("busybox", "sha256:" + "a" * 64) == "busybox@sha256:" + "a" * 64
    with pytest.raises(InvalidArgument, match="fromSrc"):
        pull_reference("", "latest")
