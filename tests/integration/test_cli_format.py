"""--format end to end: a one-node swarm's listings and inspect documents through Go
templates, docker's tables, json, and a bad template's one-line error."""

from __future__ import annotations

import json

import pytest

from tests.support.controlplane import init, self_id
from tests.support.daemons import DaemonSet

pytestmark = pytest.mark.root

IP, PORT = "127.0.0.57", 23870


def test_formats_on_a_one_node_swarm(daemons: DaemonSet) -> None:
    (d,) = daemons.start(1)
    init(d, IP, PORT)
    me = self_id(d)

    # node ls: docker's table stars this node; its JSON keeps the ID bare and says Self.
    table = d.ok("node", "ls").splitlines()
    assert table[0].split()[:2] == ["ID", "HOSTNAME"]
    assert table[1].startswith(f"{me} *   ")
    (row,) = d.json_lines("node", "ls", "--format", "json")
    assert (row["ID"], row["Self"], row["Status"]) == (me, True, "Ready")
    assert d.ok("node", "ls", "--format", "{{.ID}}: {{.Status}} {{lower .Availability}}") == (
        f"{me}: Ready active\n"
    )
    custom = d.ok("node", "ls", "--format", "table {{.Status}}\\t{{.ManagerStatus}}")
    assert custom == "STATUS    MANAGER STATUS\nReady     Leader\n"
    assert d.ok("node", "ls", "-q") == f"{me}\n"

    # inspect -f: the template over each document.
    assert d.ok("node", "inspect", "-f", "{{.ID}} {{.ManagerStatus.Leader}}", "self") == (
        f"{me} true\n"
    )
    (doc,) = json.loads(d.ok("node", "inspect", "--format", "json", "self"))
    assert doc["ID"] == me

    # network ls and inspect.
    d.ok("network", "create", "-d", "overlay", "fmtnet")
    listed = d.ok("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
    assert "fmtnet overlay swarm\n" in listed
    inspected = d.ok("network", "inspect", "-f", "{{.Name}}/{{.Driver}}/{{json .Labels}}", "fmtnet")
    assert inspected == "fmtnet/overlay/{}\n"

    # An empty listing: the table's header alone; no lines in json.
    assert d.ok("service", "ls").split() == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
    assert d.ok("service", "ls", "--format", "json") == ""

    # A bad template: non-zero, one line on stderr in docker's words, nothing on stdout.
    bad = d.cli("node", "ls", "--format", "{{.Nope}}")
    assert (bad.returncode, bad.stdout) == (1, "")
    assert bad.stderr == (
        'template parsing error: template: :1:2: executing "" at <.Nope>: '
        "can't evaluate field Nope in type *Row\n"
    )
    unparsed = d.cli("node", "inspect", "-f", "{{if}}", "self")
    assert unparsed.returncode == 1
    assert unparsed.stderr == "template parsing error: template: :1: missing value for if\n"
    d.ok("network", "rm", "fmtnet")
