"""``docker build`` as Docker's classic builder does it, with runc and overlayfs.

Each instruction commits an image whose parent is the previous step's, its ``container_config``
the step's run config with Cmd set to what the step did (``/bin/sh -c #(nop)  ENV A=b``,
``/bin/sh -c #(nop) COPY file:<sha> in /app ``, ``/bin/sh -c make``). The cache is Docker's: a
step is skipped when a child of the current image has that same ``container_config`` (so the
key is the instruction, the parent and, for COPY/ADD, the sources' checksum).

A step that changes files (RUN, COPY, ADD, a WORKDIR that must be made) mounts the current
image's layers with a fresh upper dir, changes the tree (RUN runs ``runc run`` in it, on the
default bridge as a container, or in the host's namespace with ``--network host``, or a new,
empty one with ``none``), and its upper dir, whiteouts and all, becomes the new layer.
Whatever a step leaves (mount, runc container, cgroup, work dir, network sandbox) is removed
whether it succeeds or fails; committed steps stay as cache, as Docker keeps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import gzip
import hashlib
import json
import posixpath
import re
import secrets
import shutil
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from swarmpy.dockerjson.health import image_health
from swarmpy.dockerjson.progress import progress_message
from swarmpy.engine import bundle, modes, seccomp
from swarmpy.engine.build import context as ctx
from swarmpy.engine.build import dockerfile as dfile
from swarmpy.engine.build import remote
from swarmpy.engine.build.dockerfile import DockerfileError, Instruction
from swarmpy.engine.childsignal import ChildSignals
from swarmpy.engine.images import manifest as mf
from swarmpy.engine.images.digests import digest_hex
from swarmpy.engine.images.layertar import is_empty, write_layer
from swarmpy.engine.images.records import ImageConfig
from swarmpy.engine.images.reference import familiar_name, parse_reference
from swarmpy.engine.images.registry import Credentials
from swarmpy.engine.images.rootfs import mount_rootfs, remove_rootfs, unmount_rootfs
from swarmpy.engine.images.store import ImageStore
from swarmpy.engine.runc import RUNC_UMASK, Runc, remove_cgroup
from swarmpy.engine.spec import ContainerConfig
from swarmpy.errors import ImageError, InvalidArgument, NotFound, RuntimeFailure
from swarmpy.humanize import go_duration

Say = Callable[[str], None]
Tell = Callable[[dict[str, Any]], None]  # a JSON message of the build's stream besides text

DEFAULT_SHELL = ["/bin/sh", "-c"]
# Where a step with --network host joins the host's namespace: runc opens the path in its own
# process, which is in the daemon's.
HOST_NETNS = "/proc/self/ns/net"
LOCALHOST_HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
BUILDKIT_ONLY = (
    "the --{flag} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to "
    "learn how to build images with BuildKit enabled"
)
# Docker's predefined ARGs: usable without a declaration, never in the cache key.
PREDEFINED_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    }
)
_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}


class BuildFailed(InvalidArgument):
    """A step failed; the message is Docker's (``The command '...' returned a non-zero code``)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class BuildOptions:
    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()
    build_args: tuple[tuple[str, str | None], ...] = ()
    no_cache: bool = False
    target: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    pull: bool = False
    registry_auth: tuple[tuple[str, Credentials], ...] = ()  # X-Registry-Config's
    network: str = "default"  # RUN's: default (the default bridge), host or none


@dataclass
class _State:
    """One stage's progress: its current image and the run config the next step starts from."""

    image_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    diff_ids: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    architecture: str = ""
    os: str = "linux"
    author: str = ""
    args: dict[str, str] = field(default_factory=dict)  # the ARGs declared in this stage
    cmd_set: bool = False

    def env(self) -> dict[str, str]:
        return dict(e.split("=", 1) if "=" in e else (e, "") for e in self.config.get("Env") or [])

    def expand_env(self) -> dict[str, str]:
        """What ${VAR} sees: the stage's ARGs, then its ENV (which wins)."""
        return {**self.args, **self.env()}


class StepNetwork(Protocol):
    """swarmpy.standalone.manager.StandaloneContainers, as RUN's network: a step's sandbox
    on the node's default bridge ("default", "bridge") or on a user bridge (its name or id,
    ``build --network``), as a container's there; or a running container's namespace
    (``--network container:<ref>``)."""

    async def attach_build(self, cid: str, network: str) -> str: ...

    async def join_build(self, ref: str) -> tuple[str, str, str, str]: ...

    async def detach_build(self, cid: str, network: str) -> None: ...

    def build_resolv_conf(self, network: str) -> str: ...


