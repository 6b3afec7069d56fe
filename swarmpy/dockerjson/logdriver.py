"""A service's log driver (Docker's TaskTemplate.LogDriver, `--log-driver`/`--log-opt`). Pure.

swarmpy keeps a container's output in Docker's json-file format (swarmpy.engine.jsonlog), so
the drivers it has are ``json-file`` (with its ``max-size`` and ``max-file``, as Docker's
json-file reads them) and ``none`` (nothing kept; reading the log is refused as Docker refuses
it). Any other driver, or option, is refused with one line rather than ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from swarmpy.errors import InvalidArgument
from swarmpy.model import LogDriver

JSON_FILE = "json-file"
NONE = "none"
DRIVERS = (JSON_FILE, NONE)
# Docker's json-file options swarmpy does not implement: refused by name, not ignored.
_UNSUPPORTED_JSON_FILE = ("compress", "labels", "labels-regex", "env", "env-regex", "tag")
# swarmpy's bound for a container with no log driver set: Docker's `local` driver's default
# (five files of 20 MB), where Docker's json-file default is one unbounded file.
DEFAULT_MAX_SIZE = 20 * 1024 * 1024
DEFAULT_MAX_FILE = 5
# Docker's message when the driver keeps nothing to read (logger.ErrReadLogsNotSupported).
NOT_READABLE = "configured logging driver does not support reading"

_HUMAN_SIZE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


@dataclass(frozen=True)
class LogSettings:
    """What the engine does with a container's output: ``driver`` json-file or none, the
    file rotated at ``max_size`` bytes (0: never) keeping ``max_file`` files."""

    driver: str = JSON_FILE
    max_size: int = DEFAULT_MAX_SIZE
    max_file: int = DEFAULT_MAX_FILE

    @property
    def readable(self) -> bool:
        return self.driver != NONE


def human_size(text: str) -> int:
    """Docker's units.FromHumanSize: decimal units, "10m" is 10,000,000 bytes."""
    found = _HUMAN_SIZE.match(text)
    if found is None:
        raise InvalidArgument(f"invalid size: '{text}'")
    return int(float(found.group(1)) * _DECIMAL[(found.group(2) or "").lower()])


def settings(driver: LogDriver | None) -> LogSettings:
    """The engine's settings for a service's log driver, checked (Docker's json-file New and
    ValidateLogOpt words); None: swarmpy's default."""
    if driver is None:
        return LogSettings()
    if driver.name not in DRIVERS:
        raise InvalidArgument(
            f'logging driver "{driver.name}" is not supported: swarmpy keeps logs with '
            "json-file or none"
        )
    options = dict(driver.options)
    if driver.name == NONE:
        for key in options:
            raise InvalidArgument(f"unknown log opt '{key}' for none log driver")
        return LogSettings(NONE, 0, 1)
    for key in options:
        if key in _UNSUPPORTED_JSON_FILE:
            raise InvalidArgument(f"log opt '{key}' of the json-file log driver is not supported")
        if key not in ("max-size", "max-file"):
            raise InvalidArgument(f"unknown log opt '{key}' for json-file log driver")
    max_size = 0  # Docker's json-file: one unbounded file unless told
    if "max-size" in options:
        max_size = human_size(options["max-size"])
        if max_size <= 0:
            raise InvalidArgument("max-size must be a positive number")
    max_file = 1
    if "max-file" in options:
        try:
            max_file = int(options["max-file"])
        except ValueError:
            raise InvalidArgument(
                f'strconv.Atoi: parsing "{options["max-file"]}": invalid syntax'
            ) from None
        if max_file < 1:
            raise InvalidArgument("max-file cannot be less than 1")
    return LogSettings(JSON_FILE, max_size, max_file)


def log_config_json(s: LogSettings) -> dict[str, object]:
    """Docker's HostConfig.LogConfig of a container kept with ``s``."""
    config: dict[str, str] = {}
    if s.driver == JSON_FILE:
        if s.max_size:
            config["max-size"] = str(s.max_size)
        if s.max_file != 1:
            config["max-file"] = str(s.max_file)
    return {"Type": s.driver, "Config": config}


def log_driver_json(driver: LogDriver) -> dict[str, object]:
    """Docker's Driver JSON: {"Name": ..., "Options": {...}} (Options only when some)."""
    out: dict[str, object] = {"Name": driver.name}
    if driver.options:
        out["Options"] = dict(driver.options)
    return out
