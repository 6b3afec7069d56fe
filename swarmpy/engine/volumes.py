"""Local volumes, as Docker's ``local`` volume driver keeps them (moby daemon/volume/local).

A volume is a directory under the data root, ``<root>/volumes/<name>/_data``, made by
``volume create`` or on first use by a container. Beside ``_data`` the driver keeps
``opts.json`` (its mount options, as Docker's) and ``volume.json`` (labels, creation time,
whether it is anonymous: what Docker's volume store keeps in its metadata database). With
``-o type=tmpfs,device=tmpfs,o=size=64m`` (any type ``mount`` knows) the directory is a mount
point, mounted while a container uses it (at its create, to fill it, and at each start) and
unmounted once no running container does, as Docker's local driver counts its users: a tmpfs
volume's content lasts as long as some container runs with it.

A named volume mounted over a path the image has is filled from the image on first use, when
it is empty (Docker's copy-up, ``copyExistingContents``), unless the mount says
``volume-nocopy``.

Which containers use a volume is not kept here: the caller derives it from the containers'
mounts and passes it to ``remove``. The pure parts (names, options) are plain functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from swarmpy.engine import modes
from swarmpy.engine.sinks import Sinks
from swarmpy.engine.spec import Mount, MountKind
from swarmpy.errors import Conflict, InvalidArgument, NotFound, RuntimeFailure, SwarmpyError
from swarmpy.fsutil import write_atomic

DATA = "_data"
OPTS_FILE = "opts.json"
META_FILE = "volume.json"
DRIVER = "local"
SCOPE = "local"
# Docker's label on the volumes a container makes for an image's VOLUME or a --mount
# without a source.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"

_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_VALID_OPTS = ("type", "o", "device", "size")
# Docker's mandatoryOpts: an option that needs others beside it.
_MANDATORY = {"device": ("type",), "type": ("device",), "o": ("device", "type")}


def check_name(name: str) -> None:
    """Docker's local driver's validateName."""
    if len(name) == 1:
        raise InvalidArgument(
            "volume name is too short, names should be at least two alphanumeric characters"
        )
    if not _NAME_RE.fullmatch(name):
        raise InvalidArgument(
            f'"{name}" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )


def check_driver(driver: str) -> None:
    """Only the local driver: there are no volume plugins (Docker's words for a missing one)."""
    if driver not in ("", DRIVER):
        raise NotFound(f'error looking up volume plugin {driver}: plugin "{driver}" not found')


def check_options(opts: Mapping[str, str]) -> None:
    """Docker's local driver's validateOpts: type, device, o (each needing the others it
    names); size, a quota, needs a filesystem with project quotas, which swarmpy does not
    set up, so it is refused as Docker refuses it there."""
    for key in sorted(opts):
        if key not in _VALID_OPTS:
            raise InvalidArgument(f'invalid option: "{key}"')
    if "size" in opts:
        raise InvalidArgument("quota size requested but no quota support")
    for key, needed in _MANDATORY.items():
        if key in opts:
            for other in needed:
                if other not in opts:
                    raise InvalidArgument(f'missing required option: "{other}"')


def mount_argv(opts: Mapping[str, str], path: Path) -> list[str]:
    """The ``mount`` command line for a volume with options (Docker: mount.Mount(device,
    path, type, o))."""
    argv = ["mount", "-t", opts["type"]]
    if opts.get("o"):
        argv += ["-o", opts["o"]]
    return [*argv, opts["device"], str(path)]


def needs_mount(opts: Mapping[str, str]) -> bool:
    return bool(opts.get("type") or opts.get("device"))


def anonymous_name() -> str:
    """Docker names an anonymous volume with 64 random hex digits."""
    return secrets.token_hex(32)


@dataclass(frozen=True)
class Volume:
    name: str
    mountpoint: Path  # the data directory: <root>/<name>/_data
    created_at: float
    labels: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)
    # Labels and options as the client sent them: Docker shows null for a volume made
    # without a map and {} for one made with an empty map.
    labels_given: bool = True
    options_given: bool = True

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels


