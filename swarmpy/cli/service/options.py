"""`service create` and `service update` flags as a ServiceSpec: pure functions, unit-tested.

``create_spec`` builds a spec from create's flags; ``update_spec`` applies update's flags to the
current spec as docker/cli's updateService does (cli/command/service/update.go): a flag left
out (None, or an empty list) changes nothing. The commands (create.py, update.py) only declare
the flags and call the Engine API. A new flag is a field here, its line in the command's
signature, and a line in each function.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from swarmpy import genericresource
from swarmpy.cli import specflags
from swarmpy.cli.opts import parse_go_duration
from swarmpy.cli.service import filerefs
from swarmpy.cli.service.publish import create_ports, update_ports
from swarmpy.dockerjson import logdriver
from swarmpy.dockerjson.service import isolation
from swarmpy.errors import InvalidArgument
from swarmpy.model import (
    ContainerSpec,
    EndpointMode,
    FailureAction,
    GenericResource,
    HealthConfig,
    LogDriver,
    Mount,
    NetworkAlias,
    ResourceRequirements,
    RestartCondition,
    RestartPolicy,
    ServiceMode,
    ServiceSpec,
    UpdateConfig,
    UpdateOrder,
)


@dataclass(frozen=True)
class Common:
    """Flags create and update share, as given (None: not given)."""

    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    entrypoint: str | None = None
    stop_signal: str | None = None
    stop_grace_period: str | None = None
    read_only: bool | None = None
    init: bool | None = None
    tty: bool | None = None
    health_cmd: str | None = None
    health_interval: str | None = None
    health_timeout: str | None = None
    health_retries: int | None = None
    health_start_period: str | None = None
    no_healthcheck: bool | None = None
    replicas: int | None = None
    max_replicas: int | None = None
    max_concurrent: int | None = None
    endpoint_mode: str | None = None
    limit_cpu: str | None = None
    limit_memory: str | None = None
    limit_pids: int | None = None
    reserve_cpu: str | None = None
    reserve_memory: str | None = None
    isolation: str | None = None
    credential_spec: str | None = None
    restart_condition: str | None = None
    restart_delay: str | None = None
    restart_max_attempts: int | None = None
    restart_window: str | None = None
    update_parallelism: int | None = None
    update_delay: str | None = None
    update_failure_action: str | None = None
    update_monitor: str | None = None
    update_max_failure_ratio: float | None = None
    update_order: str | None = None
    rollback_parallelism: int | None = None
    rollback_delay: str | None = None
    rollback_failure_action: str | None = None
    rollback_monitor: str | None = None
    rollback_max_failure_ratio: float | None = None
    rollback_order: str | None = None
    log_driver: str | None = None
    log_opts: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreateOptions(Common):
    image: str = ""
    args: tuple[str, ...] = ()
    name: str = ""
    mode: str = "replicated"
    env: tuple[str, ...] = ()
    env_file: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    container_labels: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    placement_prefs: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()
    publish: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    sysctls: tuple[str, ...] = ()
    ulimits: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    generic_resources: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpdateOptions(Common):
    image: str | None = None
    args: str | None = None
    force: bool = False
    env_add: tuple[str, ...] = ()
    env_rm: tuple[str, ...] = ()
    label_add: tuple[str, ...] = ()
    label_rm: tuple[str, ...] = ()
    container_label_add: tuple[str, ...] = ()
    container_label_rm: tuple[str, ...] = ()
    constraint_add: tuple[str, ...] = ()
    constraint_rm: tuple[str, ...] = ()
    placement_pref_add: tuple[str, ...] = ()
    placement_pref_rm: tuple[str, ...] = ()
    network_add: tuple[str, ...] = ()
    network_rm: tuple[str, ...] = ()
    publish_add: tuple[str, ...] = ()
    publish_rm: tuple[str, ...] = ()
    mount_add: tuple[str, ...] = ()
    mount_rm: tuple[str, ...] = ()
    secret_add: tuple[str, ...] = ()
    secret_rm: tuple[str, ...] = ()
    config_add: tuple[str, ...] = ()
    config_rm: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    group_add: tuple[str, ...] = ()
    group_rm: tuple[str, ...] = ()
    dns_add: tuple[str, ...] = ()
    dns_rm: tuple[str, ...] = ()
    dns_search_add: tuple[str, ...] = ()
    dns_search_rm: tuple[str, ...] = ()
    dns_option_add: tuple[str, ...] = ()
    dns_option_rm: tuple[str, ...] = ()
    host_add: tuple[str, ...] = ()
    host_rm: tuple[str, ...] = ()
    sysctl_add: tuple[str, ...] = ()
    sysctl_rm: tuple[str, ...] = ()
    ulimit_add: tuple[str, ...] = ()
    ulimit_rm: tuple[str, ...] = ()
    generic_resource_add: tuple[str, ...] = ()
    generic_resource_rm: tuple[str, ...] = ()
    # Flags given, by name: update's "other flags may not be combined with --rollback".
    given: tuple[str, ...] = field(default=())


def _given(value: object) -> bool:
    return value is not None


def _container(c: ContainerSpec, o: Common) -> ContainerSpec:
    changes: dict[str, object] = {}
    for attr, value in (
        ("workdir", o.workdir),
        ("user", o.user),
        ("hostname", o.hostname),
        ("stop_signal", o.stop_signal),
        ("read_only", o.read_only),
        ("init", o.init),
        ("tty", o.tty),
    ):
        if value is not None:
            changes[attr] = value
    if o.isolation is not None:
        changes["isolation"] = isolation(o.isolation)
    if o.credential_spec is not None:
        changes["credential_spec"] = _credential_spec(o.credential_spec)
    if o.entrypoint is not None:
        changes["command"] = specflags.words(o.entrypoint, "--entrypoint")
    if o.stop_grace_period is not None:
        changes["stop_grace_s"] = specflags.duration(o.stop_grace_period)
    if o.log_driver:  # as docker/cli: an empty --log-driver changes nothing
        changes["log_driver"] = _log_driver(o.log_driver, o.log_opts)
    elif o.log_opts:
        # Docker's CLI drops them without a word; an option given is never ignored here.
        raise InvalidArgument("--log-opt needs --log-driver (the options are the driver's)")
    return dataclasses.replace(c, **changes)  # type: ignore[arg-type]


def _credential_spec(value: str) -> str:
    """docker/cli's credentialSpecOpt: "" asks for none; else a config://, file:// or
    registry:// value, in its words. A config is named here (config://NAME); its reference
    is added to the configs and the name becomes the config's id once resolved
    (filerefs.resolve_spec)."""
    if not value:
        return ""
    source, sep, _ = value.partition("://")
    if not sep or source not in ("config", "file", "registry"):
        raise InvalidArgument(
            f'invalid argument "{value}" for "--credential-spec" flag: invalid credential '
            'spec: value must be prefixed with "config://", "file://", or "registry://"'
        )
    return value


def _log_driver(name: str, opts: Sequence[str]) -> LogDriver:
    """As docker/cli: --log-driver NAME with its --log-opt key=value options; checked as the
    managers check it (swarmpy.dockerjson.logdriver), before anything is sent."""
    pairs = tuple(sorted(dict(o.partition("=")[::2] for o in opts).items()))
    driver = LogDriver(name, pairs)
    logdriver.settings(driver)
    return driver


def _resources(r: ResourceRequirements, o: Common) -> ResourceRequirements:
    limits, reservations = r.limits, r.reservations
    if o.limit_cpu is not None:
        limits = dataclasses.replace(limits, nano_cpus=_cpus(o.limit_cpu))
    if o.limit_memory is not None:
        limits = dataclasses.replace(limits, memory_bytes=_bytes(o.limit_memory))
    if o.limit_pids is not None:
        limits = dataclasses.replace(limits, pids=specflags.pids(o.limit_pids))
    if o.reserve_cpu is not None:
        reservations = dataclasses.replace(reservations, nano_cpus=_cpus(o.reserve_cpu))
    if o.reserve_memory is not None:
        reservations = dataclasses.replace(reservations, memory_bytes=_bytes(o.reserve_memory))
    return ResourceRequirements(limits=limits, reservations=reservations)


def _cpus(text: str) -> int:
    return specflags.nano_cpus(text) if text else 0


def _bytes(text: str) -> int:
    return specflags.memory_bytes(text) if text else 0


def _restart(r: RestartPolicy, o: Common) -> RestartPolicy:
    if o.restart_condition is not None:
        r = dataclasses.replace(
            r,
            condition=specflags.choice(
                o.restart_condition, RestartCondition, "--restart-condition"
            ),
        )
    if o.restart_delay is not None:
        r = dataclasses.replace(r, delay_s=specflags.duration(o.restart_delay))
    if o.restart_max_attempts is not None:
        r = dataclasses.replace(r, max_attempts=o.restart_max_attempts)
    if o.restart_window is not None:
        r = dataclasses.replace(r, window_s=specflags.duration(o.restart_window))
    return r


def _update_config(
    u: UpdateConfig,
    flag: str,
    parallelism: int | None,
    delay: str | None,
    failure_action: str | None,
    monitor: str | None,
    ratio: float | None,
    order: str | None,
) -> UpdateConfig:
    if parallelism is not None:
        u = dataclasses.replace(u, parallelism=parallelism)
    if delay is not None:
        u = dataclasses.replace(u, delay_s=specflags.duration(delay))
    if failure_action is not None:
        action = specflags.choice(failure_action, FailureAction, f"--{flag}-failure-action")
        if flag == "rollback" and action == FailureAction.ROLLBACK:
            raise InvalidArgument(
                "invalid argument 'rollback' for --rollback-failure-action: use pause, continue"
            )
        u = dataclasses.replace(u, failure_action=action)
    if monitor is not None:
        u = dataclasses.replace(u, monitor_s=specflags.duration(monitor))
    if ratio is not None:
        u = dataclasses.replace(u, max_failure_ratio=ratio)
    if order is not None:
        u = dataclasses.replace(u, order=specflags.choice(order, UpdateOrder, f"--{flag}-order"))
    return u


def _common(spec: ServiceSpec, o: Common) -> ServiceSpec:
    """The flags create and update share, applied to ``spec``."""
    changes: dict[str, object] = {
        "container": _container(spec.container, o),
        "resources": _resources(spec.resources, o),
        "restart": _restart(spec.restart, o),
        "update": _update_config(
            spec.update,
            "update",
            o.update_parallelism,
            o.update_delay,
            o.update_failure_action,
            o.update_monitor,
            o.update_max_failure_ratio,
            o.update_order,
        ),
        "rollback": _update_config(
            spec.rollback,
            "rollback",
            o.rollback_parallelism,
            o.rollback_delay,
            o.rollback_failure_action,
            o.rollback_monitor,
            o.rollback_max_failure_ratio,
            o.rollback_order,
        ),
    }
    if spec.mode.is_job and _update_flags(o):
        raise InvalidArgument("update and rollback configuration is not supported for jobs")
    if o.replicas is not None:
        # As docker/cli's update: a job's completions change with `service scale`.
        if spec.mode != ServiceMode.REPLICATED:
            raise InvalidArgument("replicas can only be used with replicated mode")
        changes["replicas"] = o.replicas
    if o.max_replicas is not None:
        if spec.mode not in (ServiceMode.REPLICATED, ServiceMode.REPLICATED_JOB):
            raise InvalidArgument(
                "replicas-max-per-node can only be used with replicated or replicated-job mode"
            )
        changes["max_replicas"] = o.max_replicas
    if o.max_concurrent is not None:
        _check_max_concurrent(o)
        if spec.mode != ServiceMode.REPLICATED_JOB:
            raise InvalidArgument("max-concurrent can only be used with replicated-job mode")
        changes["max_concurrent"] = o.max_concurrent
    if o.endpoint_mode is not None:
        changes["endpoint_mode"] = specflags.choice(
            o.endpoint_mode.lower(), EndpointMode, "--endpoint-mode"
        )
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def _health_duration(text: str, flag: str) -> float:
    """A --health-* duration as docker's PositiveDurationOpt reads it: Go's ParseDuration,
    and not negative; its errors in the words pflag gives them."""
    nanos = parse_go_duration(text)
    if nanos is None:
        quoted = json.dumps(text)
        reason = (
            f"time: missing unit in duration {quoted}"
            if text.lstrip("+-").replace(".", "", 1).isdigit()
            else f"time: invalid duration {quoted}"
        )
        raise InvalidArgument(f'invalid argument "{text}" for "--{flag}" flag: {reason}')
    if nanos < 0:
        raise InvalidArgument(
            f'invalid argument "{text}" for "--{flag}" flag: duration cannot be negative'
        )
    return nanos / 1e9


@dataclass(frozen=True)
class _Health:
    """The --health-* durations, parsed (None: not given)."""

    interval_s: float | None
    timeout_s: float | None
    start_period_s: float | None


def _health_flags(o: Common) -> _Health:
    def parse(text: str | None, flag: str) -> float | None:
        return None if text is None else _health_duration(text, flag)

    return _Health(
        parse(o.health_interval, "health-interval"),
        parse(o.health_timeout, "health-timeout"),
        parse(o.health_start_period, "health-start-period"),
    )


_HEALTH_CONFLICT = "--no-healthcheck conflicts with --health-* options"


def _create_health(o: Common) -> HealthConfig | None:
    """docker/cli's toHealthConfig: a start period alone asks for no healthcheck, as there."""
    h = _health_flags(o)
    have = (
        bool(o.health_cmd)
        or h.interval_s is not None
        or h.timeout_s is not None
        or bool(o.health_retries)
    )
    if o.no_healthcheck:
        if have:
            raise InvalidArgument(_HEALTH_CONFLICT)
        return HealthConfig(test=("NONE",))
    if not have:
        return None
    return HealthConfig(
        test=("CMD-SHELL", o.health_cmd) if o.health_cmd else (),
        interval_s=h.interval_s or 0.0,
        timeout_s=h.timeout_s or 0.0,
        retries=o.health_retries or 0,
        start_period_s=h.start_period_s or 0.0,
    )


