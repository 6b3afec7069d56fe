"""Compose files as `docker stack deploy` reads them (swarmpy.compose): interpolation, the
schema's errors in docker/cli's words, normalisation, merging several files, and conversion
to the Engine API specs the daemon reads; and a corpus of bad files, each refused with the
file, the key and why."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from swarmpy.cli.main import app
from swarmpy.cli.service.common import tagged
from swarmpy.cli.service.ls import row
from swarmpy.cli.stack.common import check_name
from swarmpy.cli.stack.deploy_composefile import update_body
from swarmpy.cli.stack.ls import stack_rows
from swarmpy.cli.stack.rm import tasks_done
from swarmpy.compose import convert, loader
from swarmpy.compose.template import InvalidTemplate, substitute
from swarmpy.compose.units import parse_cpus, parse_duration, ram_in_bytes
from swarmpy.dockerjson.service import service_spec, service_spec_json
from swarmpy.errors import InvalidArgument
from swarmpy.model import EndpointMode, MountType, ServiceMode

ENV = {"SET": "value", "EMPTY": ""}


def load(text: str, tmp_path: Path, env: dict[str, str] | None = None) -> loader.Project:
    return loader.load([loader.parse_yaml(text, "stack.yml")], env or ENV, str(tmp_path))


# ---------------------------------------------------------------- interpolation


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$SET", "value"),
        ("${SET}-x", "value-x"),
        ("${UNSET}", ""),
        ("${UNSET:-d}", "d"),
        ("${EMPTY:-d}", "d"),
        ("${UNSET-d}", "d"),
        ("${EMPTY-d}", ""),
        ("${SET?err}", "value"),
        ("${EMPTY?err}", ""),
        ("$$SET", "$SET"),
        ("a $$ b", "a $ b"),
    ],
)
def test_substitute(template: str, expected: str) -> None:
    assert substitute(template, ENV.get) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${UNSET?need it}", "required variable UNSET is missing a value: need it"),
        ("${EMPTY:?must set}", "required variable EMPTY is missing a value: must set"),
        ("${", "${"),
        ("$ x", "$ x"),
    ],
)
def test_substitute_refuses(template: str, message: str) -> None:
    with pytest.raises(InvalidTemplate) as e:
        substitute(template, ENV.get)
    assert e.value.template == message


def test_variables_fill_numbers_and_booleans(tmp_path: Path) -> None:
    project = load(
        """
services:
  web:
    image: busybox
    read_only: ${RO}
    deploy: {replicas: "${N}"}
""",
        tmp_path,
        {"N": "3", "RO": "yes"},
    )
    assert project.services["web"]["deploy"]["replicas"] == 3
    assert project.services["web"]["read_only"] is True


# ---------------------------------------------------------------- units


def test_units() -> None:
    assert parse_duration("1m30s") == 90_000_000_000
    assert parse_duration("1.5s") == 1_500_000_000
    assert parse_duration("10") is None
    assert ram_in_bytes("512M") == 512 * 1024**2
    assert ram_in_bytes("1.5gb") == 3 * 1024**3 // 2
    assert ram_in_bytes("lots") is None
    assert parse_cpus("0.25") == 250_000_000
    with pytest.raises(ValueError, match="rational number"):
        parse_cpus("x")


# ---------------------------------------------------------------- normalisation


def test_short_syntaxes_take_their_long_forms(tmp_path: Path) -> None:
    service = load(
        """
version: "3.8"
services:
  web:
    image: busybox
    command: sh -c 'echo "a b"'
    ports: ["8080:80", "53/udp", "9000-9001:90-91", {target: 443, published: 8443}]
    volumes: ["data:/data:ro", "./site:/site", "/anon"]
    environment: [A=1, B, SET]
    labels: [x=1]
    networks: [front]
    secrets: [pw]
    extra_hosts: ["db:10.0.0.2"]
