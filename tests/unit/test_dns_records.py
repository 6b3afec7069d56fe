from __future__ import annotations

from pathlib import Path

import pytest

from swarmpy.dns.records import TTL, TYPE_A, TYPE_PTR, Answer, RecordIndex, wire_name
from swarmpy.dns.upstream import parse_upstream, upstreams_from_resolv_conf
from swarmpy.errors import InvalidArgument
from tests.support.builders import BACK, FRONT
from tests.support.builders import dns_view as view

TYPE_AAAA = 28
TYPE_MX = 15


@pytest.fixture
def index() -> RecordIndex:
    return RecordIndex.from_view(view())


def a(index: RecordIndex, name: str, networks: tuple[str, ...]) -> set[str] | None:
    found = index.answer(name, TYPE_A, networks)
    return None if found is None else set(found.addresses)


def test_vip_service_answers_its_vip_on_the_askers_network(index: RecordIndex) -> None:
    assert index.answer("web", TYPE_A, [FRONT]) == Answer(addresses=("10.0.1.2",), ttl=TTL)
    assert a(index, "web", (BACK,)) == {"10.0.2.2"}


def test_dnsrr_service_answers_its_running_tasks(index: RecordIndex) -> None:
    assert a(index, "db", (BACK,)) == {"10.0.2.7", "10.0.2.8"}


def test_tasks_name_lists_every_running_task(index: RecordIndex) -> None:
    assert a(index, "tasks.web", (FRONT,)) == {"10.0.1.5", "10.0.1.6"}
    assert a(index, "tasks.db", (BACK,)) == {"10.0.2.7", "10.0.2.8"}


def test_tasks_name_is_shuffled(index: RecordIndex) -> None:
    orders = {index.answer("tasks.web", TYPE_A, [FRONT]).addresses for _ in range(200)}  # type: ignore[union-attr]
    assert len(orders) == 2


def test_container_and_slot_names(index: RecordIndex) -> None:
    assert a(index, "web.1.t1", (FRONT,)) == {"10.0.1.5"}
    assert a(index, "web.2", (BACK,)) == {"10.0.2.6"}
    assert a(index, "agent.nodeX", (FRONT,)) == {"10.0.1.9"}


def test_only_the_askers_networks_are_visible(index: RecordIndex) -> None:
    assert index.answer("db", TYPE_A, [FRONT]) is None
    assert index.answer("tasks.db", TYPE_A, [FRONT]) is None
    assert index.answer("web", TYPE_A, []) is None


def test_first_network_of_the_asker_wins(index: RecordIndex) -> None:
    assert a(index, "web", (BACK, FRONT)) == {"10.0.2.2"}


def test_names_are_case_insensitive_with_optional_trailing_dot(index: RecordIndex) -> None:
    assert a(index, "WeB.", (FRONT,)) == {"10.0.1.2"}
    assert a(index, "Tasks.Web", (FRONT,)) == {"10.0.1.5", "10.0.1.6"}


def test_other_types_for_a_known_name_are_empty_not_unknown(index: RecordIndex) -> None:
    assert index.answer("web", TYPE_AAAA, [FRONT]) == Answer()
    assert index.answer("tasks.db", TYPE_MX, [BACK]) == Answer()


def test_ptr_for_task_ip_and_vip(index: RecordIndex) -> None:
    task = index.answer("5.1.0.10.in-addr.arpa.", TYPE_PTR, [FRONT])
    vip = index.answer("2.2.0.10.in-addr.arpa", TYPE_PTR, [BACK])
    assert task is not None
    assert task.ptr == "web.1.t1"
    assert vip is not None
    assert vip.ptr == "web"
    assert index.answer("7.2.0.10.in-addr.arpa", TYPE_PTR, [FRONT]) is None


def test_unknown_name_is_not_ours(index: RecordIndex) -> None:
    assert index.answer("example.com", TYPE_A, [FRONT, BACK]) is None


def test_empty_index_knows_nothing() -> None:
    assert RecordIndex().answer("web", TYPE_A, [FRONT]) is None


def test_resolv_conf_skips_loopback_servers(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# comment\nnameserver 127.0.0.53\nnameserver 10.9.9.9\nsearch x\n"
        "nameserver ::1\nnameserver fd00::53\nnameserver bogus\n"
    )
    assert upstreams_from_resolv_conf(conf) == ["10.9.9.9", "fd00::53"]
    assert upstreams_from_resolv_conf(tmp_path / "missing") == []


def test_parse_upstream() -> None:
    assert parse_upstream("10.0.0.1") == ("10.0.0.1", 53)
    assert parse_upstream("10.0.0.1:5353") == ("10.0.0.1", 5353)
    assert parse_upstream("fd00::1") == ("fd00::1", 53)
    assert parse_upstream("[fd00::1]:5353") == ("fd00::1", 5353)
    with pytest.raises(InvalidArgument):
        parse_upstream("dns.example")


def test_wire_name_is_the_lowercased_uncompressed_form() -> None:
    assert wire_name("Web.1.") == b"\x03web\x011\x00"
    assert wire_name("a..b") is None
    assert wire_name("bücher") is None
    assert wire_name("x" * 64) is None
