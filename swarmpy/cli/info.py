"""`swarmpy info`: the daemon's /info, laid out as docker's (cli/command/system/info.go):
a Client section, then the Server's, its Swarm part included; ``--format`` runs a Go
template over the same document docker's does (the Info keys, ClientInfo beside them)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import typer

from swarmpy.cli import engine, gotemplate
from swarmpy.errors import SwarmpyError
from swarmpy.humanize import bytes_size as bytes_size  # docker info's memory
from swarmpy.humanize import human_duration

FORMAT_HELP = "Format the output using the given Go template"
# docker's exit status for a template it cannot parse (cli.StatusError{StatusCode: 64}).
TEMPLATE_EXIT = 64
COMMITS = (("containerd", "ContainerdCommit"), ("runc", "RuncCommit"), ("init", "InitCommit"))


def client_info() -> dict[str, Any]:
    return {"Debug": False, "Context": "default", "Plugins": [], "Warnings": None}


def go_bool(value: Any) -> str:
    return "true" if value else "false"


def _nonempty(out: list[str], label: str, value: Any) -> None:
    if value:
        out.append(f"{label} {value}")


def swarm_lines(swarm: Mapping[str, Any]) -> list[str]:
    """docker's printSwarmInfo: nothing while inactive or locked."""
    state = swarm.get("LocalNodeState", "")
    if state in ("inactive", "locked"):
        return []
    out = [f"  NodeID: {swarm.get('NodeID', '')}"]
    if swarm.get("Error"):
        out.append(f"  Error: {swarm['Error']}")
    out.append(f"  Is Manager: {go_bool(swarm.get('ControlAvailable'))}")
    cluster = swarm.get("Cluster")
    if cluster and swarm.get("ControlAvailable") and not swarm.get("Error") and state != "error":
        spec = cluster.get("Spec") or {}
        out.append(f"  ClusterID: {cluster.get('ID', '')}")
        out.append(f"  Managers: {swarm.get('Managers', 0)}")
        out.append(f"  Nodes: {swarm.get('Nodes', 0)}")
        if cluster.get("DefaultAddrPool") is not None:
            pools = "".join(p + "  " for p in cluster["DefaultAddrPool"])
            out.append(f"  Default Address Pool: {pools}")
            out.append(f"  SubnetSize: {cluster.get('SubnetSize', 0)}")
        if int(cluster.get("DataPathPort") or 0) > 0:
            out.append(f"  Data Path Port: {cluster['DataPathPort']}")
        orchestration = spec.get("Orchestration") or {}
        raft = spec.get("Raft") or {}
        ca = spec.get("CAConfig") or {}
        out.append("  Orchestration:")
        limit = orchestration.get("TaskHistoryRetentionLimit") or 0
        out.append(f"   Task History Retention Limit: {limit}")
        out.append("  Raft:")
        out.append(f"   Snapshot Interval: {raft.get('SnapshotInterval', 0)}")
        if raft.get("KeepOldSnapshots") is not None:
            out.append(f"   Number of Old Snapshots to Retain: {raft['KeepOldSnapshots']}")
        out.append(f"   Heartbeat Tick: {raft.get('HeartbeatTick', 0)}")
        out.append(f"   Election Tick: {raft.get('ElectionTick', 0)}")
        heartbeat = (spec.get("Dispatcher") or {}).get("HeartbeatPeriod") or 0
        out.append("  Dispatcher:")
        out.append(f"   Heartbeat Period: {human_duration(int(heartbeat) / 1e9)}")
        out.append("  CA Configuration:")
        expiry = int(ca.get("NodeCertExpiry") or 0)
        out.append(f"   Expiry Duration: {human_duration(expiry / 1e9)}")
        out.append(f"   Force Rotate: {ca.get('ForceRotate', 0)}")
        signing = str(ca.get("SigningCACert") or "").strip()
        if signing:
            out.append(f"   Signing CA Certificate: \n{signing}\n")
        if ca.get("ExternalCAs"):
            out.append("   External CAs:")
            for entry in ca["ExternalCAs"]:
                out.append(f"     {entry.get('Protocol', '')}: {entry.get('URL', '')}")
        autolock = (spec.get("EncryptionConfig") or {}).get("AutoLockManagers")
        out.append(f"  Autolock Managers: {go_bool(autolock)}")
        out.append(f"  Root Rotation In Progress: {go_bool(cluster.get('RootRotationInProgress'))}")
    out.append(f"  Node Address: {swarm.get('NodeAddr', '')}")
    managers = sorted(str(m.get("Addr", "")) for m in swarm.get("RemoteManagers") or [])
    if managers:
        out.append("  Manager Addresses:")
        out.extend(f"   {addr}" for addr in managers)
    return out


def _insecure_cidr(entry: Any) -> str:
    """A RegistryConfig CIDR: Go's net.IPNet marshals as {IP, Mask (base64)}."""
    if isinstance(entry, str):
        return entry
    import base64
    import contextlib
    import ipaddress

    mask = base64.b64decode(str(entry.get("Mask", ""))) if isinstance(entry, dict) else b""
    bits = sum(bin(b).count("1") for b in mask)
    ip = str(entry.get("IP", "")) if isinstance(entry, dict) else ""
    with contextlib.suppress(ValueError):
        ip = str(ipaddress.ip_address(ip))
    return f"{ip}/{bits}"


