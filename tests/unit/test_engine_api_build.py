"""POST /build's query as the docker CLI sends it: defaults accepted, what swarmpy's builder
does not do refused, build args and X-Registry-Config read."""

from __future__ import annotations

import base64
import json
from urllib.parse import urlencode

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from swarmpy.engine.images.registry import Credentials
from swarmpy.errors import InvalidArgument
from swarmpy.server.routes.build import build_options

# What Debian's docker 20.10 sends for `DOCKER_BUILDKIT=0 docker build -t a -t b .`.
DOCKER_QUERY = [
    ("buildargs", '{"V":"1","E":null}'),
    ("cachefrom", "[]"),
    ("cgroupparent", ""),
    ("cpuperiod", "0"),
    ("cpuquota", "0"),
    ("cpusetcpus", ""),
    ("cpusetmems", ""),
    ("cpushares", "0"),
    ("dockerfile", "Dockerfile"),
    ("labels", "{}"),
    ("memory", "0"),
    ("memswap", "0"),
    ("networkmode", "default"),
    ("rm", "1"),
    ("shmsize", "0"),
    ("t", "a"),
    ("t", "b"),
    ("target", ""),
    ("ulimits", "null"),
    ("version", "1"),
]


def _request(query: list[tuple[str, str]], headers: dict[str, str] | None = None) -> web.Request:
    return make_mocked_request("POST", "/build?" + urlencode(query), headers=headers or {})


def test_the_docker_clis_query_is_read() -> None:
    config = {"127.0.0.1:5000": {"username": "alice", "password": "s3cret"}}
    header = base64.urlsafe_b64encode(json.dumps(config).encode()).decode()
    options = build_options(_request(DOCKER_QUERY, {"X-Registry-Config": header}))
    assert options.tags == ("a", "b")
    assert dict(options.build_args) == {"V": "1", "E": None}
    assert options.registry_auth == (("127.0.0.1:5000", Credentials("alice", "s3cret")),)
    assert not options.no_cache
    assert options.network == "default"
    hosted = [(k, v) for k, v in DOCKER_QUERY if k != "networkmode"] + [("networkmode", "host")]
    assert build_options(_request(hosted)).network == "host"
    # A user network's name: RUN's network, as moby's NetworkMode of a step's container.
    on_user = [(k, v) for k, v in DOCKER_QUERY if k != "networkmode"] + [("networkmode", "mynet")]
    assert build_options(_request(on_user)).network == "mynet"


@pytest.mark.parametrize(
    ("key", "value"),
    [("memory", "100000000"), ("platform", "linux/arm64")],
)
def test_what_the_builder_does_not_do_is_refused(key: str, value: str) -> None:
    query = [(k, v) for k, v in DOCKER_QUERY if k != key] + [(key, value)]
    with pytest.raises(InvalidArgument, match=f"{key}={value} is not supported"):
        build_options(_request(query))