def _update_health(current: HealthConfig | None, o: Common) -> HealthConfig | None:
    """docker/cli's updateHealthcheck: each given flag replaces its field."""
    h = _health_flags(o)
    given = (
        o.health_cmd is not None
        or o.health_retries is not None
        or any(v is not None for v in (h.interval_s, h.timeout_s, h.start_period_s))
    )
    if o.no_healthcheck:
        if given:
            raise InvalidArgument(_HEALTH_CONFLICT)
        return HealthConfig(test=("NONE",))
    if not given:
        return current
    hc = current or HealthConfig()
    if hc.test[:1] == ("NONE",):
        hc = dataclasses.replace(hc, test=())
    if h.interval_s is not None:
        hc = dataclasses.replace(hc, interval_s=h.interval_s)
    if h.timeout_s is not None:
        hc = dataclasses.replace(hc, timeout_s=h.timeout_s)
    if h.start_period_s is not None:
        hc = dataclasses.replace(hc, start_period_s=h.start_period_s)
    if o.health_retries is not None:
        hc = dataclasses.replace(hc, retries=o.health_retries)
    if o.health_cmd is not None:
        hc = dataclasses.replace(hc, test=("CMD-SHELL", o.health_cmd) if o.health_cmd else ())
    return hc


def _update_flags(o: Common) -> bool:
    """Any --update-* or --rollback-* flag given (Docker's CLI then sends a config)."""
    return any(
        value is not None
        for value in (
            o.update_parallelism,
            o.update_delay,
            o.update_failure_action,
            o.update_monitor,
            o.update_max_failure_ratio,
            o.update_order,
            o.rollback_parallelism,
            o.rollback_delay,
            o.rollback_failure_action,
            o.rollback_monitor,
            o.rollback_max_failure_ratio,
            o.rollback_order,
        )
    )


