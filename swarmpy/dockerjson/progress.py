"""Docker's JSON progress messages (pkg/jsonmessage's JSONProgress as streamformatter's
formatProgress sends it): what a daemon streams while it moves bytes, the bar rendered as a
daemon renders it, with no terminal of its own (200 columns, so the bar is drawn; no start
time is sent, so no time left)."""

from __future__ import annotations

from typing import Any

from swarmpy.humanize import human_size

BAR = 50  # the bar's width in characters, as JSONProgress draws it on a wide terminal


def progress_message(action: str, current: int, total: int, ref: str = "") -> dict[str, Any]:
    """One JSONMessage: ``action`` (Docker's "Downloading"), bytes done of ``total`` (<= 0:
    unknown), for object ``ref`` ("" for none); empty fields left out, as Go's omitempty."""
    detail = {k: v for k, v in (("current", current), ("total", total)) if v > 0}
    message: dict[str, Any] = {"status": action, "progressDetail": detail}
    text = progress_text(current, total)
    if text:
        message["progress"] = text
    if ref:
        message["id"] = ref
    return message


def progress_text(current: int, total: int, width: int = 200) -> str:
    """JSONProgress.String() on a terminal of ``width`` columns (a daemon's: 200):
    ``[====>    ]  1.2MB/3.4MB``, the bar left out at 110 columns or fewer."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    done = min(int(current / total * 100) // 2, BAR)
    bar = f"[{'=' * done}>{' ' * max(0, BAR - done)}] " if width > 110 else ""
    if current > total:
        return f"{bar}{human_size(current):>8}"
    return f"{bar}{human_size(current):>8}/{human_size(total)}"
