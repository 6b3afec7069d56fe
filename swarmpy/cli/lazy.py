"""Commands built, and their modules imported, when one is used: ``swarmpy service ls`` has no
use for create's spec flags (which load the image-reference grammar and the control API's
checks), and typer's building of a command (reading its signature, its type hints, its
options) costs about a millisecond each. The CLI's start is measured (``bench/run.py cli``).
Help and completion list, and so build, them all.

A click group looks its commands up in its ``commands`` mapping; ``CommandsOnUse`` is that
mapping with each command made on first lookup."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any

import typer
from typer.core import TyperGroup

# Where a command's function is ("module:function") and what ``app.command`` takes for it
# besides the name (cls, context_settings, hidden...).
Lazy = tuple[str, Mapping[str, Any]]


class CommandsOnUse(MutableMapping[str, Any]):
    """A group's commands by name, in order, each made by ``make(name)`` when first used."""

    def __init__(self, names: Iterable[str], make: Callable[[str], Any]) -> None:
        self._made: dict[str, Any] = dict.fromkeys(names)
        self._make = make

    def __getitem__(self, name: str) -> Any:
        if name not in self._made:
            raise KeyError(name)
        if self._made[name] is None:
            self._made[name] = self._make(name)
        return self._made[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._made[name] = command

    def __delitem__(self, name: str) -> None:
        del self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._made)

    def __len__(self) -> int:
        return len(self._made)


def _from_module(name: str, lazy: Lazy) -> Any:
    target, options = lazy
    module, _, function = target.partition(":")
    sub = typer.Typer()
    sub.command(name, **options)(getattr(importlib.import_module(module), function))
    return typer.main.get_group(sub).commands[name]


def lazy_app(commands: Mapping[str, Lazy], **typer_options: Any) -> typer.Typer:
    """A noun's Typer app with ``commands`` (name -> where it is) imported on use, listed in
    the mapping's order."""
    table = dict(commands)

    class LazyNoun(TyperGroup):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.commands = CommandsOnUse(table, lambda name: _from_module(name, table[name]))

    return typer.Typer(cls=LazyNoun, **typer_options)


def group_on_use(app: typer.Typer) -> TyperGroup:
    """``typer.main.get_group(app)`` with the commands registered on ``app`` (its
    ``@app.command()``s) built on use rather than all at once."""
    registered = list(app.registered_commands)
    if app.registered_groups or not registered:
        return typer.main.get_group(app)
    infos = {
        info.name or typer.main.get_command_name(info.callback.__name__): info
        for info in registered
        if info.callback is not None
    }
    app.registered_commands = []
    try:
        group = typer.main.get_group(app)
    finally:
        app.registered_commands = registered

    def make(name: str) -> Any:
        return typer.main.get_command_from_info(
            infos[name],
            pretty_exceptions_short=app.pretty_exceptions_short,
            rich_markup_mode=app.rich_markup_mode,
        )

    group.commands = CommandsOnUse(infos, make)
    return group
