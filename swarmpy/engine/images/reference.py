"""Image references parsed the way Docker does (distribution/reference's normalisation).

``busybox`` is ``docker.io/library/busybox:latest``; a first path component that looks like a
host (has a dot or a port, or is ``localhost``) names the registry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from swarmpy.errors import InvalidArgument

DOCKER_HUB = "docker.io"
_LEGACY_HUB = "index.docker.io"
_OFFICIAL_PREFIX = "library/"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
    r"(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Reference:
    domain: str  # "docker.io", "127.0.0.1:5000"
    path: str  # "library/busybox"
    tag: str | None = None
    digest: str | None = None  # "sha256:<64 hex>"

    @property
    def name(self) -> str:
        """The canonical repository name, e.g. ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def on_docker_hub(self) -> bool:
        return self.domain == DOCKER_HUB

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def familiar(self) -> str:
        """What Docker prints to users: ``busybox:latest``, ``127.0.0.1:5000/app:v1``."""
        return familiar_name(str(self))

    @property
    def manifest_ref(self) -> str:
        """What to ask the registry for: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"


def parse_reference(text: str) -> Reference:
    """Parse and normalise ``text``; raise InvalidArgument like ``docker pull`` would."""
    bad = InvalidArgument(f"invalid reference format: {text!r}")
    remainder, _, digest = text.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise bad
    name, tag = remainder, None
    colon = remainder.rfind(":")
    if colon > remainder.rfind("/"):
        name, tag = remainder[:colon], remainder[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise bad
    domain, path = _split_domain(name)
    if not _DOMAIN.fullmatch(domain):
        raise bad
    if path.lower() != path:
        raise InvalidArgument(
            f"invalid reference format: repository name ({path}) must be lowercase"
        )
    if not all(_COMPONENT.fullmatch(part) for part in path.split("/")):
        raise bad
    if tag is None and not digest:
        tag = "latest"
    return Reference(domain=domain, path=path, tag=tag, digest=digest or None)


def _split_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    looks_like_host = "." in first or ":" in first or first == "localhost" or first != first.lower()
    if not slash or not looks_like_host:
        domain, path = DOCKER_HUB, name
    else:
        domain, path = first, rest
    if domain == _LEGACY_HUB:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = _OFFICIAL_PREFIX + path
    return domain, path


def familiar_name(canonical: str) -> str:
    """Strip the implicit ``docker.io/`` and ``library/`` prefixes from a canonical name."""
    prefix = DOCKER_HUB + "/"
    if not canonical.startswith(prefix):
        return canonical
    short = canonical[len(prefix) :]
    repo = re.split(r"[:@]", short, maxsplit=1)[0]
    if repo.startswith(_OFFICIAL_PREFIX) and repo.count("/") == 1:
        short = short[len(_OFFICIAL_PREFIX) :]
    return short