volumes: {data: {}}
networks: {front: {}}
secrets: {pw: {file: pw.txt}}
""",
        tmp_path,
    ).services["web"]
    assert service["command"] == ["sh", "-c", 'echo "a b"']
    assert service["ports"] == [
        {"mode": "ingress", "target": 80, "published": 8080, "protocol": "tcp"},
        {"mode": "ingress", "target": 53, "published": 0, "protocol": "udp"},
        {"mode": "ingress", "target": 90, "published": 9000, "protocol": "tcp"},
        {"mode": "ingress", "target": 91, "published": 9001, "protocol": "tcp"},
        {"target": 443, "published": 8443},
    ]
    assert service["volumes"] == [
        {"type": "volume", "source": "data", "target": "/data", "read_only": True},
        {"type": "bind", "source": str(tmp_path / "site"), "target": "/site"},
        {"type": "volume", "target": "/anon"},
    ]
    # A variable without a value takes the environment's, if it has one.
    assert service["environment"] == {"A": "1", "B": None, "SET": "value"}
    assert service["labels"] == {"x": "1"}
    assert service["networks"] == {"front": None}
    assert service["secrets"] == [{"source": "pw"}]


def test_env_file_then_environment(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("# comment\nA=from-file\nB=from-file\n\n")
    service = load(
        """
services:
  web: {image: busybox, env_file: app.env, environment: {B: mine}}
""",
        tmp_path,
    ).services["web"]
    assert service["environment"] == {"A": "from-file", "B": "mine"}


def test_files_merge_in_order(tmp_path: Path) -> None:
    base = loader.parse_yaml(
        """
version: "3.8"
services:
  web:
    image: nginx:1
    command: [a, b]
    ports: ["80:80", "443:443"]
    environment: {A: "1", B: "1"}
    dns: [1.1.1.1]
    secrets: [s1]
  db: {image: postgres}
""",
        "base.yml",
    )
    override = loader.parse_yaml(
        """
version: "3.8"
services:
  web:
    image: nginx:2
    command: [c]
    ports: [{target: 8080, published: 80}]
    environment: {B: "2"}
    dns: [8.8.8.8]
    secrets: [{source: s1, target: other}]
""",
        "override.yml",
    )
    project = loader.load([base, override], {}, str(tmp_path))
    web = project.services["web"]
    assert list(project.services) == ["db", "web"]
    assert web["image"] == "nginx:2"
    assert web["command"] == ["c"]
    assert web["environment"] == {"A": "1", "B": "2"}
    assert web["dns"] == ["1.1.1.1", "8.8.8.8"]
    assert [(p["published"], p["target"]) for p in web["ports"]] == [(80, 8080), (443, 443)]
    assert web["secrets"] == [{"source": "s1", "target": "other"}]


def test_ignored_and_deprecated_keys_are_announced(tmp_path: Path) -> None:
    project = load(
        """
version: "3.8"
services:
  web: {image: busybox, build: ., restart: always, container_name: x, depends_on: [db]}
  db: {image: busybox}
""",
        tmp_path,
    )
    assert project.warnings[0] == "Ignoring unsupported options: build, depends_on, restart"
    assert project.warnings[1] == (
        "Ignoring deprecated options:\n\n"
        "container_name: Setting the container name is not supported."
    )


# ---------------------------------------------------------------- conversion

FULL = """
version: "3.8"
services:
  web:
    image: nginx:1.25
    entrypoint: ["/entry"]
    command: ["serve", "--port", "80"]
    hostname: web-host
    user: "1000"
    working_dir: /srv
    stop_grace_period: 1m30s
    stop_signal: SIGQUIT
    read_only: true
    init: true
    labels: {c: "1"}
    dns: [10.0.0.53]
    extra_hosts: ["db:10.0.0.2"]
    environment: {B: "2", A: "1"}
    ports:
      - "8080:80"
      - {target: 443, published: 8443, protocol: tcp, mode: host}
    networks:
      front: {aliases: [www]}
      back:
    volumes:
      - data:/data
      - {type: bind, source: /srv/site, target: /site, read_only: true}
      - {type: tmpfs, target: /cache, tmpfs: {size: 1000000}}
    secrets:
      - pw
      - {source: ext, target: api-key, uid: "33", gid: "33", mode: 0400}
    configs: [{source: page, target: /usr/share/nginx/html/index.html}]
    healthcheck:
      test: curl -f http://localhost/
      interval: 10s
      timeout: 2s
      retries: 3
      start_period: 5s
    deploy:
      mode: replicated
      replicas: 3
      endpoint_mode: vip
      labels: [tier=front]
      placement:
        constraints: [node.role==worker]
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 2
      resources:
        limits: {cpus: "0.5", memory: 256M}
        reservations: {cpus: "0.25", memory: 64M}
      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 1m}
      update_config: {parallelism: 2, delay: 10s, failure_action: rollback, order: start-first}
      rollback_config: {parallelism: 1, monitor: 30s}
  db:
    image: postgres
    restart: always
networks:
  front: {}
  back: {driver: overlay, attachable: true, labels: [team=db]}
volumes:
  data: {}
