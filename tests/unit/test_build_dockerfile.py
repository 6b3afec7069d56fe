"""The builder's pure parts: Dockerfile parsing and substitution, .dockerignore, the COPY
source checksum that keys the cache, layer tars with whiteouts, and the progress it streams."""

from __future__ import annotations

import asyncio
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from swarmpy.dockerjson.progress import progress_message, progress_text
from swarmpy.engine.build import dockerfile as dfile
from swarmpy.engine.build import remote
from swarmpy.engine.build.builder import apply_changes
from swarmpy.engine.build.context import normalize_dest, source_hash
from swarmpy.engine.build.ignore import excluded, parse_ignore
from swarmpy.engine.images.layertar import write_layer
from swarmpy.errors import InvalidArgument


def test_stages_flags_continuations_and_json_forms() -> None:
    parsed = dfile.parse(
        "# escape=`\nARG V=1\nFROM busybox AS Build\n# a comment\nRUN echo a `\n  && echo b\n"
        'COPY --from=build --chown=1:2 ["a b", "/x/"]\nFROM scratch\nCMD ["sh"]\n'
    )
    assert parsed.escape == "`"
    assert [i.cmd for i in parsed.meta_args] == ["ARG"]
    first, second = parsed.stages
    assert (first.name, first.base, second.base) == ("build", "busybox", "scratch")
    run, copy = first.instructions
    assert run.rest == "echo a && echo b"
    assert copy.flags == (("from", "build"), ("chown", "1:2"))
    assert copy.json_args == ("a b", "/x/")
    assert second.instructions[0].json_args == ("sh",)
    assert parsed.step_count == 6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("FROM busybox\nFROB x\n", "dockerfile parse error line 2: unknown instruction: FROB"),
        ("RUN true\n", "no build stage in current context"),
        ("FROM busybox\nCOPY --bogus=1 a b\n", "Unknown flag: bogus"),
        ("FROM a b\n", "FROM requires either one or three arguments"),
    ],
)
def test_bad_dockerfiles_fail_as_docker(text: str, message: str) -> None:
    with pytest.raises(dfile.DockerfileError, match=message):
        dfile.parse(text)


def test_words_quotes_and_substitution() -> None:
    env = {"A": "x", "EMPTY": ""}
    assert dfile.expand_words("\"$A y\" '$A' ${A}z ${B:-def} ${A:+alt} ${EMPTY:-e}", env) == [
        "x y",
        "$A",
        "xz",
        "def",
        "alt",
        "e",
    ]
    inst = dfile.parse('FROM s\nENV K="v 1" J=$K\n').stages[0].instructions[0]
    assert dfile.key_values(inst, {"K": "old"}, "\\") == [("K", "v 1"), ("J", "old")]


def test_dockerignore_matching() -> None:
    patterns = parse_ignore("# c\n*.log\n/build\n**/tmp\n!keep.log\nsecret*\n")
    assert excluded("a.log", patterns)
    assert not excluded("keep.log", patterns)
    assert not excluded("sub/a.log", patterns)  # * stays in one component
    assert excluded("build/out/x", patterns)  # a parent matches
    assert excluded("deep/er/tmp/f", patterns)
    assert excluded("secret.txt", patterns)
    assert not excluded("src/main.c", patterns)