def server_lines(info: Mapping[str, Any]) -> list[str]:
    """docker's prettyPrintServerInfo, the lines on stdout."""
    out = [
        f" Containers: {info.get('Containers', 0)}",
        f"  Running: {info.get('ContainersRunning', 0)}",
        f"  Paused: {info.get('ContainersPaused', 0)}",
        f"  Stopped: {info.get('ContainersStopped', 0)}",
        f" Images: {info.get('Images', 0)}",
    ]
    _nonempty(out, " Server Version:", info.get("ServerVersion"))
    _nonempty(out, " Storage Driver:", info.get("Driver"))
    for pair in info.get("DriverStatus") or []:
        out.append(f"  {pair[0]}: {pair[1]}")
    for pair in info.get("SystemStatus") or []:
        out.append(f" {pair[0]}: {pair[1]}")
    _nonempty(out, " Logging Driver:", info.get("LoggingDriver"))
    _nonempty(out, " Cgroup Driver:", info.get("CgroupDriver"))
    _nonempty(out, " Cgroup Version:", info.get("CgroupVersion"))
    plugins = info.get("Plugins") or {}
    out.append(" Plugins:")
    out.append(f"  Volume: {' '.join(plugins.get('Volume') or [])}")
    out.append(f"  Network: {' '.join(plugins.get('Network') or [])}")
    if plugins.get("Authorization"):
        out.append(f"  Authorization: {' '.join(plugins['Authorization'])}")
    out.append(f"  Log: {' '.join(plugins.get('Log') or [])}")
    swarm = info.get("Swarm") or {}
    out.append(f" Swarm: {swarm.get('LocalNodeState', '')}")
    out.extend(swarm_lines(swarm))
    runtimes = info.get("Runtimes") or {}
    if runtimes:
        out.append(" Runtimes: " + " ".join(sorted(runtimes)))
        out.append(f" Default Runtime: {info.get('DefaultRuntime', '')}")
    if info.get("OSType") == "linux":
        out.append(f" Init Binary: {info.get('InitBinary', '')}")
        for name, key in COMMITS:
            commit = info.get(key) or {}
            line = f" {name} version: {commit.get('ID', '')}"
            if commit.get("ID", "") != commit.get("Expected", ""):
                line += f" (expected: {commit.get('Expected', '')})"
            out.append(line)
        options = security_options(info.get("SecurityOptions") or [])
        if options:
            out.append(" Security Options:")
            for name, values in options:
                out.append(f"  {name}")
                if "profile" in values:
                    out.append(f"   Profile: {values['profile']}")
    _nonempty(out, " Kernel Version:", info.get("KernelVersion"))
    _nonempty(out, " Operating System:", info.get("OperatingSystem"))
    _nonempty(out, " OSType:", info.get("OSType"))
    _nonempty(out, " Architecture:", info.get("Architecture"))
    out.append(f" CPUs: {info.get('NCPU', 0)}")
    out.append(f" Total Memory: {bytes_size(float(info.get('MemTotal') or 0))}")
    _nonempty(out, " Name:", info.get("Name"))
    _nonempty(out, " ID:", info.get("ID"))
    out.append(f" Docker Root Dir: {info.get('DockerRootDir', '')}")
    out.append(f" Debug Mode: {go_bool(info.get('Debug'))}")
    if info.get("Debug"):
        out.append(f"  File Descriptors: {info.get('NFd', 0)}")
        out.append(f"  Goroutines: {info.get('NGoroutines', 0)}")
        out.append(f"  System Time: {info.get('SystemTime', '')}")
        out.append(f"  EventsListeners: {info.get('NEventsListener', 0)}")
    _nonempty(out, " HTTP Proxy:", info.get("HttpProxy"))
    _nonempty(out, " HTTPS Proxy:", info.get("HttpsProxy"))
    _nonempty(out, " No Proxy:", info.get("NoProxy"))
    if info.get("IndexServerAddress"):
        out.append(f" Registry: {info['IndexServerAddress']}")
    if info.get("Labels") is not None:
        out.append(" Labels:")
        out.extend(f"  {label}" for label in info["Labels"])
    out.append(f" Experimental: {go_bool(info.get('ExperimentalBuild'))}")
    _nonempty(out, " Cluster Store:", info.get("ClusterStore"))
    _nonempty(out, " Cluster Advertise:", info.get("ClusterAdvertise"))
    registry = info.get("RegistryConfig") or {}
    cidrs = registry.get("InsecureRegistryCIDRs") or []
    indexes = registry.get("IndexConfigs") or {}
    if cidrs or indexes:
        out.append(" Insecure Registries:")
        for config in indexes.values():
            if not config.get("Secure"):
                out.append(f"  {config.get('Name', '')}")
        out.extend(f"  {_insecure_cidr(c)}" for c in cidrs)
    if registry.get("Mirrors"):
        out.append(" Registry Mirrors:")
        out.extend(f"  {m}" for m in registry["Mirrors"])
    out.append(f" Live Restore Enabled: {go_bool(info.get('LiveRestoreEnabled'))}")
    if info.get("ProductLicense"):
        out.append(f" Product License: {info['ProductLicense']}")
    pools = info.get("DefaultAddressPools") or []
    if pools:
        out.append(" Default Address Pools:")
        out.extend(f"   Base: {p.get('Base', '')}, Size: {p.get('Size', 0)}" for p in pools)
    return out