def _check_max_concurrent(o: Common) -> None:
    """A uint64 flag of Docker's: its parser's words for a negative one."""
    if o.max_concurrent is not None and o.max_concurrent < 0:
        raise InvalidArgument(
            f'invalid argument "{o.max_concurrent}" for "--max-concurrent" flag: '
            f'strconv.ParseUint: parsing "{o.max_concurrent}": invalid syntax'
        )


def mode_counts(mode: ServiceMode, o: Common) -> tuple[int, int]:
    """The new service's replicas (a replicated job's TotalCompletions) and MaxConcurrent from
    --replicas and --max-concurrent, refused for modes without them in docker/cli's words
    (ToServiceMode); a replicated job's defaults are the daemon's: MaxConcurrent 1, or
    --replicas when only that is given, and as many completions as MaxConcurrent."""
    replicas_only = "replicas can only be used with replicated or replicated-job mode"
    concurrent_only = "max-concurrent can only be used with replicated-job mode"
    per_node_only = "replicas-max-per-node can only be used with replicated or replicated-job mode"
    if mode in (ServiceMode.GLOBAL, ServiceMode.GLOBAL_JOB):
        if o.replicas is not None:
            raise InvalidArgument(replicas_only)
        if o.max_replicas:
            raise InvalidArgument(per_node_only)
    _check_max_concurrent(o)
    if mode != ServiceMode.REPLICATED_JOB and o.max_concurrent is not None:
        raise InvalidArgument(concurrent_only)
    if mode == ServiceMode.REPLICATED:
        return (1 if o.replicas is None else o.replicas), 0
    if mode == ServiceMode.REPLICATED_JOB:
        concurrent = o.max_concurrent if o.max_concurrent is not None else o.replicas
        concurrent = 1 if concurrent is None else concurrent
        return (concurrent if o.replicas is None else o.replicas), concurrent
    return 0, 0


