"""--network name=back,alias=db: the service answers to its aliases on that network only,
as it answers to its name (its VIP, or its tasks for dnsrr)."""

from __future__ import annotations

import dataclasses

import pytest

from swarmpy.dns.records import TYPE_A, RecordIndex
from swarmpy.errors import InvalidArgument
from swarmpy.manager.controlapi import validate
from swarmpy.model import NetworkAlias
from tests.support.builders import BACK, FRONT, dns_view, service


def addresses(index: RecordIndex, name: str, network: str) -> set[str] | None:
    found = index.answer(name, TYPE_A, [network])
    return None if found is None else set(found.addresses)


def test_aliases_answer_on_their_network_as_the_service_does() -> None:
    view = dns_view()
    web, db, agent = view.services
    view = dataclasses.replace(
        view,
        services=(
            dataclasses.replace(web, aliases=(NetworkAlias(BACK, ("api", "www.internal")),)),
            dataclasses.replace(db, aliases=(NetworkAlias(BACK, ("database",)),)),
            agent,
        ),
    )
    index = RecordIndex.from_view(view)
    assert addresses(index, "api", BACK) == {"10.0.2.2"}  # web's VIP on BACK
    assert addresses(index, "www.internal", BACK) == {"10.0.2.2"}
    assert addresses(index, "api", FRONT) is None  # not an alias there
    assert addresses(index, "database", BACK) == {"10.0.2.7", "10.0.2.8"}  # dnsrr: the tasks


def test_an_alias_must_be_a_dns_name() -> None:
    spec = service("web", network_aliases=(NetworkAlias("n", ("good-name",)),)).spec
    validate.check_service_spec(spec)
    bad = dataclasses.replace(spec, network_aliases=(NetworkAlias("n", ("not a name",)),))
    with pytest.raises(InvalidArgument, match="invalid network alias 'not a name'"):
        validate.check_service_spec(bad)