secrets:
  pw: {file: ./pw.txt}
  ext: {external: true, name: shared-key}
configs:
  page: {file: ./index.html, labels: {v: "1"}}
"""


@pytest.fixture
def full(tmp_path: Path) -> loader.Project:
    (tmp_path / "pw.txt").write_text("s3cret")
    (tmp_path / "index.html").write_text("<h1>hi</h1>")
    return load(FULL, tmp_path)


def test_service_spec_has_every_key(full: loader.Project) -> None:
    spec = convert.services("app", full)["web"]
    assert spec["Name"] == "app_web"
    assert spec["Labels"] == {
        "tier": "front",
        "com.docker.stack.namespace": "app",
        "com.docker.stack.image": "nginx:1.25",
    }
    c = spec["TaskTemplate"]["ContainerSpec"]
    assert (c["Command"], c["Args"]) == (["/entry"], ["serve", "--port", "80"])
    assert c["Env"] == ["A=1", "B=2"]
    assert c["Labels"] == {"c": "1", "com.docker.stack.namespace": "app"}
    assert c["Hosts"] == ["10.0.0.2 db"]
    assert c["StopGracePeriod"] == 90_000_000_000
    assert c["Healthcheck"] == {
        "Test": ["CMD-SHELL", "curl -f http://localhost/"],
        "Interval": 10_000_000_000,
        "Timeout": 2_000_000_000,
        "StartPeriod": 5_000_000_000,
        "Retries": 3,
    }
    assert c["Mounts"] == [
        {
            "Type": "volume",
            "Target": "/data",
            "ReadOnly": False,
            "Source": "app_data",
            "VolumeOptions": {"Labels": {"com.docker.stack.namespace": "app"}},
        },
        {"Type": "bind", "Target": "/site", "ReadOnly": True, "Source": "/srv/site"},
        {
            "Type": "tmpfs",
            "Target": "/cache",
            "ReadOnly": False,
            "TmpfsOptions": {"SizeBytes": 1000000},
        },
    ]
    assert [(s["SecretName"], s["File"]) for s in c["Secrets"]] == [
        ("app_pw", {"Name": "pw", "UID": "0", "GID": "0", "Mode": 0o444}),
        ("shared-key", {"Name": "api-key", "UID": "33", "GID": "33", "Mode": 0o400}),
    ]
    assert c["Configs"][0]["ConfigName"] == "app_page"
    assert spec["TaskTemplate"]["Networks"] == [
        {"Target": "app_back", "Aliases": ["web"]},
        {"Target": "app_front", "Aliases": ["www", "web"]},
    ]
    assert spec["EndpointSpec"]["Ports"] == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
        {"Protocol": "tcp", "TargetPort": 443, "PublishedPort": 8443, "PublishMode": "host"},
    ]
    assert spec["TaskTemplate"]["Resources"] == {
        "Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 256 * 1024**2},
        "Reservations": {"NanoCPUs": 250_000_000, "MemoryBytes": 64 * 1024**2},
    }
    assert spec["UpdateConfig"] == {
        "Parallelism": 2,
        "Delay": 10_000_000_000,
        "FailureAction": "rollback",
        "MaxFailureRatio": 0.0,
        "Order": "start-first",
    }
    # Zeros are left out, as Docker's JSON does, so the daemon's defaults apply.
    assert spec["RollbackConfig"] == {
        "Parallelism": 1,
        "MaxFailureRatio": 0.0,
        "Order": "",
        "Monitor": 30_000_000_000,
    }

    # What the daemon reads of it: every key lands in the model.
    ids = {"app_pw": "s1", "shared-key": "s2", "app_page": "c1"}
    model = service_spec(convert.with_ids(spec, ids, ids, {}))
    assert model.replicas == 3
    assert model.mode == ServiceMode.REPLICATED
    assert model.container.read_only
    assert model.container.init
    assert model.container.user == "1000"
    assert model.container.workdir == "/srv"
    assert model.container.hostname == "web-host"
    assert model.container.stop_signal == "SIGQUIT"
    assert model.container.dns_nameservers == ("10.0.0.53",)
    assert [m.type for m in model.container.mounts] == [
        MountType.VOLUME,
        MountType.BIND,
        MountType.TMPFS,
    ]
    assert model.constraints == ("node.role==worker",)
    assert model.placement_prefs == ("node.labels.zone",)
    assert model.max_replicas == 2
    assert model.restart.max_attempts == 3
    assert model.restart.window_s == 60
    assert model.endpoint_mode == EndpointMode.VIP
    assert model.container.mounts[0].volume_labels == (("com.docker.stack.namespace", "app"),)
    assert [s.id for s in model.container.secrets] == ["s1", "s2"]


def test_restart_maps_onto_a_policy(full: loader.Project) -> None:
    db = convert.services("app", full)["db"]
    assert db["TaskTemplate"]["RestartPolicy"] == {"Condition": "any"}
    # The default network, and the short name as an alias on it.
    assert db["TaskTemplate"]["Networks"] == [{"Target": "app_default", "Aliases": ["db"]}]


def test_networks_secrets_and_configs(full: loader.Project) -> None:
    creates, external = convert.networks("app", full)
    assert sorted(creates) == ["app_back", "app_default", "app_front"]
    assert creates["app_back"]["Labels"] == {"team": "db", "com.docker.stack.namespace": "app"}
    assert creates["app_back"]["Attachable"] is True
    assert creates["app_default"]["Driver"] == "overlay"
    assert external == []
    (secret,) = convert.file_objects("secrets", "app", full)
    assert secret["Name"] == "app_pw"
    assert base64.b64decode(secret["Data"]) == b"s3cret"
    assert convert.external_objects("secrets", full) == ["shared-key"]
    (config,) = convert.file_objects("configs", "app", full)
    assert config["Labels"] == {"v": "1", "com.docker.stack.namespace": "app"}


def test_an_unknown_secret_id_is_refused(full: loader.Project) -> None:
    spec = convert.services("app", full)["web"]
    with pytest.raises(InvalidArgument, match="secret not found: shared-key"):
        convert.with_ids(spec, {"app_pw": "s1"}, {"app_page": "c1"}, {})


# ---------------------------------------------------------------- the bad-file corpus

BAD: list[tuple[str, str]] = [
    ("services: [web]\n", "stack.yml: services must be a mapping"),
    ("services: {web: {image: busybox}}\nfoo: 1\n", "(root) Additional property foo"),
    (
        "services: {web: {image: busybox, ports: [[80]]}}\n",
        "services.web.ports.0 must be a number",
    ),
    (
        "services: {web: {image: busybox, ports: ['80:80:80:80']}}\n",
        "services.web.ports.0: Invalid ip address 80:80",
    ),
    ("services: {web: {image: busybox, ports: ['99999:80']}}\n", "Invalid hostPort: 99999"),
    ("services: {web: {image: busybox, replicas: 2}}\n", "services.web Additional property"),
    (
        "services: {web: {image: busybox, deploy: {replicas: many}}}\n",
        "services.web.deploy.replicas must be a integer",
    ),
    ("services: {web: {image: '${IMG?set IMG}'}}\n", "required variable IMG is missing"),
    ("services: {web: {image: busybox, secrets: [nope]}}\n", "undefined secret 'nope'"),
    (
        "services: {web: {image: busybox, networks: [nope]}}\n",
        "services.web.networks: undefined network 'nope'",
    ),
    (
        "services: {web: {image: busybox, volumes: ['nope:/x']}}\n",
        "undefined volume 'nope'",
    ),
    (
        "services: {web: {image: busybox, secrets: [s]}}\nsecrets: {s: {file: ./missing}}\n",
        "secrets.s.file: open",
    ),
    ("services: {web: {command: x}}\n", "invalid image reference for service web"),
    ("services: {web: {image: busybox, extends: x}}\n", "unsupported options: extends"),
    ("version: '2'\nservices: {}\n", "unsupported Compose file version: 2"),
    ("services: {web: {image: busybox, logging: {driver: x}}}\n", "services.web.logging"),
    (
        "services: {web: {image: busybox, deploy: {mode: global, replicas: 2}}}\n",
        "replicas can only be used with replicated mode",
    ),
    (
        "services: {web: {image: busybox, stop_grace_period: soon}}\n",
        "Does not match format 'duration'",
    ),
    ("- a\n", "Top-level object must be a mapping"),
    ("services: {web: {image: [}\n", "stack.yml: yaml: line"),
    ("services: {1: {image: x}}\n", "Non-string key in services: 1"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_files_are_refused(text: str, message: str, tmp_path: Path) -> None:
    def deploy_checks() -> None:
        """What stack deploy checks before its first change."""
        project = load(text, tmp_path)
        convert.networks("app", project)
        convert.file_objects("secrets", "app", project)
        convert.services("app", project)

    with pytest.raises(InvalidArgument) as e:
        deploy_checks()
    assert message in e.value.message
    assert "\n" not in e.value.message


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"^stack\.yml: services\.web\.ports\.0 "):
        load("services: {web: {image: busybox, ports: [[80]]}}\n", tmp_path)


# ---------------------------------------------------------------- the CLI's pure parts


def _service(stack: str) -> dict[str, Any]:
    return {"ID": "x", "Spec": {"Labels": {"com.docker.stack.namespace": stack}}}


def test_stack_rows_count_services_in_natural_order() -> None:
    rows = stack_rows([_service("app10"), _service("app2"), _service("app2")])
    assert rows == [
        {"Name": "app2", "Services": "2", "Orchestrator": "Swarm", "Namespace": ""},
        {"Name": "app10", "Services": "1", "Orchestrator": "Swarm", "Namespace": ""},
    ]


def test_rm_waits_for_tasks_past_running() -> None:
    assert tasks_done([{"Status": {"State": "shutdown"}}, {"Status": {"State": "failed"}}])
    assert not tasks_done([{"Status": {"State": "running"}}])


@pytest.mark.parametrize(
    ("image", "sent"),
    [
        ("busybox", "busybox:latest"),
        ("docker.io/library/busybox", "busybox:latest"),
        ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
        ("nginx:1.25", "nginx:1.25"),
    ],
)
def test_images_get_a_tag_as_dockers_client_gives_them(image: str, sent: str) -> None:
    assert tagged(image) == sent


def test_deploy_refuses_a_bad_file_before_asking_a_daemon(tmp_path: Path) -> None:
    # A socket that does not exist: had the CLI called the daemon, it would say so instead.
    compose = tmp_path / "stack.yml"
    compose.write_text("services: {web: {image: busybox, secrets: [nope]}}\n")
    env = {"SWARMPY_HOST": "unix:///nonexistent/swarmpy-test.sock"}
    result = CliRunner().invoke(app, ["stack", "deploy", "-c", str(compose), "app"], env=env)
    assert isinstance(result.exception, InvalidArgument)
    assert str(result.exception) == (f"{compose}: services.web.secrets: undefined secret 'nope'")


def test_stack_services_show_a_placement_limit_as_docker() -> None:
    service = {
        "ID": "abc",
        "Spec": {
            "Name": "app_web",
            "Mode": {"Replicated": {"Replicas": 2}},
            "TaskTemplate": {"ContainerSpec": {"Image": "nginx"}, "Placement": {"MaxReplicas": 1}},
        },
        "ServiceStatus": {"RunningTasks": 1, "DesiredTasks": 2},
    }
    assert row(service)["Replicas"] == "1/2 (max 1 per node)"


def test_deploy_refuses_an_unknown_resolve_image_mode(tmp_path: Path) -> None:
    env = {"SWARMPY_HOST": "unix:///nonexistent/swarmpy-test.sock"}
    argv = ["stack", "deploy", "--resolve-image", "sometimes", "-c", "x.yml", "app"]
    result = CliRunner().invoke(app, argv, env=env)
    assert isinstance(result.exception, InvalidArgument)
    assert str(result.exception) == "Invalid option sometimes for flag --resolve-image"


@pytest.mark.parametrize("name", ["", " ", '""', "' '"])
def test_blank_stack_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid stack name: "):
        check_name(name)


def test_capabilities_as_docker_cli_makes_them() -> None:
    assert convert.capabilities(["net_admin", "CAP_SYS_TIME"], ["net_admin", "chown"]) == (
        ["CAP_NET_ADMIN", "CAP_SYS_TIME"],
        ["CAP_CHOWN"],
    )
    assert convert.capabilities(["ALL", "chown"], ["all"]) == (["ALL"], [])


def test_a_redeploy_updates_only_a_changed_service(full: loader.Project) -> None:
    ids = {"app_pw": "s1", "shared-key": "s2", "app_page": "c1"}
    networks = {"app_front": "n1", "app_back": "n2", "app_default": "n3"}
    spec = convert.with_ids(convert.services("app", full)["web"], ids, ids, networks)
    # What the daemon stores and shows: its own rendering of the spec, with defaults filled
    # in and a counter `service update --force` once raised.
    stored = service_spec_json(service_spec(spec))
    stored["TaskTemplate"]["ForceUpdate"] = 2
    assert update_body(spec, stored) is None
    spec["Mode"]["Replicated"]["Replicas"] = 4
    changed = update_body(spec, stored)
    assert changed is not None
    assert changed["TaskTemplate"]["ForceUpdate"] == 2  # kept: no task restarts for it