def _env(env: Sequence[str]) -> tuple[str, ...]:
    """Docker's makeEnv: in order, a later value of a name replacing the earlier one."""
    return specflags.env_list([], env, [])


def create_spec(o: CreateOptions) -> ServiceSpec:
    """The spec `service create` asks for."""
    mode = specflags.choice(o.mode, ServiceMode, "--mode")
    replicas, max_concurrent = mode_counts(mode, o)
    container = ContainerSpec(
        image=o.image,
        args=o.args,
        env=_env([*specflags.env_file(o.env_file), *o.env]),
        labels=specflags.key_values(o.container_labels, "label"),
        mounts=tuple(specflags.mount(m) for m in o.mounts),
        cap_add=o.cap_add,
        cap_drop=o.cap_drop,
        groups=o.groups,
        dns_nameservers=o.dns,
        dns_search=o.dns_search,
        dns_options=o.dns_options,
        hosts=tuple(specflags.host(h) for h in o.hosts),
        sysctls=specflags.key_values(o.sysctls, "sysctl"),
        ulimits=specflags.ulimits((), o.ulimits, ()),
        healthcheck=_create_health(o),
        secrets=filerefs.parse_all(o.secrets, "secret"),
        configs=filerefs.with_credential_spec(
            filerefs.parse_all(o.configs, "config"), _credential_spec(o.credential_spec or "")
        ),
    )
    spec = ServiceSpec(
        name=o.name,
        container=container,
        labels=specflags.key_values(o.labels, "label"),
        mode=mode,
        replicas=replicas,
        max_concurrent=max_concurrent,
        constraints=o.constraints,
        placement_prefs=tuple(specflags.placement_pref(p) for p in o.placement_prefs),
        networks=tuple(specflags.network(n)[0] for n in o.networks),
        network_aliases=tuple(
            NetworkAlias(target, aliases)
            for target, aliases in map(specflags.network, o.networks)
            if aliases
        ),
        ports=create_ports(o.publish),
    )
    # The counts are the mode's, taken above; the flags the modes share apply as for update.
    spec = _common(spec, dataclasses.replace(o, replicas=None, max_concurrent=None))
    if not o.generic_resources:
        return spec
    for term in o.generic_resources:
        _check_generic_term(term, "generic-resource")
    reserved = genericresource.parse_request(o.generic_resources)
    return _with_generic(spec, reserved)


