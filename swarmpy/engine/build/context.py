"""The build context on disk, and COPY/ADD from it (or from another stage) into a rootfs.

The context arrives as a tar (the body of POST /build); it is unpacked with the layer
extractor's checks (no entry outside the context dir, none through a symlink) and pruned by its
.dockerignore. Writes into a rootfs resolve every path inside the rootfs, so a symlink in the
image (``/lib -> /usr/lib``, or one pointing at the host's /) never leads a copy out of it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from swarmpy.engine import modes
from swarmpy.engine.build.dockerfile import DockerfileError
from swarmpy.engine.build.ignore import DOCKERIGNORE, excluded, parse_ignore
from swarmpy.engine.images.untar import Extractor
from swarmpy.errors import ImageError, InvalidArgument

_CHUNK = 1 << 20
_MAX_SYMLINKS = 40
_WILDCARDS = frozenset("*?[")


def unpack_context(stream: BinaryIO, dest: Path) -> None:
    """Unpack a (possibly compressed) context tar into ``dest``."""
    extractor = Extractor(dest)
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                extractor.add(tar, member)
    except (tarfile.TarError, EOFError) as exc:
        raise InvalidArgument(f"failed to read the build context: {exc}") from None
    except ImageError as exc:
        raise InvalidArgument(f"invalid build context: {exc.message}") from None
    extractor.finish()


def apply_dockerignore(root: Path) -> None:
    """Remove what the context's .dockerignore leaves out (a no-op without one)."""
    try:
        text = (root / DOCKERIGNORE).read_text(errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return
    patterns = parse_ignore(text)
    if not patterns:
        return
    dirs: list[str] = []
    for current, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(current, root)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(current, d))]:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if excluded(rel, patterns):
                os.unlink(os.path.join(current, name))
        for name in dirnames:
            dirs.append(name if rel_dir == "." else f"{rel_dir}/{name}")
    for rel in reversed(dirs):  # deepest first: a dir goes once what it kept is gone
        path = root / rel
        if (
            not path.is_symlink()
            and path.is_dir()
            and excluded(rel, patterns)
            and not any(path.iterdir())
        ):
            path.rmdir()


# ---------------------------------------------------------------- sources


def has_wildcards(path: str) -> bool:
    return any(c in _WILDCARDS for c in path)


def clean_source(src: str) -> str:
    cleaned = posixpath.normpath("/" + src).lstrip("/")
    if posixpath.normpath(src).startswith("../") or posixpath.normpath(src) == "..":
        raise DockerfileError(f"Forbidden path outside the build context: {src} ()")
    return cleaned


def find_sources(root: Path, src: str, cmd: str, from_image: bool) -> list[str]:
    """The paths (relative to ``root``) that ``src`` names; Docker's error when none."""
    rel = clean_source(src)
    if has_wildcards(rel):
        matches = sorted(p for p in _all_paths(root) if fnmatch.fnmatchcase(p, rel))
        if not matches and not from_image:
            raise DockerfileError(f"{cmd} failed: no source files were specified")
        return matches
    if rel and not os.path.lexists(root / rel):
        where = "" if from_image else "file not found in build context or excluded by "
        where += "" if from_image else ".dockerignore: "
        raise DockerfileError(f"{cmd} failed: {where}stat {rel}: file does not exist")
    return [rel]


def _all_paths(root: Path) -> list[str]:
    out = []
    for current, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(current, root)
        for name in dirnames + filenames:
            out.append(name if rel_dir == "." else f"{rel_dir}/{name}")
    return out


def source_hash(root: Path, rels: list[str]) -> str:
    """Docker's cache string for COPY/ADD sources: ``file:<sha>``, ``dir:<sha>`` or, for
    several, ``multi:<sha>`` over theirs. Contents and modes count; times do not."""
    return combined_hash([_one_hash(root / rel if rel else root) for rel in rels])


def combined_hash(hashes: list[str]) -> str:
    """One source's hash, or ``multi:<sha>`` over several (ADD mixes context and URLs)."""
    if len(hashes) == 1:
        return hashes[0]
    return "multi:" + hashlib.sha256(",".join(hashes).encode()).hexdigest()


def _one_hash(path: Path) -> str:
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        return "file:" + _entry_hash(path, st)
    hasher = hashlib.sha256()
    for current, dirnames, filenames in os.walk(path):
        dirnames.sort()
        rel_dir = os.path.relpath(current, path)
        for name in sorted(dirnames + filenames):
            entry = Path(current) / name
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            hasher.update(f"{rel}\0{_entry_hash(entry, os.lstat(entry))}\n".encode())
    return "dir:" + hasher.hexdigest()


def _entry_hash(path: Path, st: os.stat_result) -> str:
    hasher = hashlib.sha256(f"{st.st_mode:o}\0".encode())
    if stat.S_ISLNK(st.st_mode):
        hasher.update(os.readlink(path).encode())
    elif stat.S_ISREG(st.st_mode):
        with path.open("rb") as data:
            while chunk := data.read(_CHUNK):
                hasher.update(chunk)
    return hasher.hexdigest()


