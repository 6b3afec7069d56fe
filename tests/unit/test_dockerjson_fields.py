"""Unknown keys in a client's JSON: a newer client's zero values are taken as "not set",
anything that asks for something is refused by name."""

from __future__ import annotations

from typing import Any

import pytest

from swarmpy.dockerjson.fields import Fields
from swarmpy.dockerjson.service import service_spec
from swarmpy.errors import InvalidArgument


@pytest.mark.parametrize("zero", [None, "", 0, False, [], {}, {"Inner": None}])
def test_an_unknown_key_at_its_zero_value_is_not_set(zero: Any) -> None:
    fields = Fields({"Known": "x", "DNSNames": zero})
    assert fields.text("Known") == "x"
    fields.done()


@pytest.mark.parametrize("value", ["web", 1, True, ["web"], {"Inner": 1}])
def test_an_unknown_key_asking_for_something_is_refused_by_name(value: Any) -> None:
    with pytest.raises(InvalidArgument, match=r"^unknown field Endpoint\.DNSNames$"):
        Fields({"DNSNames": value}, "Endpoint").done()


def test_a_key_that_chooses_is_refused_even_at_zero() -> None:
    with pytest.raises(InvalidArgument, match="unknown field Bogus"):
        Fields({"Bogus": {}}).done(strict=True)


def test_docker_cli_28s_zero_fields_in_a_service_spec_are_taken() -> None:
    # Docker CLI 28 negotiates API 1.41 with swarmpy and still sends its newer fields, zeroed.
    body = {
        "Name": "web",
        "TaskTemplate": {
            "ContainerSpec": {"Image": "busybox:latest", "OomScoreAdj": 0},
            "Networks": [{"Target": "overnet", "DriverOpts": None}],
        },
    }
    assert service_spec(body).container.image == "busybox:latest"