def _check_generic_term(term: str, flag: str) -> None:
    """docker/cli's ValidateSingleGenericResource, in pflag's words for a bad value."""
    try:
        genericresource.check_term(term, "generic-resource")
    except InvalidArgument as e:
        raise InvalidArgument(f'invalid argument "{term}" for "--{flag}" flag: {e}') from None


def _with_generic(spec: ServiceSpec, reserved: tuple[GenericResource, ...]) -> ServiceSpec:
    r = spec.resources
    reservations = dataclasses.replace(r.reservations, generic=reserved)
    return dataclasses.replace(spec, resources=dataclasses.replace(r, reservations=reservations))


def update_spec(
    spec: ServiceSpec, o: UpdateOptions, network_id: Callable[[str], str]
) -> ServiceSpec:
    """``spec`` with update's flags applied; ``network_id`` resolves a network's name or id
    to its id (for --network-rm, as the spec holds ids)."""
    spec = _common(spec, o)
    c = spec.container
    if o.image is not None:
        c = dataclasses.replace(c, image=o.image)
    if o.args is not None:
        c = dataclasses.replace(c, args=specflags.words(o.args, "--args"))
    c = dataclasses.replace(
        c,
        env=specflags.env_list(c.env, o.env_add, o.env_rm),
        labels=specflags.pairs_update(
            c.labels, o.container_label_add, o.container_label_rm, "label"
        ),
        mounts=_mounts(c, o),
        cap_add=_caps(c.cap_add, o.cap_add, o.cap_drop),
        cap_drop=_caps(c.cap_drop, o.cap_drop, o.cap_add),
        groups=_groups(c.groups, o.group_add, o.group_rm),
        dns_nameservers=_listed(c.dns_nameservers, o.dns_add, o.dns_rm, o),
        dns_search=_listed(c.dns_search, o.dns_search_add, o.dns_search_rm, o),
        dns_options=_listed(c.dns_options, o.dns_option_add, o.dns_option_rm, o),
        hosts=specflags.hosts(c.hosts, o.host_add, o.host_rm)
        if o.host_add or o.host_rm
        else c.hosts,
        sysctls=specflags.pairs_update(c.sysctls, o.sysctl_add, o.sysctl_rm, "sysctl"),
        ulimits=specflags.ulimits(c.ulimits, o.ulimit_add, o.ulimit_rm)
        if o.ulimit_add or o.ulimit_rm
        else c.ulimits,
        healthcheck=_update_health(c.healthcheck, o),
        secrets=filerefs.updated(c.secrets, o.secret_add, o.secret_rm, "secret"),
        configs=filerefs.updated_configs(
            c, o.config_add, o.config_rm, credential_spec_given=o.credential_spec is not None
        ),
    )
    constraints = spec.constraints
    if o.constraint_add or o.constraint_rm:
        drop = set(o.constraint_rm)
        constraints = tuple(sorted(x for x in (*constraints, *o.constraint_add) if x not in drop))
    prefs = spec.placement_prefs
    if o.placement_pref_rm:
        gone = {specflags.placement_pref(p) for p in o.placement_pref_rm}
        prefs = tuple(p for p in prefs if p not in gone)
    prefs += tuple(specflags.placement_pref(p) for p in o.placement_pref_add)
    networks, aliases = spec.networks, spec.network_aliases
    if o.network_rm:
        gone = {network_id(n) for n in o.network_rm}
        networks = tuple(n for n in networks if n not in gone)
        aliases = tuple(a for a in aliases if a.network not in gone)
    for added in o.network_add:
        target, names = specflags.network(added)
        if target in networks or network_id(target) in networks:
            raise InvalidArgument(f"service is already attached to network {target}")
        networks += (target,)
        if names:
            aliases += (NetworkAlias(target, names),)
    if o.generic_resource_add or o.generic_resource_rm:
        for term in o.generic_resource_add:
            _check_generic_term(term, "generic-resource-add")
        spec = _with_generic(
            spec,
            genericresource.update_request(
                spec.resources.reservations.generic, o.generic_resource_add, o.generic_resource_rm
            ),
        )
    return dataclasses.replace(
        spec,
        container=c,
        labels=specflags.pairs_update(spec.labels, o.label_add, o.label_rm, "label"),
        constraints=constraints,
        placement_prefs=prefs,
        networks=networks,
        network_aliases=aliases,
        ports=update_ports(spec.ports, o.publish_add, o.publish_rm),
        # As Docker's CLI: a changed counter has every task replaced.
        force_update=spec.force_update + 1 if o.force else spec.force_update,
    )


