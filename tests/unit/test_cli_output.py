"""The pure formatting of the container and image commands: docker's columns and truncation."""

from __future__ import annotations

import time

import pytest

from swarmpy.cli import container, engine, image
from swarmpy.errors import InvalidArgument, NotFound


def test_ellipsis_cuts_to_width_with_the_last_character_an_ellipsis() -> None:
    assert container.ellipsis("sleep 600", 20) == "sleep 600"
    assert container.ellipsis("x" * 20, 20) == "x" * 20
    assert container.ellipsis("x" * 21, 20) == "x" * 19 + "…"
    assert container.ellipsis("abc", 1) == "a"


def test_ps_command_is_quoted_and_truncated_like_docker() -> None:
    assert container.ps_command("sleep 600", trunc=True) == '"sleep 600"'
    long = "sh -c 'while true; do echo hi; sleep 1; done'"
    assert container.ps_command(long, trunc=True) == '"sh -c \'while true; …"'
    assert container.ps_command(long, trunc=False) == f'"{long}"'
    assert container.ps_command('echo "x"', trunc=True) == '"echo \\"x\\""'


def test_ps_row_shortens_ids_and_hides_the_pinned_digest() -> None:
    doc = {  # Docker's ContainerSummary
        "Id": "0123456789abcdef" * 4,
        "Image": "busybox:latest@sha256:" + "f" * 64,
        "Command": "sleep 600",
        "Created": int(time.time()) - 5,
        "Status": "Up 5 seconds",
        "State": "running",
        "Names": ["/t.1.abc"],
    }
    row = container.ps_row(doc, trunc=True)
    assert row["ID"] == "0123456789ab"
    assert row["Image"] == "busybox:latest"
    assert row["Command"] == '"sleep 600"'
    assert row["RunningFor"] == "5 seconds ago"
    assert row["Names"] == "t.1.abc"
    full = container.ps_row(doc, trunc=False)
    assert full["ID"] == doc["Id"]
    assert full["Image"] == doc["Image"]


def test_binary_size_is_go_units_bytes_size() -> None:
    assert container.binary_size(0) == "0B"
    assert container.binary_size(1023) == "1023B"
    assert container.binary_size(1024) == "1KiB"
    assert container.binary_size(1581056) == "1.508MiB"
    assert container.binary_size(8 * 1024**3) == "8GiB"


def test_stats_row_formats_percentages_and_memory() -> None:
    limit = 8 * 1024**3
    row = container.stats_row(
        {  # Docker's Stats: two readings, 2 CPUs, 1.23% of the host's time between them
            "id": "a" * 64,
            "name": "/t.1.x",
            "cpu_stats": {
                "cpu_usage": {"total_usage": 1_000_000 + 6_172_800},
                "system_cpu_usage": 2_000_000_000 + 1_000_000_000,
                "online_cpus": 2,
            },
            "precpu_stats": {
                "cpu_usage": {"total_usage": 1_000_000},
                "system_cpu_usage": 2_000_000_000,
            },
            # The page cache the kernel may drop is not counted, as docker's CLI does.
            "memory_stats": {
                "usage": 1581056 + 4096,
                "limit": limit,
                "stats": {"inactive_file": 4096},
            },
            "pids_stats": {"current": 1},
        }
    )
    assert row == {
        "ID": "a" * 12,
        "Name": "t.1.x",
        "CPUPerc": "1.23%",
        "MemUsage": "1.508MiB / 8GiB",
        "MemPerc": "0.02%",
        "PIDs": "1",
    }


def test_stats_row_of_a_stopped_container_is_zero() -> None:
    row = container.stats_row({"id": "b" * 64, "name": "/x", "memory_stats": {}})
    assert (row["CPUPerc"], row["MemUsage"], row["MemPerc"], row["PIDs"]) == (
        "0.00%",
        "0B / 0B",
        "0.00%",
        "0",
    )


