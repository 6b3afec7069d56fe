"""build, tag, push, pull, save and load on one loopback daemon, with the session registry.

One test function over one daemon (a swarm of its own for the service at the end): a
Dockerfile with every instruction builds, a rebuild is all cache, a changed COPY source
rebuilds from that step, the image goes to the registry and back and runs as a service, save
output loads, the docker CLI builds and pushes against our API, and bad Dockerfiles fail with
Docker's messages leaving no container, mount or work dir behind.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import os
import stat
import subprocess
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import docker
import pytest

from tests.support.daemons import Daemon, DaemonSet
from tests.support.docker_cli import DockerCli
from tests.support.localswarm import remove_service, run_task, single_node_swarm, task_container
from tests.support.poll import wait_for
from tests.support.registry import free_port, start_registry

pytestmark = pytest.mark.root

DOCKERFILE = """\
# escape=\\
ARG BASE=busybox
FROM $BASE AS build
ARG GREETING=hello
RUN echo "$GREETING from stage one" > /built.txt
FROM scratch AS empty
COPY --from=build /built.txt /copied.txt
FROM ${BASE}
LABEL org.example.team="images" version=1
ENV APP_HOME=/srv/app \\
    MODE=test
WORKDIR $APP_HOME
COPY app.txt ./
COPY --chown=1000:1000 data/ data/
ADD bundle.tar /unpacked/
COPY --from=build /built.txt /from-build.txt
COPY --from=empty /copied.txt /from-scratch.txt
RUN rm -f /bin/vi && echo gone > /removed.txt
USER 1000
EXPOSE 8080 9090/udp
VOLUME /srv/data
HEALTHCHECK --interval=5s --retries=2 CMD test -f /srv/app/app.txt
STOPSIGNAL SIGUSR1
SHELL ["/bin/sh", "-ec"]
RUN test "$MODE" = test
ONBUILD ENV TRIGGERED=yes
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat app.txt /unpacked/inside.txt /from-build.txt /from-scratch.txt; ls -n data; \
test -e /bin/vi || echo vi-gone; sleep 600"]
"""


def _bundle() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("inside.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"in\n"))
    return out.getvalue()


def _context(root: Path) -> Path:
    root.mkdir()
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / "app.txt").write_text("v1\n")
    (root / "data").mkdir()
    (root / "data" / "one.txt").write_text("1\n")
    (root / "secret.txt").write_text("never sent\n")
    (root / ".dockerignore").write_text("secret.txt\n")
    (root / "bundle.tar").write_bytes(_bundle())
    return root


def _leftovers(d: Daemon) -> list[str]:
    """Build containers, mounts and work dirs a build left behind."""
    found = []
    work = d.data_root / "build"
    if work.exists():
        found += [str(p) for p in work.iterdir()]
    with open("/proc/self/mountinfo") as info:
        found += [line.split()[4] for line in info if str(work) in line.split()[4]]
    listed = subprocess.run(
        ["runc", "--root", str(d.data_root / "runc"), "list", "-q"],
        capture_output=True,
        text=True,
    ).stdout.split()
    return found + [c for c in listed if len(c) == 64]


def _full_output(d: Daemon, container: str) -> str | None:
    out = d.ok("logs", container)
    return out if "vi-gone" in out else None


def _running(d: Daemon, service: str) -> bool:
    return task_container(d, service) is not None


def _layers(d: Daemon) -> set[str]:
    return {p.name for p in (d.data_root / "images" / "layers").iterdir()}


def test_build_cache_push_pull_save_and_failures(
    tmp_path: Path, registry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _context(tmp_path / "ctx")
    config_dir = tmp_path / "login"
    monkeypatch.setenv("SWARMPY_CONFIG", str(config_dir))
    with DaemonSet() as ds:
        (d,) = ds.start(1)
        with single_node_swarm(d):
            first = d.ok("build", "-t", "app:v1", "-t", "app:extra", str(ctx), timeout=180)
            steps = 26
            assert f"Step {steps}/{steps} : CMD" in first
            assert "Successfully tagged app:v1" in first
            assert "Successfully tagged app:extra" in first
            doc = d.json("image", "inspect", "app:v1")[0]
            config = doc["Config"]
            assert config["Entrypoint"] == ["/bin/sh", "-c"]
            assert config["Labels"] == {"org.example.team": "images", "version": "1"}
            assert "APP_HOME=/srv/app" in config["Env"]
            assert "MODE=test" in config["Env"]
            assert config["WorkingDir"] == "/srv/app"
            assert config["User"] == "1000"
            assert config["OnBuild"] == ["ENV TRIGGERED=yes"]
            (ctx / "Child").write_text("FROM app:v1\n")
            child = d.ok("build", "-f", str(ctx / "Child"), "-t", "child", str(ctx))
            assert "# Executing 1 build trigger\n" in child
            child_config = d.json("image", "inspect", "child")[0]["Config"]
            assert "TRIGGERED=yes" in child_config["Env"]
            assert not child_config["OnBuild"]
            cached_child = d.ok("build", "-f", str(ctx / "Child"), "-t", "child", str(ctx))
            assert " ---> Using cache" in cached_child
            fresh = d.ok("build", "--no-cache", "-f", str(ctx / "Child"), str(ctx))
            assert " ---> Using cache" not in fresh
            assert "# Executing 1 build trigger" in fresh

            # ADD from a URL (a loopback server): named after the URL's path, mode 0600, its
            # time the Last-Modified header's, never extracted. RUN has the default bridge's
            # network, or the host's with --network host.
            served = tmp_path / "served"
            served.mkdir()
            (served / "bundle.tar").write_bytes(_bundle())
            os.utime(served / "bundle.tar", (1_600_000_000, 1_600_000_000))
            handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
            with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
                threading.Thread(target=server.serve_forever, daemon=True).start()
                url = f"http://127.0.0.1:{server.server_address[1]}/bundle.tar"
                (ctx / "Remote").write_text(
                    f"FROM busybox\nADD {url} /got/\n"
                    "RUN stat -c '%n %a %Y %s' /got/* && ip -4 route | grep default\n"
                )
                fetched = d.ok("build", "-f", str(ctx / "Remote"), str(ctx))
                # The download's progress is in the stream, as the classic builder's (a
                # client shows it on a terminal only).
                with docker.APIClient(base_url=d.host, version="1.41") as api:
                    stream = list(
                        api.build(path=str(ctx), dockerfile="Remote", nocache=True, decode=True)
                    )
                whole = {"current": len(_bundle()), "total": len(_bundle())}
                assert {
                    "status": "Downloading",
                    "progressDetail": whole,
                    "progress": f"[{'=' * 50}>]  10.24kB/10.24kB",  # 10240 bytes
                } in stream
                (ctx / "Hosted").write_text(f"FROM busybox\nRUN wget -qO- {url} | wc -c\n")
                hosted = d.ok("build", "--network", "host", "-f", str(ctx / "Hosted"), str(ctx))
                server.shutdown()
            # On a user bridge, RUN reaches its containers by name (the embedded DNS).
            d.ok("network", "create", "buildnet")
            peer = d.ok(
                "run", "-d", "--network", "buildnet", "--name", "peer",
                "busybox", "httpd", "-f", "-h", "/etc",
            ).strip()  # fmt: skip
            (ctx / "Peer").write_text("FROM busybox\nRUN wget -qO- http://peer/hostname\n")
            peered = d.ok("build", "--network", "buildnet", "-f", str(ctx / "Peer"), str(ctx))
            assert f"\n{peer[:12]}\n" in peered
            # The network is no part of the cache key (as moby's): --no-cache runs the step.
            lost = d.cli(
                "build", "--no-cache", "--network", "nonet", "-f", str(ctx / "Peer"), str(ctx)
            )
            assert lost.returncode == 1
            assert "network nonet not found" in lost.stderr
            d.ok("rm", "-f", "peer")
            assert d.json("network", "inspect", "buildnet")[0]["Containers"] == {}
            d.ok("network", "rm", "buildnet")
            assert f"/got/bundle.tar 600 1600000000 {len(_bundle())}" in fetched
            assert "default via " in fetched
            assert f"\n{len(_bundle())}\n" in hosted

            # A rebuild is all cache; a changed COPY source rebuilds from its step on.
            second = d.ok("build", "-t", "app:v1", str(ctx), timeout=120)
            assert second.count(" ---> Using cache") == steps - 4  # all but meta ARG, 3 FROMs
            assert " ---> Running in" not in second
            (ctx / "app.txt").write_text("v2\n")
            third = d.ok("build", "-t", "app:v1", str(ctx), timeout=180)
            before, after = third.split("COPY app.txt ./", 1)
            assert before.count(" ---> Using cache") == 6
            assert " ---> Using cache" not in after

            # The docker CLI (classic builder) against our API.
            cli = DockerCli(d)
            cli.env["DOCKER_BUILDKIT"] = "0"
            built = cli.ok("build", "-t", "dapp", str(ctx), timeout=180)
            assert "Successfully tagged dapp:latest" in built
            stage = cli.ok("build", "--target", "build", "-t", "stage1", str(ctx))
            assert "Step 4/4 : RUN" in stage  # the meta ARG, then the first stage alone
            cli.ok("rmi", "stage1")

            # Tag, push, remove, pull back, run as a service.
            remote = f"{registry}/team/app:v1"
            d.ok("tag", "app:v1", remote)
            pushed = d.ok("push", remote, timeout=120)
            assert "v1: digest: sha256:" in pushed
            cli.ok("tag", "dapp", f"{registry}/team/dapp:1")
            assert "Mounted from team/app" in cli.ok("push", f"{registry}/team/dapp:1")
            d.ok("image", "rm", "app:v1", "app:extra", remote, "dapp", f"{registry}/team/dapp:1")
            d.ok("image", "pull", remote, timeout=120)
            container = run_task(d, "built", "--stop-grace-period", "1s", remote)
            out = wait_for("the task's output", lambda: _full_output(d, container), 30, 0.2)
            # app.txt, ADD's archive unpacked, COPY --from a stage and from a scratch stage,
            # --chown, the whiteout of RUN's rm.
            one = "hello from stage one"
            assert out.splitlines()[:4] == ["v2", "in", one, one]
            assert " 1000 " in out
            assert "vi-gone" in out

            # save output loads back.
            archive = tmp_path / "app.tar"
            d.ok("save", "-o", str(archive), remote)
            image_id = d.json("image", "inspect", remote)[0]["Id"]
            remove_service(d, "built")
            with tarfile.open(archive) as tar:
                manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            assert manifest[0]["RepoTags"] == [remote]

            # Logins (basic auth), a push and a service's pull with the stored credentials.
            users = {"alice": "s3cret"}
            with start_registry(f"127.0.0.1:{free_port()}", users=users) as private:
                bad = d.cli("login", "-u", "alice", "--password-stdin", private.addr, input="no")
                assert bad.returncode == 1
                assert "401 Unauthorized" in bad.stderr
                assert not (config_dir / "config.json").exists()
                assert "Login Succeeded" in d.ok(
                    "login", "-u", "alice", "--password-stdin", private.addr, input="s3cret\n"
                )
                stored = config_dir / "config.json"
                assert stat.S_IMODE(stored.stat().st_mode) == 0o600
                auth = json.loads(stored.read_text())["auths"][private.addr]["auth"]
                assert base64.b64decode(auth) == b"alice:s3cret"
                secret_ref = f"{private.addr}/team/secret:1"
                d.ok("tag", remote, secret_ref)
                d.ok("push", secret_ref, timeout=120)
                d.ok("image", "rm", secret_ref, remote)  # the service's node must pull it
                d.ok(
                    "service", "create", "-d", "--with-registry-auth", "--name", "priv", secret_ref
                )
                wait_for("the private image's task", lambda: _running(d, "priv"), 60, 0.5)
                assert "RegistryAuth" not in d.ok("service", "inspect", "priv")
                d.ok("service", "rm", "priv")
                assert (
                    d.ok("logout", private.addr)
                    == f"Removing login credentials for {private.addr}\n"
                )
                assert d.ok("logout", private.addr) == f"Not logged in to {private.addr}\n"
                denied = d.cli("image", "pull", f"{private.addr}/team/secret:1", timeout=60)
                assert denied.returncode != 0
                docker_login = cli.run(
                    "login", "-u", "alice", "--password-stdin", private.addr, input="s3cret\n"
                )
                assert "Login Succeeded" in docker_login.stdout, docker_login.stderr

            # Bad Dockerfiles: Docker's messages, nothing left behind.
            layers = _layers(d)
            for text, message in (
                ("FROM busybox\nFROB x\n", "unknown instruction: FROB"),
                ("FROM busybox\nCOPY missing.txt /\n", "file not found in build context"),
                ("FROM busybox\nRUN exit 3\n", "returned a non-zero code: 3"),
            ):
                (ctx / "Dockerfile").write_text(text)
                failed = d.cli("build", str(ctx), timeout=60)
                assert failed.returncode != 0
                assert message in failed.stderr
                assert _leftovers(d) == []
                assert _layers(d) == layers
            assert "/bin/sh -c exit 3" in failed.stderr
        d.ok("image", "load", "-i", str(archive))
        assert d.json("image", "inspect", remote)[0]["Id"] == image_id
