"""Container logs as Docker keeps and serves them: json-file records, the copier's line splitting,
rotation, which records a window selects, the times of --since/--until and the lines sent."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from pathlib import Path

import pytest

from swarmpy.dockerjson.logtime import (
    get_timestamp,
    parse_go_duration_ns,
    parse_rfc3339_ns,
    parse_timestamp_ns,
    query_time_ns,
    rfc3339_nano_fixed,
)
from swarmpy.engine.jsonlog import (
    LogRecord,
    LogWindow,
    decode,
    last_lines,
    legacy_records,
    read_log,
    select,
)
from swarmpy.engine.logshim import LineSplitter, LogFile, encode, rfc3339_nano, rotated_paths
from swarmpy.errors import InvalidArgument
from swarmpy.server.logstream import LogOptions, container_tail, log_line, parse_tail

NANOS = 1_000_000_000
T0 = 1_767_225_600 * NANOS  # 2026-01-01T00:00:00Z


def test_a_record_is_dockers_json_file_line_and_reads_back() -> None:
    raw = encode("stderr", T0 + 120_000, b'say "<hi>" & \tgo\n')
    assert raw == (
        b'{"log":"say \\"\\u003chi\\u003e\\" \\u0026 \\u0009go\\n","stream":"stderr",'
        b'"time":"2026-01-01T00:00:00.00012Z"}\n'
    )
    assert json.loads(raw)["log"] == 'say "<hi>" & \tgo\n'
    assert decode(raw) == LogRecord("stderr", T0 + 120_000, b'say "<hi>" & \tgo\n')


def test_bytes_that_are_not_utf8_become_the_replacement_character() -> None:
    record = decode(encode("stdout", T0, b"caf\xc3\xa9 \xff\n"))
    assert record is not None
    assert record.line == "café \ufffd\n".encode()


def test_a_torn_or_foreign_line_is_no_record() -> None:
    assert decode(b'{"log":"x","stream":"stdout","ti') is None
    assert decode(b"plain text") is None


def test_times_keep_their_nanoseconds() -> None:
    assert rfc3339_nano(T0) == "2026-01-01T00:00:00Z"
    assert rfc3339_nano(T0 + 5) == "2026-01-01T00:00:00.000000005Z"
    assert rfc3339_nano_fixed(T0 + 5_000) == "2026-01-01T00:00:00.000005000Z"
    assert parse_rfc3339_ns("2026-01-01T00:00:00.000000005Z") == T0 + 5
    assert parse_rfc3339_ns("2026-01-01T02:00:00.5+02:00") == T0 + NANOS // 2


def test_lines_are_stamped_when_their_newline_comes() -> None:
    split = LineSplitter()
    assert split.feed(b"one\ntw", 10) == [(10, b"one\n")]
    assert split.feed(b"o\n\nthree", 20) == [(20, b"two\n"), (20, b"\n")]
    # The end of the stream: the last line goes out without a newline.
    assert split.flush(30) == [(30, b"three")]
    assert split.flush(40) == []


def test_a_long_line_goes_in_pieces_with_the_time_of_the_first() -> None:
    split = LineSplitter(buf_size=4)
    assert split.feed(b"abcdefghij", 10) == [(10, b"abcd"), (10, b"efgh")]
    assert split.feed(b"k\nnext\n", 20) == [(10, b"ijk\n"), (20, b"next\n")]


def test_the_file_is_rotated_at_its_size_keeping_max_file(tmp_path: Path) -> None:
    path = str(tmp_path / "c-json.log")
    log = LogFile(path, max_size=100, max_file=3)
    records = [encode("stdout", T0 + i, f"line {i}\n".encode()) for i in range(12)]
    for record in records:
        log.write(record)
    os.close(log.fd)
    files = rotated_paths(path, 3)
    assert files == [f"{path}.2", f"{path}.1", path]
    assert all(os.path.getsize(f) <= 100 for f in files)
    assert all(os.stat(f).st_mode & 0o777 == 0o600 for f in files)
    kept = b"".join(Path(f).read_bytes() for f in files)
    # The oldest records went with the oldest file; the rest are whole and in order.
    assert kept.endswith(b"".join(records[-3:]))
    assert records[0] not in kept


def test_one_file_starts_again_when_full(tmp_path: Path) -> None:
    path = str(tmp_path / "c-json.log")
    log = LogFile(path, max_size=100, max_file=1)
    for i in range(5):
        log.write(encode("stdout", T0 + i, f"line {i}\n".encode()))
    os.close(log.fd)
    assert rotated_paths(path, 1) == [path]
    assert os.path.getsize(path) <= 100


def test_an_older_daemons_log_reads_as_stdout_at_its_last_change(tmp_path: Path) -> None:
    path = tmp_path / "container.log"
    path.write_bytes(b"one\ntwo\nthree")
    os.utime(path, ns=(T0, T0))
    assert legacy_records(path, 2) == [
        LogRecord("stdout", T0, b"two\n"),
        LogRecord("stdout", T0, b"three"),
    ]
    assert len(legacy_records(path, -1)) == 3
    assert legacy_records(path, 0) == []
    assert legacy_records(tmp_path / "none", -1) == []


def test_tail_takes_the_last_lines_across_files() -> None:
    newest_first = [b"e\nf\n", b"c\nd\n", b"a\nb\n"]
    assert last_lines(newest_first, 3) == [b"d", b"e", b"f"]
    assert last_lines(newest_first, 10) == [b"a", b"b", b"c", b"d", b"e", b"f"]
    assert last_lines(newest_first, 0) == []


def test_since_and_until_select_by_time_inclusive() -> None:
    records = [LogRecord("stdout", t, b"x\n") for t in (10, 20, 30, 40)]

    def times(window: LogWindow) -> list[int]:
        return [r.time_ns for r in select(records, window)]

    assert times(LogWindow()) == [10, 20, 30, 40]
    assert times(LogWindow(since_ns=20)) == [20, 30, 40]
    assert times(LogWindow(until_ns=30)) == [10, 20, 30]
    assert times(LogWindow(since_ns=15, until_ns=35)) == [20, 30]


def test_durations_as_go_reads_them() -> None:
    assert parse_go_duration_ns("1m30s") == 90 * NANOS
    assert parse_go_duration_ns("1.5h") == 5400 * NANOS
    assert parse_go_duration_ns("-2s") == -2 * NANOS
    assert parse_go_duration_ns("10") is None
    assert parse_go_duration_ns("2026-01-01") is None


def test_the_cli_sends_since_as_seconds_and_nanoseconds() -> None:
    now = T0 + 500_000_000
    # A duration: whole seconds before now, as docker's client.
    assert get_timestamp("1m", now) == str(T0 // NANOS - 60)
    assert get_timestamp("2026-01-01T00:00:01.25Z", now) == f"{T0 // NANOS + 1}.250000000"
    assert get_timestamp("2026-01-01", now) == f"{T0 // NANOS}.000000000"
    # Without a zone the time is local (here two hours east of UTC).
    assert get_timestamp("2026-01-01T02:00:00", now, 7200) == f"{T0 // NANOS}.000000000"
    assert get_timestamp("1767225600.5", now) == "1767225600.5"
    with pytest.raises(InvalidArgument, match="failed to parse value as time or duration"):
        get_timestamp("yesterday", now)
    with pytest.raises(InvalidArgument, match='parsing time "2026-13-01"'):
        get_timestamp("2026-13-01", now)


def test_the_daemon_reads_seconds_and_nanoseconds() -> None:
    assert parse_timestamp_ns("1767225600") == T0
    assert parse_timestamp_ns("1767225600.000000001") == T0 + 1
    assert parse_timestamp_ns("1767225600.5") == T0 + NANOS // 2
    assert query_time_ns("", "since") == 0
    with pytest.raises(InvalidArgument, match="could not parse since timestamp"):
        query_time_ns("1m", "since")
    # Beyond int64 nanoseconds: the farthest time, not an overflow.
    assert query_time_ns("99999999999999", "until") == 2**63 - 1


def test_tail_values_of_containers_and_services() -> None:
    assert container_tail("3") == 3
    assert container_tail("all") == container_tail("x") == container_tail("-2") == -1
    assert parse_tail("all") == parse_tail("") == -1
    with pytest.raises(InvalidArgument, match="tail value must be a positive integer"):
        parse_tail("x")
    with pytest.raises(InvalidArgument, match="negative tail values not supported"):
        parse_tail("-1")
    with pytest.raises(InvalidArgument, match="tail value must be a positive integer"):
        parse_tail("9" * 30)
    assert container_tail("9" * 30) == -1


def test_a_line_sent_with_its_time_and_details() -> None:
    plain = LogOptions(False, -1, False, False, True, True)
    stamped = LogOptions(False, -1, True, True, True, True)
    assert log_line(b"hi\n", T0 + 7, None, plain) == b"hi\n"
    assert log_line(b"hi\n", T0 + 7, b"k=v", stamped) == b"2026-01-01T00:00:00.000000007Z k=v hi\n"
    # A container's line has no details: just the space, as Docker's.
    assert log_line(b"hi\n", T0, None, LogOptions(False, -1, False, True, True, True)) == b" hi\n"


def test_follow_reads_across_a_rotation_until_the_keeper_ends(tmp_path: Path) -> None:
    log_path = tmp_path / "c-json.log"
    lock = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(lock, fcntl.LOCK_EX)  # as a keeper holds it while it writes
    log = LogFile(str(log_path), max_size=250, max_file=2)
    log.write(encode("stdout", T0, b"before\n"))

    async def scenario() -> list[bytes]:
        got: list[bytes] = []
        reader = read_log(tmp_path, log_path, LogWindow(follow=True))
        got.append((await anext(reader)).line)
        # Enough to rotate the file once under the follower, then the keeper ends.
        for i in range(4):
            log.write(encode("stderr", T0 + i, f"after {i}\n".encode()))
        os.close(lock)
        got += [record.line async for record in reader]
        return got

    lines = asyncio.run(asyncio.wait_for(scenario(), 30))
    os.close(log.fd)
    assert len(rotated_paths(str(log_path), 2)) == 2  # it did rotate
    assert lines == [b"before\n"] + [f"after {i}\n".encode() for i in range(4)]
