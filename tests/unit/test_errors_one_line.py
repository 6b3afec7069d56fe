"""Every error a user sees is one line, whatever value it quotes."""

from __future__ import annotations

from swarmpy.errors import InvalidArgument, NotFound, one_line


def test_control_characters_in_a_quoted_value_are_escaped() -> None:
    assert str(NotFound("No such node: a\nb")) == "No such node: a\\nb"
    assert NotFound("x\x1b[31m\x1e").message == "x\\x1b[31m\\x1e"
    # A byte that was not UTF-8 in argv (a lone surrogate) would not even print.
    assert InvalidArgument("bad \udcff").message == "bad \\udcff"


def test_a_plain_message_is_unchanged() -> None:
    assert one_line("No such service: é web") == "No such service: é web"