def security_options(options: Sequence[str]) -> list[tuple[str, dict[str, str]]]:
    """docker's DecodeSecurityOptions: "name=seccomp,profile=default" -> (seccomp,
    {profile: default}); an old-style bare name stays a name."""
    out: list[tuple[str, dict[str, str]]] = []
    for option in options:
        if "=" not in option:
            out.append((option, {}))
            continue
        name, values = "", {}
        for part in option.split(","):
            key, _, value = part.partition("=")
            if key == "name":
                name = value
            else:
                values[key] = value
        out.append((name, values))
    return out


def server_warnings(info: Mapping[str, Any]) -> list[str]:
    """docker's printServerWarnings (API 1.41): the seccomp profile's, then the daemon's own
    warnings, or where it sent none, those docker derives from the Info fields."""
    out: list[str] = []
    for name, values in security_options(info.get("SecurityOptions") or []):
        profile = values.get("profile")
        if name == "seccomp" and profile not in (None, "default", "builtin"):
            out.append("WARNING: You're not using the default seccomp profile")
    if info.get("Warnings"):
        return out + list(info["Warnings"])
    checks = [
        ("MemoryLimit", "WARNING: No memory limit support"),
        ("SwapLimit", "WARNING: No swap limit support"),
        ("OomKillDisable", "WARNING: No oom kill disable support"),
        ("CpuCfsQuota", "WARNING: No cpu cfs quota support"),
        ("CpuCfsPeriod", "WARNING: No cpu cfs period support"),
        ("CPUShares", "WARNING: No cpu shares support"),
        ("CPUSet", "WARNING: No cpuset support"),
        ("IPv4Forwarding", "WARNING: IPv4 forwarding is disabled"),
        ("BridgeNfIptables", "WARNING: bridge-nf-call-iptables is disabled"),
        ("BridgeNfIp6tables", "WARNING: bridge-nf-call-ip6tables is disabled"),
    ]
    for key, warning in checks:
        if key == "OomKillDisable" and info.get("CgroupVersion") == "2":
            continue
        if not info.get(key):
            out.append(warning)
    return out


def pretty(info: Mapping[str, Any] | None, server_error: str) -> tuple[str, str, bool]:
    """(stdout, stderr, ok) of docker info without --format."""
    client = client_info()
    lines = ["Client:", f" Context:    {client['Context']}", " Debug Mode: false", "", "Server:"]
    err: list[str] = []
    if info is not None:
        lines += server_lines(info)
        lines.append("")
        err = server_warnings(info)
    if server_error:
        lines.append(f"ERROR: {server_error}")
        err.append("errors pretty printing info")
    return "\n".join(lines) + "\n", "".join(e + "\n" for e in err), not server_error


def document(info: Mapping[str, Any] | None, server_error: str) -> dict[str, Any]:
    """What docker's --format sees: the Info keys, ServerErrors, ClientInfo."""
    doc: dict[str, Any] = dict(info or {})
    if server_error:
        doc["ServerErrors"] = [server_error]
    doc["ClientInfo"] = client_info()
    return doc


def run_template(fmt: str, data: Any) -> str:
    """docker's templates.Parse and Execute, a newline after; a bad template exits 64, one
    that fails to run exits 1. docker runs it over its Info struct, where a field it lacks is
    an error: over our JSON document, a missing key is one too."""
    try:
        template = gotemplate.parse(fmt)
    except gotemplate.TemplateError as exc:
        typer.echo(f"template parsing error: {exc.message}", err=True)
        raise typer.Exit(TEMPLATE_EXIT) from None
    text, error = template.execute_partial(data, missing_key_error=True)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    if error is not None:
        engine.fail([error.message])  # printed as docker's, without a prefix
    return text


def fetch() -> tuple[dict[str, Any] | None, str]:
    try:
        doc: dict[str, Any] = engine.connect().get("/info")
        return doc, ""
    except SwarmpyError as exc:
        return None, engine.error_line(exc).removeprefix("Error: ")


def info(
    fmt: str = typer.Option("", "--format", "-f", help=FORMAT_HELP),
) -> None:
    """Display system-wide information."""
    doc, server_error = fetch()
    if fmt:
        run_template(fmt, document(doc, server_error))
        return
    out, err, ok = pretty(doc, server_error)
    sys.stdout.write(out)
    sys.stdout.flush()
    sys.stderr.write(err)
    if not ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("info")(info)
