"""ADD's remote sources, as moby's classic builder fetches them (copy.go downloadSource):
an HTTP(S) GET, the file named after the URL's path (else its Content-Disposition), mode
0600, its times the Last-Modified header's (else the epoch), never extracted; its progress
told as moby's progress.Reader tells it (every 1% or 512 kB read, at most every 100 ms, and
always the last)."""

from __future__ import annotations

import email.message
import email.utils
import ipaddress
import os
import posixpath
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

from swarmpy.engine.build.dockerfile import DockerfileError

Progress = Callable[[int, int], None]  # bytes read, of the total (-1: unknown)

UNNAMED = "__unnamed__"  # moby's name for a download it cannot name
CHUNK = 1 << 16
TIMEOUT_S = 60.0
UPDATE_EVERY = 512 * 1024
RATE_S = 0.1


def is_url(src: str) -> bool:
    """moby's urlutil.IsURL: what ADD downloads (any other scheme is a path)."""
    return src.startswith(("http://", "https://"))


def download_name(url_path: str, content_disposition: str) -> str:
    """moby's getFilenameForDownload: the URL path's last element, else the
    Content-Disposition's filename, else ""."""
    if url_path and not url_path.endswith("/"):
        name = posixpath.basename(url_path)
        if name:
            return name
    if content_disposition:
        msg = email.message.Message()
        msg["Content-Disposition"] = content_disposition
        filename = msg.get_param("filename", header="Content-Disposition")
        if isinstance(filename, str) and filename and not filename.endswith("/"):
            return posixpath.basename(filename)
    return ""


def modified_time(last_modified: str) -> float:
    """The Last-Modified header as a time; the epoch when missing or unreadable (moby's zero
    time, which its Chtimes raises to the epoch)."""
    if not last_modified:
        return 0.0
    try:
        return email.utils.parsedate_to_datetime(last_modified).timestamp()
    except (TypeError, ValueError):
        return 0.0


def download(url: str, folder: Path, progress: Progress | None = None) -> str:
    """Fetch ``url`` into ``folder``; the file's name as moby names it ("" when it cannot,
    the file then being ``UNNAMED``). Errors in moby's words (GetWithStatusError)."""
    parsed = urllib.parse.urlsplit(url)
    opener = urllib.request.build_opener(*_proxy_handlers(parsed.hostname or ""))
    try:
        response = opener.open(url, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace").strip()
        raise DockerfileError(
            f"failed to GET {url} with status {exc.code} {exc.reason}: {body}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DockerfileError(f'Get "{url}": {reason}') from None
    with response:
        name = download_name(parsed.path, response.headers.get("Content-Disposition", ""))
        target = folder / (name or UNNAMED)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        length = response.headers.get("Content-Length", "")
        tell = _Teller(progress, int(length) if length.isdigit() else -1)
        with os.fdopen(fd, "wb") as out:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                tell.read(len(chunk))
        tell.end()
        os.chmod(target, 0o600)  # the umask must not narrow it further, nor widen it
        mtime = modified_time(response.headers.get("Last-Modified", ""))
        os.utime(target, (mtime, mtime))
    return name


class _Teller:
    """moby's progress.Reader over a download of ``size`` bytes (-1: unknown)."""

    def __init__(self, progress: Progress | None, size: int) -> None:
        self._progress = progress
        self._size = size
        self._current = 0
        self._last_update = 0
        self._last_told = -RATE_S
        # Every 1% of a known size, when that is less than 512 kB.
        self._every = min(UPDATE_EVERY, int(0.01 * size)) if size > 0 else UPDATE_EVERY

    def read(self, n: int) -> None:
        self._current += n
        if self._current - self._last_update > self._every:
            self._tell(last=False)
            self._last_update = self._current

    def end(self) -> None:
        self._tell(last=True)

    def _tell(self, last: bool) -> None:
        now = time.monotonic()
        if self._progress is None:
            return
        if last or self._current == self._size or now - self._last_told >= RATE_S:
            self._last_told = now
            self._progress(self._current, self._size)


def _proxy_handlers(host: str) -> list[urllib.request.BaseHandler]:
    """As Go's ProxyFromEnvironment: the environment's proxy, never for the loopback."""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return [urllib.request.ProxyHandler({})] if loopback else []