# ---------------------------------------------------------------- writing into a rootfs


def secure_join(root: Path, path: str) -> Path:
    """``path`` inside ``root`` with every symlink on the way resolved inside ``root`` too."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink() and parts is not None:
            hops += 1
            if hops > _MAX_SYMLINKS:
                raise InvalidArgument(f"too many levels of symbolic links: {path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


def normalize_dest(workdir: str, dest: str) -> str:
    """A relative destination is relative to WORKDIR; a trailing / (a directory) is kept."""
    is_dir = dest.endswith("/") or dest in (".", "")
    joined = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    cleaned = posixpath.normpath(joined)
    return cleaned + "/" if is_dir and cleaned != "/" else cleaned


def copy_sources(
    src_root: Path,
    rels: list[str],
    rootfs: Path,
    dest: str,
    owner: Owner | None,
    cmd: str,
    decompress: bool = False,
) -> None:
    """COPY/ADD ``rels`` (under ``src_root``) to ``dest`` (absolute, normalised) in ``rootfs``.

    ``owner`` None keeps the sources' owners (COPY --from); else everything is theirs."""
    dest_is_dir = dest.endswith("/")
    if len(rels) > 1 and not dest_is_dir:
        raise DockerfileError(
            f"When using {cmd} with more than one source file, the destination must be a "
            "directory and end with a /"
        )
    for rel in rels:
        src = src_root / rel if rel else src_root
        st = os.lstat(src)
        if stat.S_ISDIR(st.st_mode):
            target = make_dirs(rootfs, dest.rstrip("/") or "/", owner)
            _copy_tree(src, rootfs, dest.rstrip("/") or "/", owner)
            continue
        if decompress and _is_archive(src):
            target = make_dirs(rootfs, dest.rstrip("/") or "/", owner)
            _extract_archive(src, target)
            continue
        target_path = dest.rstrip("/") or "/"
        existing = secure_join(rootfs, target_path)
        if dest_is_dir or (existing.is_dir() and not existing.is_symlink()):
            target_path = posixpath.join(target_path, posixpath.basename(rel) or rel)
        make_dirs(rootfs, posixpath.dirname(target_path), owner)
        _copy_entry(src, st, secure_join(rootfs, target_path), owner)


def make_dirs(rootfs: Path, path: str, owner: Owner | None) -> Path:
    current = ""
    for part in [p for p in path.split("/") if p]:
        current += "/" + part
        target = secure_join(rootfs, current)
        if not os.path.lexists(target):
            target.mkdir()
            os.chmod(target, modes.DIR_MODE)
            if owner is not None:
                os.chown(target, owner.uid, owner.gid)
        elif not target.is_dir():
            raise DockerfileError(f"failed to copy files: mkdir {current}: not a directory")
    return secure_join(rootfs, path)


def _copy_tree(src: Path, rootfs: Path, dest: str, owner: Owner | None) -> None:
    top = secure_join(rootfs, dest)
    _apply_owner_mode(top, os.lstat(src), owner)
    for current, dirnames, filenames in os.walk(src):
        dirnames.sort()
        rel_dir = os.path.relpath(current, src)
        for name in sorted(dirnames + filenames):
            entry = Path(current) / name
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            _copy_entry(entry, os.lstat(entry), secure_join(rootfs, f"{dest}/{rel}"), owner)


def _copy_entry(src: Path, st: os.stat_result, target: Path, owner: Owner | None) -> None:
    mode = st.st_mode
    if os.path.lexists(target) and not (stat.S_ISDIR(mode) and target.is_dir()):
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
    if stat.S_ISDIR(mode):
        if not target.exists():
            target.mkdir()
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), target)
    elif stat.S_ISREG(mode):
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out, src.open("rb") as data:
            shutil.copyfileobj(data, out, _CHUNK)
    else:
        return  # devices, fifos and sockets of a context are not copied
    _apply_owner_mode(target, st, owner)


def _apply_owner_mode(target: Path, st: os.stat_result, owner: Owner | None) -> None:
    uid, gid = (owner.uid, owner.gid) if owner is not None else (st.st_uid, st.st_gid)
    os.chown(target, uid, gid, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(target, stat.S_IMODE(st.st_mode))
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def _is_archive(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _extract_archive(src: Path, target: Path) -> None:
    with src.open("rb") as stream:
        extractor = Extractor(target)
        try:
            with tarfile.open(fileobj=stream, mode="r|*") as tar:
                for member in tar:
                    extractor.add(tar, member)
        except (tarfile.TarError, EOFError, ImageError) as exc:
            raise DockerfileError(f"ADD failed: cannot extract {src.name}: {exc}") from None
        extractor.finish()
