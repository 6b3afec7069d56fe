"""A compose file's credential_spec, as docker/cli's stack deploy converts it: a config's is
added to the service's configs as a Runtime reference and named by its id; file and registry
ones are kept; two at once are refused in docker/cli's words."""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmpy.compose import convert, loader
from swarmpy.dockerjson.service import service_spec
from swarmpy.errors import InvalidArgument


def load(text: str, tmp_path: Path) -> loader.Project:
    (tmp_path / "cred.json").write_text("{}")
    return loader.load([loader.parse_yaml(text, "stack.yml")], {}, str(tmp_path))


def test_a_config_credential_spec_is_a_runtime_config_named_by_id(tmp_path: Path) -> None:
    project = load(
        "services:\n"
        "  web:\n"
        "    image: busybox\n"
        "    credential_spec: {config: cred}\n"
        "    configs: [page]\n"
        "configs:\n"
        "  cred: {file: ./cred.json}\n"
        "  page: {external: true}\n",
        tmp_path,
    )
    spec = convert.services("app", project)["web"]
    container = spec["TaskTemplate"]["ContainerSpec"]
    assert container["Privileges"] == {"CredentialSpec": {"Config": "app_cred"}}
    assert container["Configs"][0] == {"Runtime": {}, "ConfigID": "", "ConfigName": "app_cred"}
    assert [c["Name"] for c in convert.file_objects("configs", "app", project)] == ["app_cred"]
    ids = {"app_cred": "c1", "page": "c2"}
    sent = convert.with_ids(spec, {}, ids, {})
    model = service_spec(sent).container
    assert model.credential_spec == "config://c1"
    assert [(r.id, r.runtime) for r in model.configs] == [("c1", True), ("c2", False)]


def test_an_external_config_is_checked_and_file_specs_kept(tmp_path: Path) -> None:
    project = load(
        "services:\n"
        "  a: {image: busybox, credential_spec: {config: ext}}\n"
        "  b: {image: busybox, credential_spec: {file: spec.json}}\n"
        "configs:\n"
        "  ext: {external: true}\n",
        tmp_path,
    )
    assert convert.external_objects("configs", project) == ["ext"]
    specs = convert.services("app", project)
    a = specs["a"]["TaskTemplate"]["ContainerSpec"]
    assert a["Privileges"] == {"CredentialSpec": {"Config": "ext"}}
    b = specs["b"]["TaskTemplate"]["ContainerSpec"]
    assert b["Privileges"] == {"CredentialSpec": {"File": "spec.json"}}
    assert b["Configs"] == []


@pytest.mark.parametrize(
    ("credential_spec", "message"),
    [
        (
            "{config: cred, file: x}",
            'invalid credential spec: cannot specify both "Config" and "File"',
        ),
        (
            "{config: cred, file: x, registry: y}",
            'invalid credential spec: cannot specify both "Config", "File", and "Registry"',
        ),
        ("{config: nope}", "services.web.credential_spec: undefined config 'nope'"),
        # docker/cli looks for the config by its key, or its key in the stack: one renamed
        # with name: is not found (as with docker stack deploy).
        (
            "{config: renamed}",
            "invalid credential spec: spec specifies config renamed, but no such config can "
            "be found",
        ),
    ],
)
def test_bad_credential_specs_are_refused(
    credential_spec: str, message: str, tmp_path: Path
) -> None:
    project = load(
        "services:\n"
        f"  web: {{image: busybox, credential_spec: {credential_spec}}}\n"
        "configs:\n"
        "  cred: {file: ./cred.json}\n"
        "  renamed: {external: true, name: shared-cred}\n",
        tmp_path,
    )
    with pytest.raises(InvalidArgument) as err:
        convert.services("app", project)
    assert str(err.value) == message
