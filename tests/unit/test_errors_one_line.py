"""Every error a user sees is one line, whatever value it quotes."""

from __future__ import annotations

import pytest

from swarmpy.errors import InvalidArgument, NotFound, one_line


def test_control_characters_in_a_quoted_value_are_escaped() -> None:
    assert str(NotFound("No such node: a\nb")) == "No such node: a\\nb"
    assert NotFound("x\x1b[31m\x1e").message == "x\\x1b[31m\\x1e"
    # A byte that was not UTF-8 in argv (a lone surrogate) would not even print.
    assert InvalidArgument("bad \udcff").message == "bad \\udcff"


def test_a_plain_message_is_unchanged() -> None:
    assert one_line("No such service: é web") == "No such service: é web"


def test_an_argument_that_is_not_utf8_is_refused_before_any_command() -> None:
    from swarmpy.cli.main import check_argv

    check_argv(["service", "create", "é"])
    with pytest.raises(InvalidArgument, match="not UTF-8 text"):
        check_argv(["service", "create", "\udcff"])
