"""The service flag parsers refuse, in the managers' words, what the managers would refuse,
and never fail on a number too long for a float."""

from __future__ import annotations

import pytest

from swarmpy.cli import specflags
from swarmpy.errors import InvalidArgument


def refused(parse: object, *args: object) -> str:
    assert callable(parse)
    with pytest.raises(InvalidArgument) as info:
        parse(*args)
    message = str(info.value)
    assert "\n" not in message
    assert len(message) < 300
    return message


@pytest.mark.parametrize(
    ("text", "nano"), [("0.5", 500_000_000), ("2", 2_000_000_000), ("0.001", 1_000_000)]
)
def test_cpus_parse_exactly(text: str, nano: int) -> None:
    assert specflags.nano_cpus(text) == nano


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "1e999999999", "9" * 5000, "lots"])
def test_cpus_that_are_no_number_are_refused(text: str) -> None:
    message = refused(specflags.nano_cpus, text)
    assert "invalid CPU value" in message or "Must be at most" in message


def test_cpus_below_the_minimum_are_refused_as_the_managers_do() -> None:
    assert refused(specflags.nano_cpus, "0.0001") == (
        "invalid cpu value 0.0001: Must be at least 0.001"
    )
    assert "Must be at least 0.001" in refused(specflags.nano_cpus, "-1")


def test_sizes_are_exact_and_bounded() -> None:
    assert specflags.memory_bytes("4m") == 4 * 1024**2
    assert specflags.memory_bytes("0") == 0
    assert refused(specflags.memory_bytes, "1k") == (
        "invalid memory value 1024: Must be at least 4MiB"
    )
    assert "Must be at most" in refused(specflags.memory_bytes, "9" * 5000 + "t")


def test_replicas_and_env_are_refused_as_the_managers_do() -> None:
    assert "at most 100000 replicas" in refused(specflags.scale_pairs, ["web=1000000000000"])
    assert "must be >= 0" in refused(specflags.scale_pairs, ["web=-1"])
    assert "NUL" in refused(specflags.env_list, [], ["A=\0"], [])
    assert "expected KEY=VALUE" in refused(specflags.env_list, [], ["A"], [])


def test_labels_are_checked_where_they_are_parsed() -> None:
    assert specflags.key_values(["a=1", "b"], "label") == (("a", "1"), ("b", ""))
    assert "at most 4096" in refused(specflags.key_values, ["a=" + "v" * 5000], "label")


def test_a_command_line_flag_with_an_open_quote_is_refused() -> None:
    assert specflags.words("sh -c 'echo hi'", "--args") == ("sh", "-c", "echo hi")
    assert refused(specflags.words, "'open", "--args") == (
        'invalid --args "\'open": No closing quotation'
    )


def test_a_tail_beyond_any_log_is_all_of_it() -> None:
    from swarmpy.cli.container import parse_tail

    assert parse_tail("10") == 10
    assert parse_tail("all") == -1
    assert parse_tail("9" * 30) == -1  # did not fit the request's int64: a traceback
