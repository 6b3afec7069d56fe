from __future__ import annotations

import pytest

from swarmpy.engine.images.pull import DOCKER_HUB_URL, endpoints_for
from swarmpy.engine.images.reference import familiar_name, parse_reference
from swarmpy.errors import InvalidArgument

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/library/busybox:x", "docker.io/library/busybox:x"),
        ("someone/app", "docker.io/someone/app:latest"),
        ("127.0.0.1:5000/app:v1", "127.0.0.1:5000/app:v1"),
        ("localhost/a/b", "localhost/a/b:latest"),
        ("registry.example/team/app", "registry.example/team/app:latest"),
        (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}"),
        (f"host:5000/app:v1@{DIGEST}", f"host:5000/app:v1@{DIGEST}"),
    ],
)
def test_references_normalise_like_docker(text: str, canonical: str) -> None:
    assert str(parse_reference(text)) == canonical


@pytest.mark.parametrize(
    "text", ["", "Busybox", "busybox:", "busybox@sha256:abc", "a//b", "busy box", "-x", "a:b:c"]
)
def test_invalid_references_are_refused(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid reference format"):
        parse_reference(text)


def test_digest_reference_has_no_default_tag_and_asks_for_the_digest() -> None:
    ref = parse_reference(f"busybox@{DIGEST}")
    assert ref.tag is None
    assert ref.manifest_ref == DIGEST


@pytest.mark.parametrize(
    ("canonical", "familiar"),
    [
        ("docker.io/library/busybox:latest", "busybox:latest"),
        ("docker.io/someone/app:v1", "someone/app:v1"),
        ("docker.io/library/a/b:v1", "library/a/b:v1"),
        ("127.0.0.1:5000/app:v1", "127.0.0.1:5000/app:v1"),
    ],
)
def test_familiar_names_drop_the_implicit_parts(canonical: str, familiar: str) -> None:
    assert familiar_name(canonical) == familiar


def test_docker_hub_tries_mirrors_first_then_the_hub() -> None:
    ref = parse_reference("busybox")
    assert endpoints_for(ref, mirrors=["http://198.51.100.2:5000/"]) == [
        "http://198.51.100.2:5000",
        DOCKER_HUB_URL,
    ]
    assert endpoints_for(ref, mirrors=["http://m:5000"], hub_url=None) == ["http://m:5000"]


@pytest.mark.parametrize(
    ("text", "insecure", "url"),
    [
        ("reg.example:5000/app", (), "https://reg.example:5000"),
        ("reg.example:5000/app", ("reg.example:5000",), "http://reg.example:5000"),
        ("127.0.0.1:5000/app", (), "http://127.0.0.1:5000"),
        ("localhost:5000/app", (), "http://localhost:5000"),
    ],
)
def test_plain_http_only_for_insecure_or_loopback_registries(
    text: str, insecure: tuple[str, ...], url: str
) -> None:
    assert endpoints_for(parse_reference(text), insecure) == [url]
