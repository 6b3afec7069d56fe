"""Daemon sets alive at once never share a tag: a set's teardown kills the processes and
deletes the namespaces named with its tag, so a shared one killed the other set's containers
(a rolling update then paused on a replacement whose namespace had vanished)."""

from __future__ import annotations

import secrets

import pytest

from tests.support.daemons import DaemonSet


def test_live_daemon_sets_get_distinct_tags_even_when_the_dice_agree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(secrets, "token_hex", lambda nbytes=None: "c2")
    with DaemonSet() as first, DaemonSet() as second:
        assert first.tag != second.tag
        assert first.tag.startswith("cp")
        assert len(first.tag) == 4
    # Released with the sets: the next one may take it again.
    with DaemonSet() as again, DaemonSet() as other:
        assert {again.tag, other.tag} == {first.tag, second.tag}
