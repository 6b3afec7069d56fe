"""Docker's HealthConfig JSON (``{Test, Interval, Timeout, StartPeriod, Retries}``, durations
in nanoseconds, every key omitted at zero) ↔ the model's ``HealthConfig``.

The same object is a service's ``ContainerSpec.Healthcheck``, a container's
``Config.Healthcheck`` in inspect, and an image config's ``config.Healthcheck``.
"""

from __future__ import annotations

from typing import Any

from swarmpy.dockerjson.common import nanos
from swarmpy.dockerjson.fields import NANOS, Fields
from swarmpy.model import HealthConfig


def health_json(config: HealthConfig) -> dict[str, Any]:
    """Go's encoding: each key only when it is not zero (``omitempty``)."""
    out: dict[str, Any] = {}
    if config.test:
        out["Test"] = list(config.test)
    for key, seconds in (
        ("Interval", config.interval_s),
        ("Timeout", config.timeout_s),
        ("StartPeriod", config.start_period_s),
    ):
        if seconds:
            out[key] = nanos(seconds)
    if config.retries:
        out["Retries"] = config.retries
    return out


def read_health(f: Fields) -> HealthConfig:
    """A client's Healthcheck object, read strictly (``f.done()`` is the caller's)."""
    return HealthConfig(
        test=f.strings("Test"),
        interval_s=f.seconds("Interval", 0.0),
        timeout_s=f.seconds("Timeout", 0.0),
        start_period_s=f.seconds("StartPeriod", 0.0),
        retries=f.integer("Retries"),
    )


def image_health(raw: Any) -> HealthConfig | None:
    """An image config's HEALTHCHECK, read leniently: the image's builder may be newer than
    us (StartInterval) and a malformed value must not make the image unusable."""
    if not isinstance(raw, dict):
        return None

    def seconds(key: str) -> float:
        value = raw.get(key)
        return value / NANOS if isinstance(value, int) and not isinstance(value, bool) else 0.0

    test = raw.get("Test")
    retries = raw.get("Retries")
    return HealthConfig(
        test=tuple(str(t) for t in test) if isinstance(test, list) else (),
        interval_s=seconds("Interval"),
        timeout_s=seconds("Timeout"),
        start_period_s=seconds("StartPeriod"),
        retries=retries if isinstance(retries, int) and not isinstance(retries, bool) else 0,
    )
