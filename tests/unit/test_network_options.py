"""`network create --opt`: which driver options are taken, and the one-line refusals."""

import pytest

from swarmpy.errors import InvalidArgument
from swarmpy.manager.controlapi.networks import network_mtu
from swarmpy.model import MTU_OPTION, OVERLAY_MTU, Network


def test_no_option_keeps_the_default_mtu() -> None:
    assert network_mtu({}) == 0
    assert Network("n1", "overnet").effective_mtu == OVERLAY_MTU


def test_the_mtu_option_sets_the_networks_mtu() -> None:
    mtu = network_mtu({MTU_OPTION: "8950"})
    assert mtu == 8950
    assert Network("n1", "overnet", mtu=mtu).effective_mtu == 8950


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({MTU_OPTION: "jumbo"}, "invalid MTU 'jumbo': must be an integer from 68 to 65485"),
        ({MTU_OPTION: "67"}, "invalid MTU '67'"),
        ({MTU_OPTION: "65486"}, "invalid MTU '65486'"),
        ({"encrypted": ""}, "network option 'encrypted' is not supported"),
    ],
)
def test_bad_options_are_refused(options: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        network_mtu(options)
