"""A service's log driver: json-file with max-size/max-file, none, the rest refused; Docker's
JSON both ways, the CLI's flags, and the keeper writing nothing for none."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from swarmpy.cli.service.inspect import print_pretty
from swarmpy.cli.service.options import CreateOptions, UpdateOptions, create_spec, update_spec
from swarmpy.dockerjson.logdriver import LogSettings, human_size, log_config_json, settings
from swarmpy.dockerjson.service import service_spec, service_spec_json
from swarmpy.engine import logshim
from swarmpy.errors import InvalidArgument
from swarmpy.model import LogDriver


def test_json_file_options_as_dockers_json_file_reads_them() -> None:
    assert settings(None) == LogSettings()  # swarmpy's bounded default
    assert settings(LogDriver("json-file")) == LogSettings("json-file", 0, 1)
    opts = (("max-file", "3"), ("max-size", "10k"))
    assert settings(LogDriver("json-file", opts)) == LogSettings("json-file", 10_000, 3)
    assert settings(LogDriver("none")) == LogSettings("none", 0, 1)
    assert not settings(LogDriver("none")).readable
    assert human_size("1.5m") == 1_500_000
    assert human_size("20MB") == 20_000_000


@pytest.mark.parametrize(
    ("driver", "why"),
    [
        (LogDriver("syslog"), 'logging driver "syslog" is not supported'),
        (LogDriver("json-file", (("max-size", "0"),)), "max-size must be a positive number"),
        (LogDriver("json-file", (("max-size", "lots"),)), "invalid size: 'lots'"),
        (LogDriver("json-file", (("max-file", "0"),)), "max-file cannot be less than 1"),
        (LogDriver("json-file", (("colour", "red"),)), "unknown log opt 'colour' for json-file"),
        (LogDriver("json-file", (("compress", "true"),)), "log opt 'compress' of the json-file"),
        (LogDriver("none", (("max-size", "1k"),)), "unknown log opt 'max-size' for none"),
    ],
)
def test_what_cannot_be_honoured_is_refused(driver: LogDriver, why: str) -> None:
    with pytest.raises(InvalidArgument, match=why):
        settings(driver)


def test_dockers_log_driver_json_both_ways() -> None:
    doc = {
        "Name": "web",
        "TaskTemplate": {
            "ContainerSpec": {"Image": "busybox"},
            "LogDriver": {"Name": "json-file", "Options": {"max-size": "1k"}},
        },
    }
    spec = service_spec(doc)
    assert spec.container.log_driver == LogDriver("json-file", (("max-size", "1k"),))
    shown = service_spec_json(spec)["TaskTemplate"]["LogDriver"]
    assert shown == {"Name": "json-file", "Options": {"max-size": "1k"}}
    plain = service_spec({"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}})
    assert plain.container.log_driver is None
    assert "LogDriver" not in service_spec_json(plain)["TaskTemplate"]
    assert log_config_json(LogSettings("json-file", 10_000, 3)) == {
        "Type": "json-file",
        "Config": {"max-size": "10000", "max-file": "3"},
    }


def test_the_cli_flags() -> None:
    spec = create_spec(
        CreateOptions(
            image="busybox", log_driver="json-file", log_opts=("max-size=1k", "max-file=2")
        )
    )
    assert spec.container.log_driver == LogDriver(
        "json-file", (("max-file", "2"), ("max-size", "1k"))
    )
    with pytest.raises(InvalidArgument, match="--log-opt needs --log-driver"):
        create_spec(CreateOptions(image="busybox", log_opts=("max-size=1k",)))
    with pytest.raises(InvalidArgument, match='"gelf" is not supported'):
        create_spec(CreateOptions(image="busybox", log_driver="gelf"))
    updated = update_spec(spec, UpdateOptions(log_driver="none"), lambda n: n)
    assert updated.container.log_driver == LogDriver("none")
    # Not given, or given empty (as docker/cli): unchanged.
    assert update_spec(spec, UpdateOptions(), lambda n: n) == spec
    assert update_spec(spec, UpdateOptions(log_driver=""), lambda n: n) == spec


def test_the_none_keeper_drains_and_keeps_nothing(tmp_path: Path) -> None:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    lock = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    keeper = subprocess.Popen(
        [
            sys.executable,
            "-I",
            "-S",
            logshim.__file__,
            logshim.NO_LOG,
            "0",
            "1",
            str(lock),
            str(out_r),
            str(err_r),
        ],
        pass_fds=(lock, out_r, err_r),
        cwd=tmp_path,
    )
    for fd in (lock, out_r, err_r):
        os.close(fd)
    os.write(out_w, b"x" * 200_000)  # more than a pipe holds: drained, not blocked
    os.close(out_w)
    os.close(err_w)
    assert keeper.wait(timeout=30) == 0
    assert list(tmp_path.iterdir()) == []


def test_service_inspect_pretty_shows_the_log_driver(capsys: pytest.CaptureFixture[str]) -> None:
    doc = {
        "ID": "s1",
        "Spec": {
            "Name": "web",
            "TaskTemplate": {
                "ContainerSpec": {"Image": "busybox"},
                "LogDriver": {"Name": "json-file", "Options": {"max-size": "1k", "max-file": "2"}},
            },
        },
    }
    print_pretty(doc)
    out = capsys.readouterr().out
    assert (
        "Log Driver:\n Name:\t\tjson-file\n LogOpts:\n  max-file:       2\n"
        "  max-size:       1k\n\nEndpoint Mode:"
    ) in out
