"""A leader applies the commands it proposed from the objects it pickled them from."""

from __future__ import annotations

from swarmpy.manager.state.raft.patches import _OwnCommands


def test_a_proposed_command_is_applied_once_from_its_objects() -> None:
    own = _OwnCommands()
    command = b"\x00" + b"pickled ops"
    with own.proposing(lambda: "applied from the objects"):
        assert own.remember(command)
    apply = own.take(command)
    assert apply is not None
    assert apply() == "applied from the objects"
    assert own.take(command) is None  # once: a second apply would unpickle


def test_only_the_very_bytes_proposed_match() -> None:
    own = _OwnCommands()
    command = b"\x00" + b"pickled ops"
    with own.proposing(lambda: None):
        own.remember(command)
    # Equal bytes read back from the journal or sent by a leader are not the same object.
    assert own.take(bytes(bytearray(command))) is None
    assert not own.remember(b"\x00other")  # outside ``proposing``: nothing to remember


def test_commands_never_applied_do_not_pile_up() -> None:
    own = _OwnCommands()
    commands = [b"\x00" + str(i).encode() for i in range(_OwnCommands.LIMIT + 10)]
    for command in commands:
        with own.proposing(lambda: None):
            own.remember(command)
    assert own.take(commands[0]) is None  # the oldest went past the bound
    assert own.take(commands[-1]) is not None
    own.clear()  # leadership lost: none of them will be applied here
    assert not own
