"""The JSONMessage display of pull, push and build, against moby's pkg/jsonmessage."""

from __future__ import annotations

import io
from typing import Any

import pytest

from swarmpy.cli.jsonmessage import Display
from swarmpy.errors import SwarmpyError

PULL: list[dict[str, Any]] = [
    {"status": "Pulling from library/busybox", "id": "latest"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "a1"},
    {"status": "Pulling fs layer", "progressDetail": {}, "id": "b2"},
    {
        "status": "Downloading",
        "progressDetail": {"current": 1_200_000, "total": 3_400_000},
        "progress": "[=>  ]  1.2MB/3.4MB",
        "id": "a1",
    },
    {"status": "Pull complete", "progressDetail": {}, "id": "a1"},
    {"status": "Digest: sha256:ab"},
]


def _shown(messages: list[dict[str, Any]], terminal: bool, width: int = 200) -> str:
    out = io.StringIO()
    Display(out, terminal, width).show_all(messages)
    return out.getvalue()


def test_without_a_terminal_progress_is_left_out_and_the_rest_are_lines() -> None:
    assert _shown(PULL, terminal=False) == (
        "latest: Pulling from library/busybox\n"
        "a1: Pulling fs layer\n"
        "b2: Pulling fs layer\n"
        "a1: Pull complete\n"
        "Digest: sha256:ab\n"
    )


def test_on_a_terminal_each_layer_is_one_line_rewritten_in_place() -> None:
    bar = "[" + "=" * 17 + ">" + " " * 33 + "]    1.2MB/3.4MB"
    assert _shown(PULL, terminal=True) == (
        "latest: Pulling from library/busybox\n"
        # a1's line made, the cursor up to it, the line erased and written, back down.
        "\n\x1b[1A\x1b[2K\ra1: Pulling fs layer \r\x1b[1B"
        "\n\x1b[1A\x1b[2K\rb2: Pulling fs layer \r\x1b[1B"
        f"\x1b[2A\x1b[2K\ra1: Downloading {bar}\r\x1b[2B"
        "\x1b[2A\x1b[2K\ra1: Pull complete \r\x1b[2B"
        "Digest: sha256:ab\n"
    )


def test_a_narrow_terminal_has_no_bar_and_a_new_status_starts_the_lines_anew() -> None:
    shown = _shown(PULL[3:4], terminal=True, width=80)
    assert shown == "\n\x1b[1A\x1b[2K\ra1: Downloading    1.2MB/3.4MB\r\x1b[1B"
    # After a line that is no object's progress, a known id gets a line of its own again.
    again = _shown([PULL[1], {"status": "next"}, PULL[1]], terminal=True)
    assert again.count("\n\x1b[1A") == 2


def test_stream_aux_and_errors() -> None:
    out = io.StringIO()
    seen: list[Any] = []
    display = Display(out, True, 200, seen.append)
    display.show({"stream": "Step 1/2 : FROM busybox\n"})
    display.show({"aux": {"ID": "sha256:cd"}})
    assert out.getvalue() == "Step 1/2 : FROM busybox\n"
    assert seen == [{"ID": "sha256:cd"}]
    with pytest.raises(SwarmpyError) as info:
        display.show({"error": "manifest unknown", "errorDetail": {"message": "manifest unknown"}})
    assert info.value.remote
    assert info.value.message == "manifest unknown"
