from __future__ import annotations

import pytest

from swarmpy.errors import InvalidArgument
from swarmpy.model import ContainerSpec, ServiceSpec, Task
from swarmpy.overlay.names import IFNAMSIZ, Names
from swarmpy.overlay.sandbox import hostname_for, hosts_file

TASK_ID = "abcdefghijklmnopqrstuvwxy"


def test_every_link_name_fits_ifnamsiz_with_the_longest_prefix() -> None:
    names = Names("abcde")
    for ifname in (names.bridge(16_777_215), names.vxlan(16_777_215), names.veth(TASK_ID, 9)):
        assert len(ifname) <= IFNAMSIZ
        assert names.owns_link(ifname)
    assert names.owns_netns(names.sandbox(TASK_ID))


def test_other_prefixes_objects_are_not_ours() -> None:
    assert not Names("sp").owns_link("eth0")
    assert not Names("sp").owns_netns("tp-abc")


@pytest.mark.parametrize("prefix", ["", "toolong", "a-b"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(InvalidArgument):
        Names(prefix)


def task(hostname: str = "") -> Task:
    spec = ServiceSpec(name="web", container=ContainerSpec(image="busybox", hostname=hostname))
    return Task(id=TASK_ID, service_id="s", service_name="web", spec=spec)


def test_hostname_defaults_to_the_short_task_id_like_docker() -> None:
    assert hostname_for(task()) == TASK_ID[:12]
    assert hostname_for(task("api")) == "api"


def test_hosts_file_names_the_container_and_localhost() -> None:
    hosts = hosts_file("api", "10.0.1.5")
    assert "127.0.0.1\tlocalhost\n" in hosts
    assert hosts.endswith("10.0.1.5\tapi\n")
