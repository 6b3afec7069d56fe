"""Images on a node: pull from OCI registries, load archives, shared layers, overlay rootfs.

The agent and runtime use ``ImageStore`` (``layer_dirs`` and ``config`` for a container) and
``mount_rootfs`` / ``unmount_rootfs`` / ``remove_rootfs``.
"""

from swarmpy.engine.images.records import ImageConfig, ImageRecord
from swarmpy.engine.images.reference import Reference, familiar_name, parse_reference
from swarmpy.engine.images.rootfs import mount_rootfs, remove_rootfs, unmount_rootfs
from swarmpy.engine.images.store import ImageStore
from swarmpy.engine.images.views import ImageRow

__all__ = [
    "ImageConfig",
    "ImageRecord",
    "ImageRow",
    "ImageStore",
    "Reference",
    "familiar_name",
    "mount_rootfs",
    "parse_reference",
    "remove_rootfs",
    "unmount_rootfs",
]
