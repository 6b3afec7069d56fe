"""``system df`` and the prunes as Docker's daemon decides them (daemon/disk_usage.go,
daemon/prune.go, daemon/images/image_prune.go): what counts, what goes. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from swarmpy.server.filters import Filters

CONTAINER_PRUNE_FILTERS = ("label", "label!", "until")
IMAGE_PRUNE_FILTERS = ("dangling", "label", "label!", "until")
# Docker's containers that are not "stopped": a paused one still runs.
ACTIVE_STATES = ("running", "paused", "restarting")


def match_labels(filters: Filters, labels: Mapping[str, str]) -> bool:
    """Docker's prune matchLabels: every ``label`` matches, no ``label!`` does."""
    if not filters.labels("label", labels):
        return False
    return "label!" not in filters or not filters.labels("label!", labels)


def container_prunable(
    state: str, created: float, labels: Mapping[str, str], filters: Filters, until: float | None
) -> bool:
    """A container ``container prune`` removes: stopped, made before ``until``, labels
    matching."""
    if state in ACTIVE_STATES:
        return False
    if until is not None and created > until:
        return False
    return match_labels(filters, labels)


@dataclass(frozen=True)
class ImageFacts:
    """What image prune and df need of an image."""

    id: str
    tags: tuple[str, ...]
    created: float
    labels: Mapping[str, str]
    diff_ids: tuple[str, ...]
    size: int


def image_prunable(
    image: ImageFacts,
    in_use: Iterable[str],
    dangling_only: bool,
    filters: Filters,
    until: float | None,
) -> bool:
    """An image ``image prune`` removes: no container (running or not) made from it, untagged
    unless -a (dangling=false), made before ``until``, labels matching."""
    if image.id in set(in_use):
        return False
    if dangling_only and image.tags:
        return False
    if until is not None and image.created > until:
        return False
    return match_labels(filters, image.labels)


def layers_size(images: Iterable[ImageFacts], sizes: Mapping[str, int]) -> int:
    """The bytes of every layer some image uses, each layer once (Docker's LayersSize)."""
    return sum(sizes.get(d, 0) for d in {d for i in images for d in i.diff_ids})


def shared_sizes(images: Sequence[ImageFacts], sizes: Mapping[str, int]) -> dict[str, int]:
    """Per image, the bytes of its layers another image uses too (Docker's SharedSize)."""
    users = Counter(d for i in images for d in set(i.diff_ids))
    return {i.id: sum(sizes.get(d, 0) for d in set(i.diff_ids) if users[d] > 1) for i in images}
