"""A JSONMessage stream (pull, push, build) shown as docker's CLI shows it (moby's
pkg/jsonmessage DisplayJSONMessagesStream): on a terminal each object's progress (a layer's
``Downloading [==>   ]  1.2MB/3.4MB``) is drawn on a line of its own, rewritten in place with
the cursor moved up to it and back; elsewhere a message with a progress to draw is left out
and the others are plain lines."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from swarmpy.cli import engine
from swarmpy.dockerjson.progress import progress_text

ESC = "\x1b["
ERASE_LINE = ESC + "2K"


def _up(n: int) -> str:
    return f"{ESC}{n}A" if n else ""


def _down(n: int) -> str:
    return f"{ESC}{n}B" if n else ""


def _detail(message: dict[str, Any]) -> dict[str, Any] | None:
    """Its JSONProgress: None where Go's pointer is nil (absent or null)."""
    detail = message.get("progressDetail")
    return detail if isinstance(detail, dict) else None


def on(out: TextIO, aux: Callable[[Any], None] | None = None) -> Display:
    """A display on ``out``, drawn as on a terminal where it is one (its width as moby's
    term.GetWinsize finds it, 200 columns where that fails)."""
    terminal = out.isatty()
    width = 200
    if terminal:
        try:
            width = os.get_terminal_size(out.fileno()).columns
        except (OSError, ValueError):
            width = 200
    return Display(out, terminal, width, aux)


class Display:
    """DisplayJSONMessagesStream over ``out``; ``width`` is the terminal's columns (a bar is
    drawn only over 110)."""

    def __init__(
        self,
        out: TextIO,
        terminal: bool,
        width: int = 200,
        aux: Callable[[Any], None] | None = None,
    ) -> None:
        self.out, self.terminal, self.width, self.aux = out, terminal, width, aux
        self.ids: dict[str, int] = {}  # an object's line, counted from the first one drawn

    def show_all(self, messages: Iterable[dict[str, Any]]) -> None:
        for message in messages:
            self.show(message)

    def show(self, message: dict[str, Any]) -> None:
        """One message; its error is the daemon's (raised, as the CLI's stream ends on it)."""
        if "aux" in message:
            if self.aux is not None:
                self.aux(message["aux"])
            return
        ident = str(message.get("id") or "")
        diff = 0
        if ident and (_detail(message) is not None or message.get("progress")):
            line = self.ids.get(ident)
            if line is None:
                line = self.ids[ident] = len(self.ids)
                if self.terminal:
                    self.out.write("\n")
            diff = len(self.ids) - line
            if self.terminal:
                self.out.write(_up(diff))
        else:
            # Something else than an object's progress: the lines drawn so far stay as
            # they are (a pull -a's next tag draws its layers anew).
            self.ids = {}
        try:
            self._display(message, ident)
        finally:
            if ident and self.terminal:
                self.out.write(_down(diff))
            self.out.flush()

    def _display(self, message: dict[str, Any], ident: str) -> None:
        """JSONMessage.Display."""
        engine.check_message(message)
        status, stream = str(message.get("status", "")), str(message.get("stream", ""))
        detail = _detail(message)
        bar = ""
        if detail is not None:
            current, total = int(detail.get("current", 0)), int(detail.get("total", 0))
            bar = progress_text(current, total, self.width)
        endl = ""
        if self.terminal and not stream and detail is not None:
            self.out.write(ERASE_LINE)
            endl = "\r"
            self.out.write(endl)
        elif detail is not None and bar:
            return  # no bars without a terminal
        if ident:
            self.out.write(f"{ident}: ")
        if detail is not None and self.terminal:
            self.out.write(f"{status} {bar}{endl}")
        elif message.get("progress"):
            self.out.write(f"{status} {message['progress']}{endl}")
        elif stream:
            self.out.write(f"{stream}{endl}")
        else:
            self.out.write(f"{status}{endl}\n")