def volume_users(mounts_by_container: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Volume name -> the ids of the containers that mount it (running or not), from each
    container's mounted volume names."""
    users: dict[str, list[str]] = {}
    for cid, names in mounts_by_container.items():
        for name in dict.fromkeys(names):
            users.setdefault(name, []).append(cid)
    return users


class VolumeStore:
    """The local volumes under ``root`` (``<data root>/volumes``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        # Docker's volume events (create, destroy), told from the thread the call runs in.
        self.events = Sinks()

    def data_dir(self, name: str) -> Path:
        return self.root / name / DATA

    def exists(self, name: str) -> bool:
        return (self.root / name / DATA).is_dir()

    def create(
        self,
        name: str = "",
        driver: str = "",
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> Volume:
        """A new volume, or the one of that name (as Docker's: create is idempotent, the
        existing volume keeps its labels and options). No name: 64 random hex digits."""
        name = name or anonymous_name()
        try:
            check_driver(driver)
            check_name(name)
            if self.exists(name):
                return self.get(name)
            check_options(options or {})
        except SwarmpyError as e:
            # Docker's volume store names the operation and the volume (its OpErr).
            raise type(e)(f"create {name}: {e.message}") from None
        vdir = self.root / name
        # As Docker's: the volume's own directory 0701, its data 0755.
        modes.make_dir(self.root, 0o700)
        # A half-made one from an interrupted create is finished below.
        with contextlib.suppress(FileExistsError):
            vdir.mkdir(mode=0o701)
        os.chmod(vdir, 0o701)
        modes.make_dir(vdir / DATA)
        meta = {
            "CreatedAt": time.time(),
            "Labels": None if labels is None else dict(labels),
            "Options": None if options is None else dict(options),
        }
        write_atomic(vdir / OPTS_FILE, json.dumps(dict(options or {})))
        write_atomic(vdir / META_FILE, json.dumps(meta))
        self.events.tell("create", name, {"driver": DRIVER})
        return self.get(name)

    def get(self, name: str) -> Volume:
        if not name or "/" in name or name in (".", "..") or not self.exists(name):
            raise NotFound(f"get {name}: no such volume")
        vdir = self.root / name
        meta = _read_json(vdir / META_FILE)
        opts = _read_json(vdir / OPTS_FILE)
        labels = meta.get("Labels")
        options = meta.get("Options")
        created = meta.get("CreatedAt")
        if not isinstance(created, int | float):
            # Made by first use in an older swarmpy: the directory's change time, as Docker.
            created = vdir.stat().st_ctime
        return Volume(
            name=name,
            mountpoint=vdir / DATA,
            created_at=float(created),
            labels=dict(labels) if isinstance(labels, dict) else {},
            options={str(k): str(v) for k, v in opts.items()},
            labels_given=isinstance(labels, dict),
            options_given=isinstance(options, dict) or bool(opts),
        )

    def list(self) -> list[Volume]:
        if not self.root.is_dir():
            return []
        found = []
        for vdir in sorted(self.root.iterdir()):
            if (vdir / DATA).is_dir():
                try:
                    found.append(self.get(vdir.name))
                except NotFound:
                    continue  # removed meanwhile
        return found

    def remove(self, name: str, users: Sequence[str] = (), force: bool = False) -> None:
        """Remove a volume no container uses (Docker's "volume is in use - [ids]").
        ``force`` only forgives a missing volume, as Docker's."""
        if not self.exists(name):
            if force:
                return
            raise NotFound(f"get {name}: no such volume")
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
        vdir = self.root / name
        self._unmount(vdir / DATA)
        shutil.rmtree(vdir)
        self.events.tell("destroy", name, {"driver": DRIVER})

    def ensure(
        self,
        name: str,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
    ) -> Volume:
        """The volume a container names, made with ``labels`` and ``options`` if it does
        not exist yet (a service's volume-label and volume-opt, as Docker's), and mounted
        when its options say so: what a container start calls for each volume mount."""
        volume = self.create(name, labels=labels, options=options)
        self._mount(volume)
        return volume

    def mount(self, name: str) -> None:
        """The volume mounted if its options say so and it is not: a container's start."""
        self._mount(self.get(name))

    def release(self, name: str) -> None:
        """The volume unmounted if it is a mount: its last running user ended (Docker's
        local driver unmounts at its last Unmount)."""
        self._unmount(self.root / name / DATA)

    @staticmethod
    def _mount(volume: Volume) -> None:
        if needs_mount(volume.options) and not os.path.ismount(volume.mountpoint):
            done = subprocess.run(
                mount_argv(volume.options, volume.mountpoint),
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                why = done.stderr.strip().splitlines()
                raise RuntimeFailure(
                    "error while mounting volume '"
                    f"{volume.mountpoint}': failed to mount local volume: "
                    f"{why[-1] if why else 'mount exited ' + str(done.returncode)}"
                )

    def create_anonymous(self) -> Volume:
        """A volume for an image's VOLUME or a --mount without a source, labelled as
        Docker labels them (``docker run --rm`` removes these with the container)."""
        return self.create(labels={ANONYMOUS_LABEL: ""})

    def size(self, name: str) -> int:
        return dir_size(self.data_dir(name))

    @staticmethod
    def _unmount(path: Path) -> None:
        if os.path.ismount(path):
            done = subprocess.run(
                ["umount", str(path)], capture_output=True, text=True, check=False
            )
            if done.returncode != 0 and os.path.ismount(path):
                raise RuntimeFailure(f"unmount volume {path}: {done.stderr.strip()}")


def prepare_mounts(
    store: VolumeStore,
    mounts: Sequence[Mount],
    image_volumes: Sequence[str],
    rootfs: Path,
) -> tuple[Mount, ...]:
    """What a container's create does for its volumes, as Docker's daemon does: a named
    volume is made (with the mount's labels and options) and mounted if its options say so;
    a volume mount without a source, and every VOLUME of the image no mount covers, gets an
    anonymous volume; each volume that is empty is filled from the image at its target
    unless ``volume_nocopy``. The mounts, with every volume named, for the bundle.

    ``rootfs`` is the container's mounted root (the image's content)."""
    out: list[Mount] = []
    targets = {m.target.rstrip("/") or "/" for m in mounts}
    extra = [
        Mount(MountKind.VOLUME, path)
        for path in dict.fromkeys(p.rstrip("/") or "/" for p in image_volumes)
        if path not in targets
    ]
    for m in [*mounts, *extra]:
        if m.kind is not MountKind.VOLUME:
            out.append(m)
            continue
        if m.source:
            volume = store.ensure(
                m.source, dict(m.volume_labels) or None, dict(m.volume_options) or None
            )
        else:
            volume = store.create(
                labels={**dict(m.volume_labels), ANONYMOUS_LABEL: ""},
                options=dict(m.volume_options) or None,
            )
            volume = store.ensure(volume.name)
            m = replace(m, source=volume.name)
        if not m.volume_nocopy:
            copy_up(rootfs, m.target, volume.mountpoint)
        out.append(m)
    return tuple(out)


def anonymous_volumes(store: VolumeStore, names: Sequence[str]) -> list[str]:
    """Of ``names``, the volumes that are anonymous: what ``rm -v`` removes with a
    container."""
    found = []
    for name in names:
        try:
            if store.get(name).anonymous:
                found.append(name)
        except NotFound:
            continue
    return found


def copy_up(rootfs: Path, target: str, data: Path) -> bool:
    """Fill an empty volume from the image's content at ``target`` (Docker's
    copyExistingContents: only into an empty volume, with owners, modes and links kept,
    and the directory's own owner and mode). False when nothing was copied."""
    source = image_path(rootfs, target)
    if source is None or not source.is_dir() or any(data.iterdir()):
        return False
    done = subprocess.run(
        ["cp", "-a", "--", f"{source}/.", f"{data}/"], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeFailure(f"copy image content of {target} into its volume: {done.stderr}")
    st = source.stat()
    os.chown(data, st.st_uid, st.st_gid)
    os.chmod(data, st.st_mode & 0o7777)
    return True


def image_path(rootfs: Path, target: str) -> Path | None:
    """``target`` inside ``rootfs``, its symbolic links resolved inside the rootfs (an
    absolute link names a path of the container, not of the host); None if it leaves it
    or does not exist."""
    current = rootfs
    parts = [p for p in target.split("/") if p and p != "."]
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current.parent if current != rootfs else rootfs
            continue
        candidate = current / part
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                return None
            link = os.readlink(candidate)
            if link.startswith("/"):
                current = rootfs
            parts = [p for p in link.split("/") if p and p != "."] + parts
            continue
        if not candidate.exists():
            return None
        current = candidate
    return current


def dir_size(path: Path) -> int:
    """Bytes of the regular files under ``path``, each inode once (Docker's directory.Size)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