def test_top_rows_key_columns_by_position() -> None:
    columns, rows = container.top_rows(
        {"Titles": ["UID", "PID", "CMD"], "Processes": [["root", "42", "sleep 600"]]}
    )
    assert columns == [("UID", "0"), ("PID", "1"), ("CMD", "2")]
    assert rows == [{"0": "root", "1": "42", "2": "sleep 600"}]


def test_parse_tail() -> None:
    assert container.parse_tail("all") == -1
    assert container.parse_tail("3") == 3
    assert container.parse_tail("-1") == -1
    with pytest.raises(InvalidArgument):
        container.parse_tail("some")


def test_error_line_says_where_the_error_came_from() -> None:
    # docker's main prints its own errors as they are; the daemon's carry their prefix.
    local = InvalidArgument("invalid tail value: some")
    remote = NotFound("No such container: x")
    remote.remote = True
    assert engine.error_line(local) == "invalid tail value: some"
    assert engine.error_line(remote) == "Error response from daemon: No such container: x"
    assert engine.no_such("volume", "v") == "Error: No such volume: v"


def test_image_ls_rows_one_per_tag() -> None:
    rows = image.ls_rows(
        {  # Docker's ImageSummary
            "Id": "sha256:" + "2792e7baa838" * 5 + "abcd",
            "RepoTags": ["busybox:latest", "localhost:5000/tools/busybox:v2"],
            "RepoDigests": ["busybox@sha256:" + "9" * 64],
            "Created": int(time.time()) - 3,
            "Size": 1982348,
        }
    )
    assert [(r["Repository"], r["Tag"], r["Digest"]) for r in rows] == [
        ("busybox", "latest", "sha256:" + "9" * 64),
        ("localhost:5000/tools/busybox", "v2", "<none>"),
    ]
    assert rows[0]["ID"] == "2792e7baa838"
    assert rows[0]["CreatedSince"] == "3 seconds ago"
    assert rows[0]["Size"] == "1.98MB"


def test_an_untagged_image_is_one_none_row() -> None:
    (row,) = image.ls_rows({"Id": "sha256:" + "ab" * 32, "RepoTags": ["<none>:<none>"]})
    assert (row["Repository"], row["Tag"], row["ID"]) == ("<none>", "<none>", "ab" * 6)


def test_image_short_id() -> None:
    full = "sha256:" + "ab" * 32
    assert image.short_id(full) == "ab" * 6
    assert image.short_id(full, trunc=False) == full
    assert image.short_id("<missing>") == "<missing>"


def test_history_row_truncates_created_by_to_45() -> None:
    created_by = '/bin/sh -c #(nop)\tCMD ["sh", "-c", "echo a very long command line"]'
    doc = {"Id": "<missing>", "Created": 0, "CreatedBy": created_by, "Size": 0, "Comment": ""}
    row = image.history_row(doc, trunc=True)
    assert row["ID"] == "<missing>"
    assert len(row["CreatedBy"]) == 45
    assert row["CreatedBy"].endswith("…")
    assert "\t" not in row["CreatedBy"]
    assert row["Size"] == "0B"
    assert image.history_row(doc, trunc=False)["CreatedBy"] == created_by.replace("\t", " ")


def test_removed_lines() -> None:
    report = [{"Untagged": "busybox:latest"}, {"Deleted": "sha256:aa"}]
    assert image.removed_lines(report) == ["Untagged: busybox:latest", "Deleted: sha256:aa"]


def test_parse_iso_reads_the_apis_times() -> None:
    from swarmpy.cli import output

    assert output.parse_iso("1970-01-01T00:00:10.5Z") == 10.5
    assert output.parse_iso("1970-01-01T00:01:00.000000001Z") == pytest.approx(60.000000001)
    assert output.parse_iso("1970-01-01T00:00:00Z") == 0.0
    assert output.parse_iso("0001-01-01T00:00:00Z") == 0.0  # Go's zero time: none
    assert output.parse_iso("") == 0.0