def test_source_hash_keys_on_content_and_mode_not_time(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    f = tmp_path / "d" / "f"
    f.write_text("one")
    before = source_hash(tmp_path, ["d/f"]), source_hash(tmp_path, ["d"])
    os.utime(f, (1, 1))
    assert (source_hash(tmp_path, ["d/f"]), source_hash(tmp_path, ["d"])) == before
    assert before[0].startswith("file:")
    assert before[1].startswith("dir:")
    f.write_text("two")
    assert source_hash(tmp_path, ["d/f"]) != before[0]
    assert source_hash(tmp_path, ["d/f", "d"]).startswith("multi:")


def test_relative_destinations_follow_workdir() -> None:
    assert normalize_dest("/app", "./") == "/app/"
    assert normalize_dest("/app", "x/../y") == "/app/y"
    assert normalize_dest("/app", "/etc/f") == "/etc/f"


@pytest.mark.root  # overlayfs whiteouts are char devices and trusted.* xattrs
def test_upper_dir_becomes_a_layer_with_whiteouts(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "new").write_text("n")
    os.link(upper / "etc" / "new", upper / "etc" / "same")
    opaque = upper / "opq"
    opaque.mkdir()
    os.mknod(upper / "gone", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    os.setxattr(opaque, "trusted.overlay.opaque", b"y")
    out = io.BytesIO()
    write_layer(upper, out)
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert set(members) == {"etc", "etc/new", "etc/same", "opq", "opq/.wh..wh..opq", ".wh.gone"}
    assert members["etc/same"].islnk()
    assert members["etc/same"].linkname == "etc/new"
    again = io.BytesIO()
    write_layer(upper, again)
    assert again.getvalue() == out.getvalue()  # one tree, one diff_id


def test_commit_changes_apply_to_the_config_as_dockers() -> None:
    base = {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/srv", "Labels": {"a": "1"}}
    config = asyncio.run(
        apply_changes(
            base,
            [
                "ENV MODE=prod",
                'ENTRYPOINT ["/entry.sh"]',  # drops the Cmd written for the old one...
                "CMD serve $MODE",  # ...unless a CMD follows
                "EXPOSE 80 53/udp",
                'LABEL b="two words"',
                "WORKDIR app",
                "USER nobody",
                "VOLUME /data",
                "STOPSIGNAL SIGINT",
                "ONBUILD RUN true",
                "HEALTHCHECK --interval=5s CMD true",
            ],
        )
    )
    assert config["Env"] == ["PATH=/bin", "MODE=prod"]
    assert (config["Entrypoint"], config["Cmd"]) == (
        ["/entry.sh"],
        ["/bin/sh", "-c", "serve $MODE"],
    )
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    assert config["Labels"] == {"a": "1", "b": "two words"}
    assert (config["WorkingDir"], config["User"], config["StopSignal"]) == (
        "/srv/app",
        "nobody",
        "SIGINT",
    )
    assert config["Volumes"] == {"/data": {}}
    assert config["OnBuild"] == ["RUN true"]
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000}
    assert base["Cmd"] == ["sh"]  # the caller's config is left as it was
    alone = asyncio.run(apply_changes(base, ['ENTRYPOINT ["/entry.sh"]']))
    assert alone["Cmd"] is None
    assert asyncio.run(apply_changes(base, [])) == base


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("RUN rm -rf /", "run is not a valid change command"),
        ("FROM busybox", "from is not a valid change command"),
        ("frobnicate x", "frobnicate is not a valid change command"),
        ("EXPOSE 80/xyz", "invalid proto: xyz"),
        ("WORKDIR a b", "WORKDIR requires exactly one argument"),
    ],
)
def test_commit_changes_refused_as_dockers(change: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        asyncio.run(apply_changes({}, [change]))


@pytest.mark.parametrize(
    ("path", "disposition", "name"),
    [
        ("/files/app.tar", "", "app.tar"),
        ("/files/", 'attachment; filename="from-header.txt"', "from-header.txt"),
        ("", "attachment; filename=dir/x.bin", "x.bin"),
        ("/", "", ""),
    ],
)
def test_a_downloaded_source_is_named_as_mobys(path: str, disposition: str, name: str) -> None:
    assert remote.download_name(path, disposition) == name


def test_a_downloaded_source_takes_the_last_modified_time() -> None:
    assert remote.modified_time("Sun, 13 Sep 2020 12:26:40 GMT") == 1_600_000_000
    assert remote.modified_time("") == remote.modified_time("yesterday") == 0.0
    assert remote.is_url("https://x/y")
    assert not remote.is_url("ftp://x/y")


def test_download_progress_is_drawn_as_a_daemons() -> None:
    # JSONProgress.String() at a daemon's 200 columns: the bar, then the sizes.
    assert progress_text(1234, 5678) == f"[{'=' * 10}>{' ' * 40}]  1.234kB/5.678kB"
    assert progress_text(5678, 5678) == f"[{'=' * 50}>]  5.678kB/5.678kB"
    assert progress_text(512, -1) == "    512B"
    assert progress_text(0, -1) == ""
    assert progress_message("Downloading", 10, 20) == {
        "status": "Downloading",
        "progressDetail": {"current": 10, "total": 20},
        "progress": f"[{'=' * 25}>{' ' * 25}]      10B/20B",
    }