class Builder:
    def __init__(
        self,
        images: ImageStore,
        runc: Runc,
        work_root: Path,
        seccomp_profile: seccomp.Profile | None = None,
        network: StepNetwork | None = None,
    ) -> None:
        self.images = images
        self.runc = runc
        self.work_root = work_root
        self.seccomp = seccomp_profile
        self.network = network  # None: RUN can only have the host's network, or none
        work_root.mkdir(parents=True, exist_ok=True)

    async def build(
        self,
        context_dir: Path,
        options: BuildOptions,
        say: Say,
        built: Say | None = None,
        tell: Tell | None = None,
    ) -> str:
        """Build from the unpacked context; the final image's id. Output goes to ``say``;
        ``built`` hears the image's id before the closing lines (Docker's aux message);
        ``tell`` the progress messages (ADD's downloads)."""
        text = _read_dockerfile(context_dir, options.dockerfile)
        await asyncio.to_thread(ctx.apply_dockerignore, context_dir)
        parsed = dfile.parse(text)
        run = _Run(self, context_dir, parsed, options, say, tell)
        image_id = await run.all()
        for tag in options.tags:
            await asyncio.to_thread(self.images.tag, image_id, tag)
        if built is not None:
            built(image_id)
        say(f"Successfully built {digest_hex(image_id)[:12]}\n")
        for tag in options.tags:
            say(f"Successfully tagged {familiar_name(str(parse_reference(tag)))}\n")
        return image_id


