"""`--credential-spec config://NAME` as docker/cli and SwarmKit have it: the config joins the
service's configs with a Runtime target, the credential spec names it by id, the managers
refuse a credential spec whose config is not such a reference, the task gets no file for it,
and a Linux node rejects the task as dockerd does."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from swarmpy.agent import container
from swarmpy.agent.files import task_files
from swarmpy.cli.engine import EngineClient
from swarmpy.cli.service import filerefs
from swarmpy.cli.service.options import CreateOptions, UpdateOptions, create_spec, update_spec
from swarmpy.dockerjson.service import service_spec, service_spec_json
from swarmpy.errors import InvalidArgument, RuntimeFailure
from swarmpy.manager.controlapi.fileobjects import check_credential_spec
from swarmpy.model import FileReference, ServiceSpec
from tests.support.builders import service, task

CONFIG_IDS = {"credspec": "cfg-cred", "other": "cfg-other", "app": "cfg-app"}


class ConfigLookup(EngineClient):
    """Answers docker/cli's config list by name, as the daemon would."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    def get(self, path: str, **query: Any) -> Any:
        assert path == "/configs"
        self.asked.append(query)
        return [{"ID": cid, "Spec": {"Name": name}} for name, cid in CONFIG_IDS.items()]


def created(*flags: str, **options: Any) -> ServiceSpec:
    spec = create_spec(CreateOptions(image="busybox", configs=flags, **options))
    return filerefs.resolve_spec(ConfigLookup(), spec)


def updated(spec: ServiceSpec, **options: Any) -> ServiceSpec:
    return filerefs.resolve_spec(
        ConfigLookup(), update_spec(spec, UpdateOptions(**options), lambda n: n)
    )


def runtime(name: str) -> FileReference:
    return FileReference(id=CONFIG_IDS[name], name=name, target="", runtime=True)


def test_create_adds_the_config_as_a_runtime_target_and_names_it_by_id() -> None:
    spec = created("app", credential_spec="config://credspec")
    c = spec.container
    assert c.credential_spec == "config://cfg-cred"
    assert c.configs == (
        FileReference(id="cfg-app", name="app", target="app"),
        runtime("credspec"),
    )
    body = service_spec_json(spec)["TaskTemplate"]["ContainerSpec"]
    assert body["Privileges"] == {"CredentialSpec": {"Config": "cfg-cred"}}
    assert body["Configs"][1] == {
        "Runtime": {},
        "ConfigID": "cfg-cred",
        "ConfigName": "credspec",
    }
    # The Engine API's JSON reads back to the same spec.
    assert service_spec(service_spec_json(spec)) == spec


def test_the_task_gets_no_file_for_it_and_a_linux_node_rejects_it() -> None:
    spec = created("app", credential_spec="config://credspec")
    svc = dataclasses.replace(service(), spec=spec)
    assert [path for path, _ in task_files(task(svc))] == ["/app"]
    with pytest.raises(RuntimeFailure) as err:
        container.check_isolation(spec.container)
    assert str(err.value) == 'invalid --security-opt 2: "credentialspec=config://cfg-cred"'


def test_update_keeps_replaces_or_drops_the_runtime_config_with_the_credential_spec() -> None:
    spec = created("app", credential_spec="config://credspec")
    # Not given: the credential spec and its config stay, whatever else changes.
    kept = updated(spec, config_rm=("app",))
    assert kept.container.configs == (runtime("credspec"),)
    assert kept.container.credential_spec == "config://cfg-cred"
    # Given the same name again: still one reference.
    again = updated(spec, credential_spec="config://credspec")
    assert again.container.configs == spec.container.configs
    assert again.container.credential_spec == "config://cfg-cred"
    # Another config: the old runtime reference goes, the new one comes.
    other = updated(spec, credential_spec="config://other")
    assert other.container.configs == (spec.container.configs[0], runtime("other"))
    assert other.container.credential_spec == "config://cfg-other"
    # A file credential spec, or none: no runtime config left.
    for value in ("file://spec.json", ""):
        changed = updated(spec, credential_spec=value)
        assert changed.container.configs == (spec.container.configs[0],)
        assert changed.container.credential_spec == value


def test_an_unknown_config_is_refused_as_docker_cli_does() -> None:
    spec = create_spec(CreateOptions(image="busybox", credential_spec="config://nope"))
    with pytest.raises(InvalidArgument, match=r"^config not found: nope$"):
        filerefs.resolve_spec(ConfigLookup(), spec)


def test_the_managers_need_the_config_as_a_runtime_reference() -> None:
    spec = created("app", credential_spec="config://credspec")
    check_credential_spec(spec.container)
    without = dataclasses.replace(spec.container, configs=spec.container.configs[:1])
    with pytest.raises(InvalidArgument) as err:
        check_credential_spec(without)
    assert str(err.value) == (
        "CredentialSpec references config 'cfg-cred', but that config isn't in config "
        "references with RuntimeTarget"
    )