def _listed(
    current: tuple[str, ...], add: Sequence[str], remove: Sequence[str], o: UpdateOptions
) -> tuple[str, ...]:
    # Docker rewrites the whole DNSConfig (sorted, without duplicates) once any dns flag is
    # given, and leaves it untouched otherwise.
    any_dns = (
        o.dns_add or o.dns_rm or o.dns_search_add or o.dns_search_rm or o.dns_option_add
    ) or o.dns_option_rm
    return specflags.merged(current, add, remove) if any_dns else current


def _mounts(c: ContainerSpec, o: UpdateOptions) -> tuple[Mount, ...]:
    """Docker's updateMounts: added mounts replace those at the same target, removals are by
    target; sorted by source, then target."""
    if not (o.mount_add or o.mount_rm):
        return c.mounts
    by_target: dict[str, Mount] = {}
    for text in o.mount_add:
        m = specflags.mount(text)
        if m.target in by_target:
            raise InvalidArgument("duplicate mount target")
        by_target[m.target] = m
    for m in c.mounts:
        by_target.setdefault(m.target, m)
    drop = set(o.mount_rm)
    kept = [m for t, m in by_target.items() if t not in drop]
    return tuple(sorted(kept, key=lambda m: (m.source, m.target)))


def _groups(current: tuple[str, ...], add: Sequence[str], remove: Sequence[str]) -> tuple[str, ...]:
    """Docker's updateGroups: added, removed, sorted."""
    if not (add or remove):
        return current
    drop = set(remove)
    return tuple(sorted(g for g in (*current, *add) if g not in drop))


def _caps(current: tuple[str, ...], add: Sequence[str], remove: Sequence[str]) -> tuple[str, ...]:
    """Docker's updateCapabilities, simplified: a capability added on one side leaves the
    other."""
    if not (add or remove):
        return current
    dropped = {r.upper() for r in remove}
    out = [x for x in current if x.upper() not in dropped]
    out += [a for a in add if a not in out]
    return tuple(out)


def check_update_flags(o: UpdateOptions) -> None:
    """Refuse a bad flag value before any request: the flags applied to a placeholder spec
    (what depends on the service itself is checked when the real one is read)."""
    _check_max_concurrent(o)
    # Whether the service is a replicated job, only the real one says.
    placeholder = ServiceSpec(name="x", container=ContainerSpec(image="x"))
    update_spec(placeholder, dataclasses.replace(o, max_concurrent=None), lambda name: name)