# moby's validCommitCommands: what ``commit --change`` takes (config only, never a layer).
COMMIT_CHANGES = frozenset(
    {"CMD", "ENTRYPOINT", "HEALTHCHECK", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL"}
    | {"USER", "VOLUME", "WORKDIR"}
)


async def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """``config`` (an image's) with ``commit --change``'s Dockerfile instructions applied as
    the builder applies them, refused in moby's words (BuildFromConfig)."""
    run = _Changes()
    state = _State(config=copy.deepcopy(config))
    for line, text in dfile.change_lines(changes):
        word = text.split(None, 1)[0]
        if word.upper() not in COMMIT_CHANGES:
            raise InvalidArgument(f"{word.lower()} is not a valid change command")
        await run._dispatch(state, dfile.parse_instruction(text, line, run.escape))
    return state.config


def _read_dockerfile(context_dir: Path, name: str) -> str:
    rel = ctx.clean_source(name)
    path = ctx.secure_join(context_dir, rel)
    try:
        return path.read_text(errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        raise InvalidArgument(f"Cannot locate specified Dockerfile: {name}") from None


class _Run:
    """One build: steps numbered across stages, build args, finished stages by name."""

    def __init__(
        self,
        builder: Builder,
        context_dir: Path,
        parsed: dfile.Dockerfile,
        options: BuildOptions,
        say: Say,
        tell: Tell | None = None,
    ) -> None:
        self.b = builder
        self.context_dir = context_dir
        self.options = options
        self.say = say
        self.tell = tell
        self.escape = parsed.escape
        self.build_args = dict(options.build_args)
        self.used_args: set[str] = set()
        self.meta_args: dict[str, str] = {}
        stages = list(parsed.stages)
        if options.target:
            names = [s.name for s in stages]
            if options.target.lower() not in names:
                raise InvalidArgument(
                    f"target stage {options.target!r} could not be found".replace("'", '"')
                )
            stages = stages[: names.index(options.target.lower()) + 1]
        self.parsed = dfile.Dockerfile(parsed.meta_args, tuple(stages), parsed.escape)
        self.total = self.parsed.step_count
        self.step = 0
        self.finished: list[_State] = []
        self.stage_names: dict[str, int] = {}

    def _print_step(self, inst: Instruction) -> None:
        self.step += 1
        self.say(f"Step {self.step}/{self.total} : {inst.original}\n")

    def _done(self, state: _State) -> None:
        self.say(f" ---> {digest_hex(state.image_id)[:12] if state.image_id else ''}\n")

    async def all(self) -> str:
        for inst in self.parsed.meta_args:
            self._print_step(inst)
            for name, value in self._arg_pairs(inst, self.meta_args):
                self.meta_args[name] = self.build_args.get(name) or value or ""
                if name in self.build_args:
                    self.used_args.add(name)
        state = _State()
        for index, stage in enumerate(self.parsed.stages):
            if stage.name in self.stage_names:
                raise DockerfileError(f"duplicate name {stage.name}")
            self._print_step(stage.source)
            state = await self._from(stage)
            await self._triggers(state)
            self._done(state)
            for inst in stage.instructions:
                self._print_step(inst)
                await self._dispatch(state, inst)
                self._done(state)
            self.finished.append(state)
            if stage.name:
                self.stage_names[stage.name] = index
        if not state.image_id:
            raise InvalidArgument("No image was generated. Is your Dockerfile empty?")
        unused = sorted(set(self.build_args) - self.used_args - PREDEFINED_ARGS)
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        return state.image_id

    def _arg_pairs(self, inst: Instruction, env: dict[str, str]) -> list[tuple[str, str | None]]:
        words = dfile.split_words(inst.rest, self.escape)
        if not words:
            raise DockerfileError("ARG requires exactly one argument")
        pairs: list[tuple[str, str | None]] = []
        for word in words:
            name, eq, value = word.partition("=")
            pairs.append((name, dfile.process_word(value, env, self.escape) if eq else None))
        return pairs

    # ------------------------------------------------------------ FROM

    async def _from(self, stage: dfile.Stage) -> _State:
        if stage.source.flag("platform"):
            raise DockerfileError("FROM --platform is not supported by swarmpy's builder")
        base = dfile.process_word(stage.base, self.meta_args, self.escape)
        if not base:
            raise DockerfileError(f"base name ({stage.base}) should not be blank")
        state = _State(architecture=mf.host_platform()[0])
        if base.lower() == "scratch":
            state.config = _empty_config()
            return state
        if base.lower() in self.stage_names:
            prior = self.finished[self.stage_names[base.lower()]]
            return self._child_state(prior.image_id)
        image_id = await self._image(base)
        return self._child_state(image_id)

    def _child_state(self, image_id: str) -> _State:
        doc = self.b.images.config_doc(image_id)
        config = copy.deepcopy(doc.get("config") or {}) or _empty_config()
        config.setdefault("Env", None)
        return _State(
            image_id=image_id,
            config=config,
            diff_ids=list(self.b.images.get(image_id).diff_ids),
            history=list(doc.get("history") or []),
            architecture=str(doc.get("architecture") or mf.host_platform()[0]),
            os=str(doc.get("os") or "linux"),
        )

    async def _image(self, ref: str) -> str:
        if not self.options.pull:
            with contextlib.suppress(NotFound):
                return self.b.images.get(ref).id
        parsed = parse_reference(ref)
        creds = dict(self.options.registry_auth).get(parsed.domain) or dict(
            self.options.registry_auth
        ).get(_auth_key(parsed.domain))

        def progress(line: str) -> None:
            self.say(line + "\n")

        record = await asyncio.to_thread(self.b.images.pull, ref, progress, creds)
        return record.id

    # ------------------------------------------------------------ dispatch

    async def _dispatch(self, state: _State, inst: Instruction) -> None:
        handler = getattr(self, f"_do_{inst.cmd.lower()}")
        await handler(state, inst)

    def _words(self, state: _State, inst: Instruction) -> list[str]:
        return dfile.expand_words(inst.rest, state.expand_env(), self.escape)

    async def _do_env(self, state: _State, inst: Instruction) -> None:
        env = state.env()
        pairs = dfile.key_values(inst, state.expand_env(), self.escape)
        parts = []
        for key, value in pairs:
            env[key] = value
            parts.append(f"{key}={value}")
        state.config["Env"] = [f"{k}={v}" for k, v in env.items()]
        await self._commit_meta(state, "ENV " + " ".join(parts))

    async def _do_label(self, state: _State, inst: Instruction) -> None:
        labels = dict(state.config.get("Labels") or {})
        parts = []
        for key, value in dfile.key_values(inst, state.expand_env(), self.escape):
            labels[key] = value
            parts.append(f"{key}={value}")
        state.config["Labels"] = labels
        await self._commit_meta(state, "LABEL " + " ".join(parts))

    async def _do_maintainer(self, state: _State, inst: Instruction) -> None:
        state.author = inst.rest
        await self._commit_meta(state, f"MAINTAINER {inst.rest}")

    async def _do_arg(self, state: _State, inst: Instruction) -> None:
        parts = []
        for name, default in self._arg_pairs(inst, state.expand_env()):
            if default is None and name in self.meta_args:
                default = self.meta_args[name]
            given = self.build_args.get(name)
            if name in self.build_args:
                self.used_args.add(name)
            state.args[name] = given if given is not None else (default or "")
            parts.append(name if default is None else f"{name}={default}")
        await self._commit_meta(state, "ARG " + " ".join(parts))

    def _command(self, state: _State, inst: Instruction) -> list[str]:
        words, shell_form = dfile.command_words(inst)
        if shell_form:
            return [*(state.config.get("Shell") or DEFAULT_SHELL), words[0]]
        return words

    async def _do_cmd(self, state: _State, inst: Instruction) -> None:
        state.config["Cmd"] = self._command(state, inst)
        state.cmd_set = True
        await self._commit_meta(state, f"CMD {_go_list(state.config['Cmd'])}")

    async def _do_entrypoint(self, state: _State, inst: Instruction) -> None:
        words, _ = dfile.command_words(inst)
        state.config["Entrypoint"] = self._command(state, inst) if words != [""] else None
        if not state.cmd_set:
            state.config["Cmd"] = None  # the base image's Cmd was written for its Entrypoint
        await self._commit_meta(state, f"ENTRYPOINT {_go_list(state.config['Entrypoint'] or [])}")

    async def _do_shell(self, state: _State, inst: Instruction) -> None:
        if inst.json_args is None:
            raise DockerfileError("SHELL requires the arguments to be in JSON form")
        if not inst.json_args:
            raise DockerfileError("SHELL requires at least one argument")
        state.config["Shell"] = list(inst.json_args)
        await self._commit_meta(state, f"SHELL [{' '.join(state.config['Shell'])}]")

    async def _do_user(self, state: _State, inst: Instruction) -> None:
        words = self._words(state, inst)
        if len(words) != 1:
            raise DockerfileError("USER requires exactly one argument")
        state.config["User"] = words[0]
        await self._commit_meta(state, f"USER {words[0]}")

    async def _do_stopsignal(self, state: _State, inst: Instruction) -> None:
        words = self._words(state, inst)
        if len(words) != 1:
            raise DockerfileError("STOPSIGNAL requires exactly one argument")
        state.config["StopSignal"] = words[0]
        await self._commit_meta(state, f"STOPSIGNAL {words[0]}")

    async def _do_expose(self, state: _State, inst: Instruction) -> None:
        ports = dict(state.config.get("ExposedPorts") or {})
        words = self._words(state, inst)
        for word in words:
            port, _, proto = word.partition("/")
            proto = (proto or "tcp").lower()
            if proto not in ("tcp", "udp", "sctp"):
                raise DockerfileError(f"invalid proto: {proto}")
            if not port or not all(p.isdigit() for p in port.split("-")):
                raise DockerfileError(f"invalid containerPort: {port}")
            ports[f"{port}/{proto}"] = {}
        if not ports:
            raise DockerfileError("EXPOSE requires at least one argument")
        state.config["ExposedPorts"] = ports
        await self._commit_meta(state, "EXPOSE " + " ".join(words))

    async def _do_volume(self, state: _State, inst: Instruction) -> None:
        env = state.expand_env()
        if inst.json_args is not None:
            paths = [dfile.process_word(p, env, self.escape) for p in inst.json_args]
        else:
            paths = self._words(state, inst)
        if not paths:
            raise DockerfileError("VOLUME requires at least one argument")
        volumes = dict(state.config.get("Volumes") or {})
        for path in paths:
            if not path.strip():
                raise DockerfileError("VOLUME specified can not be an empty string")
            volumes[path] = {}
        state.config["Volumes"] = volumes
        await self._commit_meta(state, f"VOLUME [{' '.join(paths)}]")

    async def _do_healthcheck(self, state: _State, inst: Instruction) -> None:
        rest = inst.rest
        word, _, after = rest.partition(" ")
        if word.upper() == "NONE":
            if after.strip() or inst.flags:
                raise DockerfileError("HEALTHCHECK NONE takes no arguments")
            check: dict[str, Any] = {"Test": ["NONE"]}
        elif word.upper() == "CMD":
            sub = dfile._json_form(after.strip())
            test = ["CMD", *sub] if sub is not None else ["CMD-SHELL", after.strip()]
            check = {"Test": test}
            for flag, key in (
                ("interval", "Interval"),
                ("timeout", "Timeout"),
                ("start-period", "StartPeriod"),
                ("start-interval", "StartInterval"),
            ):
                value = inst.flag(flag)
                if value:
                    check[key] = _duration(value, flag)
            retries = inst.flag("retries")
            if retries:
                if not retries.isdigit() or int(retries) < 1:
                    raise DockerfileError("--retries must be at least 1")
                check["Retries"] = int(retries)
        else:
            raise DockerfileError('Unknown type "' + word + '" in HEALTHCHECK (try CMD)')
        state.config["Healthcheck"] = check
        image_health(check)  # refuses what a container could not use
        await self._commit_meta(state, f"HEALTHCHECK {_go_health(check)}")

    async def _do_onbuild(self, state: _State, inst: Instruction) -> None:
        trigger = dfile.parse_instruction(inst.rest, inst.line, self.escape)
        if trigger.cmd == "ONBUILD":
            raise DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger.cmd in ("FROM", "MAINTAINER"):
            raise DockerfileError(f"{trigger.cmd} isn't allowed as an ONBUILD trigger")
        state.config["OnBuild"] = [*(state.config.get("OnBuild") or []), inst.rest]
        await self._commit_meta(state, f"ONBUILD {inst.rest}")

    async def _triggers(self, state: _State) -> None:
        """The base image's ONBUILD triggers, run right after FROM (and then forgotten)."""
        triggers = list(state.config.get("OnBuild") or [])
        if not triggers:
            return
        state.config["OnBuild"] = None
        self.say(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
        for text in triggers:
            await self._dispatch(state, dfile.parse_instruction(text, 0, self.escape))

    def _set_workdir(self, state: _State, inst: Instruction) -> str:
        words = self._words(state, inst)
        if len(words) != 1:
            raise DockerfileError("WORKDIR requires exactly one argument")
        workdir = posixpath.normpath(
            posixpath.join(state.config.get("WorkingDir") or "/", words[0])
        )
        state.config["WorkingDir"] = workdir
        return workdir

    async def _do_workdir(self, state: _State, inst: Instruction) -> None:
        workdir = self._set_workdir(state, inst)
        # One-argument comment, as Docker's WORKDIR (and COPY/ADD) write theirs.
        probe = self._probe_config(state, comment=f"WORKDIR {workdir}", two_args=False)
        if await self._cached(state, probe):
            return

        def make(rootfs: Path) -> None:
            if not ctx.secure_join(rootfs, workdir).exists():
                ctx.make_dirs(rootfs, workdir, ctx.Owner(0, 0))

        await self._fs_step(state, probe, make, container=True)

    async def _do_run(self, state: _State, inst: Instruction) -> None:
        if inst.flags:
            raise DockerfileError(BUILDKIT_ONLY.format(flag=inst.flags[0][0]))
        cmd = self._command(state, inst)
        args_env = {k: v for k, v in state.args.items() if k not in state.env()}
        save_cmd = cmd
        if args_env:
            pairs = [f"{k}={v}" for k, v in sorted(args_env.items())]
            save_cmd = [f"|{len(pairs)}", *pairs, *cmd]
        probe = copy.deepcopy(state.config)
        probe["Cmd"] = save_cmd
        probe["Entrypoint"] = None
        if await self._cached(state, probe):
            return
        env = [*(state.config.get("Env") or []), *(f"{k}={v}" for k, v in args_env.items())]
        user = str(state.config.get("User") or "")
        workdir = str(state.config.get("WorkingDir") or "/")

        async def run(rootfs: Path, cdir: Path, cid: str) -> None:
            code = await self._run_container(rootfs, cdir, cid, cmd, env, user, workdir)
            if code != 0:
                raise BuildFailed(
                    f"The command '{' '.join(cmd)}' returned a non-zero code: {code}", code
                )

        await self._fs_step(state, probe, None, container=True, runner=run)

    async def _do_copy(self, state: _State, inst: Instruction) -> None:
        await self._copy(state, inst, decompress=False)

    async def _do_add(self, state: _State, inst: Instruction) -> None:
        await self._copy(state, inst, decompress=True)

    async def _copy(self, state: _State, inst: Instruction, decompress: bool) -> None:
        for flag, _ in inst.flags:
            if flag not in ("from", "chown"):
                raise DockerfileError(BUILDKIT_ONLY.format(flag=flag))
        if decompress and inst.flag("from") is not None:
            raise DockerfileError("ADD does not support the --from flag")
        env = state.expand_env()
        srcs, dest = dfile.sources_and_dest(inst, env, self.escape)
        chown = dfile.process_word(inst.flag("chown") or "", env, self.escape)
        urls = [src for src in srcs if remote.is_url(src)]
        if urls and not decompress:
            raise DockerfileError("source can't be a URL for COPY")
        for src in srcs:
            if "://" in src and src not in urls:
                raise DockerfileError(
                    f"{inst.cmd} from a URL ({src}) is not supported by swarmpy's builder"
                )
        locals_ = [src for src in srcs if src not in urls]
        async with (
            self._source_root(inst) as (src_root, from_image),
            _downloads(self.b.work_root, urls, dest, self._download_progress()) as fetched,
        ):
            rels: list[str] = []
            for src in locals_:
                rels += ctx.find_sources(src_root, src, inst.cmd, from_image)
            if fetched and len(rels) + len(fetched) > 1 and not dest.endswith("/"):
                raise DockerfileError(
                    f"When using {inst.cmd} with more than one source file, the destination "
                    "must be a directory and end with a /"
                )
            hashes = [await asyncio.to_thread(ctx.source_hash, src_root, [r]) for r in rels]
            for root, name in fetched:
                hashes.append(await asyncio.to_thread(ctx.source_hash, root, [name]))
            src_hash = ctx.combined_hash(hashes)
            dest_path = ctx.normalize_dest(str(state.config.get("WorkingDir") or "/"), dest)
            chown_comment = f"--chown={chown} " if chown else ""
            # Docker's comment keeps the destination as written (with its trailing space).
            probe = self._probe_config(
                state, comment=f"{inst.cmd} {chown_comment}{src_hash} in {dest} ", two_args=False
            )
            if await self._cached(state, probe):
                return

            def copy_in(rootfs: Path) -> None:
                owner: ctx.Owner | None = ctx.Owner(0, 0)
                if chown:
                    owner = _chown_owner(chown, rootfs)
                elif from_image:
                    owner = None  # COPY --from keeps the owners it finds
                ctx.copy_sources(src_root, rels, rootfs, dest_path, owner, inst.cmd, decompress)
                for root, name in fetched:
                    # What a URL gives is never extracted, as Docker's.
                    ctx.copy_sources(root, [name], rootfs, dest_path, owner, inst.cmd)

            await self._fs_step(state, probe, copy_in, container=False)

    def _download_progress(self) -> remote.Progress | None:
        """ADD's download progress as the classic builder streams it, told from the
        download's thread onto the build's loop."""
        tell = self.tell
        if tell is None:
            return None
        loop = asyncio.get_running_loop()

        def told(current: int, total: int) -> None:
            loop.call_soon_threadsafe(tell, progress_message("Downloading", current, total))

        return told

    @contextlib.asynccontextmanager
    async def _source_root(self, inst: Instruction) -> Any:
        source = inst.flag("from")
        if source is None:
            yield self.context_dir, False
            return
        if source.lower() in self.stage_names:
            image_id = self.finished[self.stage_names[source.lower()]].image_id
        elif source.isdigit():
            index = int(source)
            if index >= len(self.finished):
                raise DockerfileError(
                    f"invalid from flag value {source}: refers to current build stage"
                )
            image_id = self.finished[index].image_id
        else:
            try:
                image_id = await self._image(source)
            except (ImageError, InvalidArgument) as exc:
                raise DockerfileError(f"invalid from flag value {source}: {exc.message}") from None
        cdir = self.b.work_root / ("src-" + secrets.token_hex(16))
        layers = self._layer_dirs(image_id, cdir)
        try:
            merged = await asyncio.to_thread(mount_rootfs, layers, cdir)
            yield merged, True
        finally:
            await asyncio.to_thread(_remove_work_dir, cdir)

    # ------------------------------------------------------------ commits

    def _probe_config(self, state: _State, comment: str, two_args: bool = True) -> dict[str, Any]:
        probe = copy.deepcopy(state.config)
        shell = list(state.config.get("Shell") or DEFAULT_SHELL)
        probe["Cmd"] = [*shell, "#(nop) ", comment] if two_args else [*shell, "#(nop) " + comment]
        return probe

    async def _cached(self, state: _State, probe: dict[str, Any]) -> bool:
        if self.options.no_cache:
            return False
        hit = await asyncio.to_thread(self.b.images.cached_child, state.image_id, probe)
        if hit is None:
            return False
        self.say(" ---> Using cache\n")
        self._adopt(state, hit)
        return True

    def _adopt(self, state: _State, image_id: str) -> None:
        doc = self.b.images.config_doc(image_id)
        state.image_id = image_id
        state.diff_ids = list(self.b.images.get(image_id).diff_ids)
        state.history = list(doc.get("history") or [])

    async def _commit_meta(self, state: _State, comment: str) -> None:
        probe = self._probe_config(state, comment)
        if await self._cached(state, probe):
            return
        cid = secrets.token_hex(32)
        # The classic builder makes (and removes) a container to commit even these steps.
        self.say(f" ---> Running in {cid[:12]}\n")
        await self._commit(state, probe, None)
        self.say(f"Removing intermediate container {cid[:12]}\n")

    async def _commit(
        self, state: _State, container_config: dict[str, Any], layer: _NewLayer | None
    ) -> None:
        now = _now()
        diff_id = layer.diff_id if layer is not None else None
        entry: dict[str, Any] = {
            "created": now,
            "created_by": " ".join(container_config.get("Cmd") or []),
        }
        if layer is None:
            entry["empty_layer"] = True
        diff_ids = [*state.diff_ids, *([diff_id] if diff_id else [])]
        doc: dict[str, Any] = {
            "architecture": state.architecture,
            "config": copy.deepcopy(state.config),
            "container_config": container_config,
            "created": now,
            "docker_version": "swarmpy",
            "history": [*state.history, entry],
            "os": state.os,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        if state.author:
            doc["author"] = state.author
        config = json.dumps(doc, separators=(",", ":")).encode()
        record = await asyncio.to_thread(
            self.b.images.register_built,
            config,
            state.image_id,
            None if layer is None else (layer.tree, layer.blob, layer.diff_id),
        )
        state.image_id = record.id
        state.diff_ids = diff_ids
        state.history = doc["history"]

    # ------------------------------------------------------------ file system steps

    def _layer_dirs(self, image_id: str, cdir: Path) -> list[Path]:
        layers = self.b.images.layer_dirs(image_id) if image_id else []
        if not layers:  # FROM scratch: overlayfs needs one lower dir
            modes.make_dir(cdir / "empty")
            layers = [cdir / "empty"]
        return layers

    async def _fs_step(
        self,
        state: _State,
        probe: dict[str, Any],
        change: Callable[[Path], None] | None,
        container: bool,
        runner: Callable[[Path, Path, str], Awaitable[None]] | None = None,
    ) -> None:
        cid = secrets.token_hex(32)
        cdir = self.b.work_root / cid
        if container:
            self.say(f" ---> Running in {cid[:12]}\n")
        try:
            cdir.mkdir(parents=True)
            layers = self._layer_dirs(state.image_id, cdir)
            rootfs = await asyncio.to_thread(mount_rootfs, layers, cdir)
            try:
                if change is not None:
                    await asyncio.to_thread(change, rootfs)
                if runner is not None:
                    await runner(rootfs, cdir, cid)
            finally:
                await asyncio.to_thread(unmount_rootfs, cdir)
            layer = None
            if not await asyncio.to_thread(is_empty, cdir / "upper"):
                blob = cdir / "layer.tar.gz"
                diff_id = await asyncio.to_thread(_pack, cdir / "upper", blob)
                layer = _NewLayer(cdir / "upper", blob, diff_id)
            await self._commit(state, probe, layer)
        finally:
            await asyncio.to_thread(_remove_work_dir, cdir)
        if container:
            self.say(f"Removing intermediate container {cid[:12]}\n")

    async def _run_container(
        self,
        rootfs: Path,
        cdir: Path,
        cid: str,
        cmd: list[str],
        env: list[str],
        user: str,
        workdir: str,
    ) -> int:
        if workdir != "/" and not ctx.secure_join(rootfs, workdir).exists():
            await asyncio.to_thread(ctx.make_dirs, rootfs, workdir, ctx.Owner(0, 0))
        image = ImageConfig(image_id="", cmd=tuple(cmd), env=tuple(env), workdir=workdir, user=user)
        mode = self.options.network
        netns, resolv, hosts, hostname = "", "", LOCALHOST_HOSTS, cid[:12]
        joins = mode.startswith("container:")
        if mode == "host":
            netns, resolv, hosts = HOST_NETNS, _read("/etc/resolv.conf"), _read("/etc/hosts")
        elif mode != "none":
            if self.b.network is None:
                raise InvalidArgument(f"network mode {mode} is not available to this build")
            if joins:
                joined = await self.b.network.join_build(mode.removeprefix("container:"))
                netns, resolv, hosts, hostname = joined
                hostname = hostname or cid[:12]
            else:
                netns = await self.b.network.attach_build(cid, mode)
                resolv = self.b.network.build_resolv_conf(mode)
        try:
            return await self._run_in(rootfs, cdir, cid, image, (netns, resolv, hosts, hostname))
        finally:
            if netns and mode != "host" and not joins and self.b.network is not None:
                await self.b.network.detach_build(cid, mode)

    async def _run_in(
        self,
        rootfs: Path,
        cdir: Path,
        cid: str,
        image: ImageConfig,
        network: tuple[str, str, str, str],
    ) -> int:
        """runc runs the step in ``network`` (netns path, "" for a new empty one; resolv.conf;
        hosts; host name), its output to the build's; its exit code."""
        netns, resolv, hosts, hostname = network
        container = ContainerConfig(
            id=cid,
            name=f"build-{cid[:12]}",
            image="",
            netns_path=netns,
            hostname=hostname,
            resolv_conf=resolv,
            hosts=hosts,
        )
        passwd, group = bundle.read_passwd(rootfs)
        paths = bundle.BundlePaths(cdir, rootfs, cdir / "volumes")
        cgroups_path = f"/swarmpy-build-{cid[:16]}"
        config = bundle.build_config(
            image,
            container,
            paths,
            cgroups_path=cgroups_path,
            passwd=passwd,
            group=group,
            seccomp_profile=self.b.seccomp,
        )
        for ns in config["linux"]["namespaces"]:
            if ns["type"] == "network" and not netns:
                ns.pop("path", None)  # a new, empty namespace (--network none)
        missing = _missing_mountpoints(rootfs, [m["destination"] for m in config["mounts"]])
        for name, text in bundle.etc_files(container).items():
            modes.write_file(cdir / name, text)
        (cdir / "config.json").write_text(json.dumps(config))
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.b.runc.argv("--log", str(cdir / "runc.log"), "--log-format", "json"),
                "run",
                "--bundle",
                str(cdir),
                cid,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                umask=RUNC_UMASK,
            )
        except FileNotFoundError:
            raise RuntimeFailure(f"runc not found: {self.b.runc.binary}") from None
        signals = ChildSignals(proc)  # a cancelled build kills runc without reaping it
        try:
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(1 << 16):
                self.say(chunk.decode(errors="replace"))
            code = await proc.wait()
        finally:
            if proc.returncode is None:
                signals.send(signal.SIGKILL)
                await proc.wait()
            signals.close()
            with contextlib.suppress(RuntimeFailure, NotFound):
                if self.b.runc.knows(cid):
                    await self.b.runc.delete(cid, force=True)
            remove_cgroup(cgroups_path)
        if code != 0 and (cdir / "runc.log").exists():
            from swarmpy.engine.runc import last_error

            error = last_error(cdir / "runc.log")
            if error:
                raise BuildFailed(f"failed to run the build container: {error}", code)
        await asyncio.to_thread(_forget_mountpoints, cdir / "upper", missing)
        return code


# ---------------------------------------------------------------- helpers


@contextlib.asynccontextmanager
async def _downloads(
    work_root: Path, urls: list[str], dest: str, progress: remote.Progress | None = None
) -> AsyncIterator[list[tuple[Path, str]]]:
    """ADD's URLs fetched into a work dir of their own: (dir, file name) each, removed after."""
    if not urls:
        yield []
        return
    root = work_root / ("dl-" + secrets.token_hex(16))
    try:
        fetched = []
        for index, url in enumerate(urls):
            folder = root / str(index)
            folder.mkdir(parents=True)
            name = await asyncio.to_thread(remote.download, url, folder, progress)
            if not name:
                if dest.endswith("/"):
                    raise DockerfileError(f"cannot determine filename for source {url}")
                name = remote.UNNAMED
            fetched.append((folder, name))
        yield fetched
    finally:
        await asyncio.to_thread(shutil.rmtree, root, True)


class _Changes(_Run):
    """The builder's instructions over a config alone (``commit --change``): no build runs,
    so no step commits an image and WORKDIR makes no directory (moby's disableCommit)."""

    def __init__(self) -> None:  # no _Run.__init__: there is no context, image or output
        self.escape = "\\"
        self.build_args = {}
        self.used_args: set[str] = set()
        self.meta_args: dict[str, str] = {}

    async def _commit_meta(self, state: _State, comment: str) -> None:
        return None

    async def _do_workdir(self, state: _State, inst: Instruction) -> None:
        self._set_workdir(state, inst)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _remove_work_dir(cdir: Path) -> None:
    if not cdir.exists():
        return
    remove_rootfs(cdir)
    shutil.rmtree(cdir, ignore_errors=True)


@dataclass(frozen=True)
class _NewLayer:
    tree: Path  # the step's upper dir: becomes the layer's unpacked tree as it is
    blob: Path  # its gzipped tar
    diff_id: str  # the digest of the uncompressed tar


class _Hashing:
    """A write-through stream hashing what it passes on (the tar, on its way to gzip)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return int(self.inner.write(data))


def _pack(upper: Path, dest: Path) -> str:
    """The upper dir as a gzipped layer tar at ``dest``; the tar's digest (the diff_id)."""
    with dest.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        hashing = _Hashing(gz)
        write_layer(upper, hashing)  # type: ignore[arg-type]
    return "sha256:" + hashing.hash.hexdigest()


def _missing_mountpoints(rootfs: Path, destinations: list[str]) -> list[str]:
    """The paths runc will create in the rootfs to mount on: not part of the step's layer."""
    missing: list[str] = []
    for dest in destinations:
        current = ""
        for part in [p for p in dest.split("/") if p]:
            current += "/" + part
            if (
                not (rootfs / current.lstrip("/")).exists()
                and not (rootfs / current.lstrip("/")).is_symlink()
            ):
                if current not in missing:
                    missing.append(current)
                break
    return missing


def _forget_mountpoints(upper: Path, missing: list[str]) -> None:
    for path in sorted(missing, key=lambda p: -p.count("/")):
        target = upper / path.lstrip("/")
        if target.is_symlink() or not target.exists():
            continue
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        elif target.stat().st_size == 0:
            target.unlink()


def _chown_owner(chown: str, rootfs: Path) -> ctx.Owner:
    user, _, group = chown.partition(":")
    passwd, groups = bundle.read_passwd(rootfs)
    try:
        uid = int(user) if user.isdigit() else bundle.resolve_user(user, passwd, groups)[0]
        gid_text = group or user
        if gid_text.isdigit():
            gid = int(gid_text)
        else:
            gid = bundle.resolve_user(f"0:{gid_text}", passwd or "root:x:0:0::/:", groups)[1]
    except InvalidArgument as exc:
        raise DockerfileError(
            f"unable to convert uid/gid chown string to host mapping: {exc.message}"
        ) from None
    return ctx.Owner(uid, gid)


def _empty_config() -> dict[str, Any]:
    return {
        "Env": ["PATH=" + bundle.DEFAULT_PATH],
        "Cmd": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "Labels": None,
    }


def _auth_key(domain: str) -> str:
    return "https://index.docker.io/v1/" if domain == "docker.io" else domain


def _go_list(words: list[str]) -> str:
    """A Go ``%q`` of a string slice, as the classic builder writes CMD comments."""
    return "[" + " ".join(json.dumps(w) for w in words) + "]"


def _go_health(check: dict[str, Any]) -> str:
    """Docker's ``%q`` of its HealthConfig pointer, as its history shows HEALTHCHECK:
    ``&{["CMD-SHELL" "x"] "5s" "0s" "0s" '\x02'}``."""
    durations = " ".join(
        json.dumps(go_duration(check.get(key, 0) / 1e9))
        for key in ("Interval", "Timeout", "StartPeriod")
    )
    retries = int(check.get("Retries", 0))
    char = chr(retries) if 0x20 <= retries < 0x7F and chr(retries) not in "'\\" else ""
    rune = f"'{char}'" if char else f"'\\x{retries:02x}'"
    return f"&{{{_go_list(check['Test'])} {durations} {rune}}}"


def _duration(text: str, flag: str) -> int:
    """A Go duration (``30s``, ``1m30s``) in nanoseconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise DockerfileError(f'time: invalid duration "{text}" (--{flag})')
    return int(sum(float(n) * _DURATION_UNITS[u] for n, u in parts))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
