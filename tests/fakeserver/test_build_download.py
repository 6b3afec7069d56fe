"""ADD's download from a loopback HTTP server, as moby's classic builder fetches it: the file,
and its progress told as moby's progress reader tells it."""

from __future__ import annotations

import functools
import os
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from swarmpy.engine.build import remote

pytestmark = pytest.mark.fakeserver


def test_a_download_tells_its_progress_up_to_the_whole(tmp_path: Path) -> None:
    body = os.urandom(3 * 1024 * 1024 + 5)
    served = tmp_path / "served"
    served.mkdir()
    (served / "big.bin").write_bytes(body)
    told: list[tuple[int, int]] = []
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/big.bin"
        (tmp_path / "dl").mkdir()
        name = remote.download(url, tmp_path / "dl", lambda done, total: told.append((done, total)))
        server.shutdown()
    assert name == "big.bin"
    assert (tmp_path / "dl" / "big.bin").read_bytes() == body
    # Never backwards, always of the whole, and the last one says all of it came.
    assert told == sorted(told)
    assert {total for _, total in told} == {len(body)}
    assert told[-1] == (len(body), len(body))
