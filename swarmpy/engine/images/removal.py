"""What ``docker rmi`` may do to an image, decided as dockerd's image_delete.go does: which
references go with the one named, and which conflict, if any, keeps the image. Pure: the store
applies the answers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

# The containers made from an image, by image id: (container id, running) each.
ImageUsers = Callable[[str], Sequence[tuple[str, bool]]]


def no_users(_image_id: str) -> Sequence[tuple[str, bool]]:
    return ()


def repository(ref: str) -> str:
    """The repository of a stored reference (``name:tag`` or ``name@digest``)."""
    if "@" in ref:
        return ref.split("@", 1)[0]
    return ref.rsplit(":", 1)[0]


def is_digest(ref: str) -> bool:
    return "@" in ref


def single_reference(refs: Sequence[str]) -> bool:
    """Every reference in one repository, with at most one tag (dockerd's isSingleReference):
    then removing the image by id removes its references without asking for force."""
    if len(refs) <= 1:
        return len(refs) == 1
    tags = [r for r in refs if not is_digest(r)]
    if len(tags) > 1:
        return False
    digest_repos = {repository(r) for r in refs if is_digest(r)}
    single = repository(tags[0] if tags else refs[0])
    return digest_repos == {single}


def digests_left_alone(removed: str, left: Sequence[str]) -> list[str]:
    """The digest references that go with the tag ``removed``: its repository's, once no
    other tag of that repository is left (a digest alone would list as ``<none>``)."""
    if is_digest(removed):
        return []
    name = repository(removed)
    if any(not is_digest(r) and repository(r) == name for r in left):
        return []
    return [r for r in left if is_digest(r) and repository(r) == name]


@dataclass(frozen=True)
class DeleteConflict:
    """Why an image cannot be deleted (dockerd's imageDeleteConflict)."""

    short_id: str
    message: str
    hard: bool  # "cannot be forced"
    used: bool  # a container uses it

    def __str__(self) -> str:
        forced = "cannot be forced" if self.hard else "must be forced"
        return f"conflict: unable to delete {self.short_id} ({forced}) - {self.message}"


def delete_conflict(
    short_id: str,
    has_children: bool,
    users: Sequence[tuple[str, bool]],
    has_refs: bool,
    soft: bool,
) -> DeleteConflict | None:
    """The first conflict in dockerd's order: child images and running containers always,
    then, unless forced (``soft`` False), references and stopped containers."""
    if has_children:
        return DeleteConflict(short_id, "image has dependent child images", True, False)
    running = [cid for cid, up in users if up]
    if running:
        message = f"image is being used by running container {running[0][:12]}"
        return DeleteConflict(short_id, message, True, True)
    if not soft:
        return None
    if has_refs:
        return DeleteConflict(
            short_id, "image is referenced in multiple repositories", False, False
        )
    stopped = [cid for cid, up in users if not up]
    if stopped:
        message = f"image is being used by stopped container {stopped[0][:12]}"
        return DeleteConflict(short_id, message, False, True)
    return None


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """Each layer's ChainID, lowest first: its own diff_id for the first, then the digest
    of the one below's ChainID and its diff_id (the image spec's, what dockerd names)."""
    chain: list[str] = []
    for diff_id in diff_ids:
        if chain:
            text = f"{chain[-1]} {diff_id}".encode()
            diff_id = "sha256:" + hashlib.sha256(text).hexdigest()
        chain.append(diff_id)
    return chain


def released_layers(diff_ids: Sequence[str], others: Iterable[Sequence[str]]) -> list[str]:
    """The ChainIDs of the layers that go with an image, top first, as dockerd's rmi tells
    them ("Deleted: sha256:..."): down to the first one another image still stands on."""
    used = {chain for other in others for chain in chain_ids(other)}
    released = []
    for chain in reversed(chain_ids(diff_ids)):
        if chain in used:
            break
        released.append(chain)
    return released
