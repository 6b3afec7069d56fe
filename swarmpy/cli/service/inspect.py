"""`swarmpy service inspect`: Docker's JSON document, or --pretty text."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

import typer

from swarmpy.cli import engine, output
from swarmpy.cli.engine import path_of
from swarmpy.errors import SwarmpyError
from swarmpy.humanize import bytes_size, go_duration, human_duration

# docker/cli's serviceInspectPrettyTemplate (cli/command/service/formatter.go, as of
# 28f7560), verbatim: rendered by swarmpy's Go template engine over _pretty_context, which
# gives each of the names it uses the value docker's serviceInspectContext gives.
PRETTY_TEMPLATE = """
ID:\t\t{{.ID}}
Name:\t\t{{.Name}}
{{- if .Labels }}
Labels:
{{- range $k, $v := .Labels }}
 {{ $k }}{{if $v }}={{ $v }}{{ end }}
{{- end }}{{ end }}
Service Mode:
{{- if .IsModeGlobal }}\tGlobal
{{- else if .IsModeReplicated }}\tReplicated
{{- if .ModeReplicatedReplicas }}
 Replicas:\t{{ .ModeReplicatedReplicas }}
{{- end }}{{ end }}
{{- if .HasUpdateStatus }}
UpdateStatus:
 State:\t\t{{ .UpdateStatusState }}
{{- if .HasUpdateStatusStarted }}
 Started:\t{{ .UpdateStatusStarted }}
{{- end }}
{{- if .UpdateIsCompleted }}
 Completed:\t{{ .UpdateStatusCompleted }}
{{- end }}
 Message:\t{{ .UpdateStatusMessage }}
{{- end }}
Placement:
{{- if .TaskPlacementConstraints }}
 Constraints:\t{{ .TaskPlacementConstraints }}
{{- end }}
{{- if .TaskPlacementPreferences }}
 Preferences:   {{ .TaskPlacementPreferences }}
{{- end }}
{{- if .MaxReplicas }}
 Max Replicas Per Node:   {{ .MaxReplicas }}
{{- end }}
{{- if .HasUpdateConfig }}
UpdateConfig:
 Parallelism:\t{{ .UpdateParallelism }}
{{- if .HasUpdateDelay}}
 Delay:\t\t{{ .UpdateDelay }}
{{- end }}
 On failure:\t{{ .UpdateOnFailure }}
{{- if .HasUpdateMonitor}}
 Monitoring Period: {{ .UpdateMonitor }}
{{- end }}
 Max failure ratio: {{ .UpdateMaxFailureRatio }}
 Update order:      {{ .UpdateOrder }}
{{- end }}
{{- if .HasRollbackConfig }}
RollbackConfig:
 Parallelism:\t{{ .RollbackParallelism }}
{{- if .HasRollbackDelay}}
 Delay:\t\t{{ .RollbackDelay }}
{{- end }}
 On failure:\t{{ .RollbackOnFailure }}
{{- if .HasRollbackMonitor}}
 Monitoring Period: {{ .RollbackMonitor }}
{{- end }}
 Max failure ratio: {{ .RollbackMaxFailureRatio }}
 Rollback order:    {{ .RollbackOrder }}
{{- end }}
ContainerSpec:
 Image:\t\t{{ .ContainerImage }}
{{- if .ContainerArgs }}
 Args:\t\t{{ range $arg := .ContainerArgs }}{{ $arg }} {{ end }}
{{- end -}}
{{- if .ContainerEnv }}
 Env:\t\t{{ range $env := .ContainerEnv }}{{ $env }} {{ end }}
{{- end -}}
{{- if .ContainerWorkDir }}
 Dir:\t\t{{ .ContainerWorkDir }}
{{- end -}}
{{- if .HasContainerInit }}
 Init:\t\t{{ .ContainerInit }}
{{- end -}}
{{- if .ContainerUser }}
 User: {{ .ContainerUser }}
{{- end }}
{{- if .HasCapabilities }}
Capabilities:
{{- if .HasCapabilityAdd }}
 Add: {{ .CapabilityAdd }}
{{- end }}
{{- if .HasCapabilityDrop }}
 Drop: {{ .CapabilityDrop }}
{{- end }}
{{- end }}
{{- if .ContainerSysCtls }}
SysCtls:
{{- range $k, $v := .ContainerSysCtls }}
 {{ $k }}{{if $v }}: {{ $v }}{{ end }}
{{- end }}{{ end }}
{{- if .ContainerUlimits }}
Ulimits:
{{- range $k, $v := .ContainerUlimits }}
 {{ $k }}: {{ $v }}
{{- end }}{{ end }}
{{- if .ContainerMounts }}
Mounts:
{{- end }}
{{- range $mount := .ContainerMounts }}
 Target:\t{{ $mount.Target }}
  Source:\t{{ $mount.Source }}
  ReadOnly:\t{{ $mount.ReadOnly }}
  Type:\t\t{{ $mount.Type }}
{{- end -}}
{{- if .Configs}}
Configs:
{{- range $config := .Configs }}
 Target:\t{{$config.File.Name}}
  Source:\t{{$config.ConfigName}}
{{- end }}{{ end }}
{{- if .Secrets }}
Secrets:
{{- range $secret := .Secrets }}
 Target:\t{{$secret.File.Name}}
  Source:\t{{$secret.SecretName}}
{{- end }}{{ end }}
{{- if .HasLogDriver }}
Log Driver:
{{- if .HasLogDriverName }}
 Name:\t\t{{ .LogDriverName }}
{{- end }}
{{- if .LogOpts }}
 LogOpts:
{{- range $k, $v := .LogOpts }}
  {{ $k }}{{if $v }}:       {{ $v }}{{ end }}
{{- end }}{{ end }}
{{ end }}
{{- if .HasResources }}
Resources:
{{- if .HasResourceReservations }}
 Reservations:
{{- if gt .ResourceReservationNanoCPUs 0.0 }}
  CPU:\t\t{{ .ResourceReservationNanoCPUs }}
{{- end }}
{{- if .ResourceReservationMemory }}
  Memory:\t{{ .ResourceReservationMemory }}
{{- end }}{{ end }}
{{- if .HasResourceLimits }}
 Limits:
{{- if gt .ResourceLimitsNanoCPUs 0.0 }}
  CPU:\t\t{{ .ResourceLimitsNanoCPUs }}
{{- end }}
{{- if .ResourceLimitMemory }}
  Memory:\t{{ .ResourceLimitMemory }}
{{- end }}{{ end }}{{ end }}
{{- if gt .ResourceLimitPids 0 }}
  PIDs:\t\t{{ .ResourceLimitPids }}
{{- end }}
{{- if .Networks }}
Networks:
{{- range $network := .Networks }} {{ $network }}{{ end }} {{ end }}
Endpoint Mode:\t{{ .EndpointMode }}
{{- if .Ports }}
Ports:
{{- range $port := .Ports }}
 PublishedPort = {{ $port.PublishedPort }}
  Protocol = {{ $port.Protocol }}
  TargetPort = {{ $port.TargetPort }}
  PublishMode = {{ $port.PublishMode }}
{{- end }} {{ end -}}
{{- if .Healthcheck }}
 Healthcheck:
  Interval = {{ .Healthcheck.Interval }}
  Retries = {{ .Healthcheck.Retries }}
  StartPeriod =\t{{ .Healthcheck.StartPeriod }}
  Timeout =\t{{ .Healthcheck.Timeout }}
  {{- if .Healthcheck.Test }}
  Tests:
\t{{- range $test := .Healthcheck.Test }}
\t Test = {{ $test }}
  {{- end }} {{ end -}}
{{- end }}
"""


def _duration(nanos: Any) -> str:
    return go_duration(int(nanos or 0) / 1e9)


def _update_context(prefix: str, config: dict[str, Any] | None) -> dict[str, Any]:
    """UpdateConfig or RollbackConfig as the template's Update*/Rollback* names."""
    if config is None:
        return {f"Has{prefix}Config": False}
    return {
        f"Has{prefix}Config": True,
        f"{prefix}Parallelism": int(config.get("Parallelism") or 0),
        f"Has{prefix}Delay": int(config.get("Delay") or 0) > 0,
        f"{prefix}Delay": _duration(config.get("Delay")),
        f"{prefix}OnFailure": config.get("FailureAction", ""),
        f"Has{prefix}Monitor": int(config.get("Monitor") or 0) > 0,
        f"{prefix}Monitor": _duration(config.get("Monitor")),
        f"{prefix}MaxFailureRatio": float(config.get("MaxFailureRatio") or 0),
        f"{prefix}Order": config.get("Order", ""),
    }


def _resources_context(resources: dict[str, Any] | None) -> dict[str, Any]:
    limits = (resources or {}).get("Limits") or {}
    reservations = (resources or {}).get("Reservations") or {}

    def memory(part: dict[str, Any]) -> str:
        n = int(part.get("MemoryBytes") or 0)
        return bytes_size(n) if n else ""

    return {
        "HasResources": resources is not None,
        "HasResourceReservations": bool(
            reservations.get("NanoCPUs") or reservations.get("MemoryBytes")
        ),
        "ResourceReservationNanoCPUs": int(reservations.get("NanoCPUs") or 0) / 1e9,
        "ResourceReservationMemory": memory(reservations),
        "HasResourceLimits": bool(
            limits.get("NanoCPUs") or limits.get("MemoryBytes") or limits.get("Pids")
        ),
        "ResourceLimitsNanoCPUs": int(limits.get("NanoCPUs") or 0) / 1e9,
        "ResourceLimitMemory": memory(limits),
        "ResourceLimitPids": int(limits.get("Pids") or 0),
    }


def _pretty_context(doc: dict[str, Any], network_names: Mapping[str, str]) -> dict[str, Any]:
    """What docker's serviceInspectContext answers for each name the template uses."""
    spec = doc.get("Spec", {})
    template = spec.get("TaskTemplate", {})
    container = template.get("ContainerSpec", {})
    placement = template.get("Placement") or {}
    mode = spec.get("Mode", {})
    status = doc.get("UpdateStatus") or {}
    log_driver = template.get("LogDriver")
    health = container.get("Healthcheck")
    caps_add, caps_drop = (
        container.get("CapabilityAdd") or [],
        container.get("CapabilityDrop") or [],
    )
    now = time.time()

    def ago(key: str) -> str:
        return human_duration(now - output.parse_iso(status[key])) + " ago"

    replicas = (mode.get("Replicated") or {}).get("Replicas")
    return {
        "ID": doc["ID"],
        "Name": spec.get("Name", ""),
        "Labels": spec.get("Labels") or {},
        "IsModeGlobal": "Global" in mode,
        "IsModeReplicated": "Replicated" in mode,
        # A pointer in docker: shown whenever set, 0 too.
        "ModeReplicatedReplicas": None if replicas is None else str(replicas),
        "HasUpdateStatus": bool(status.get("State")),
        "UpdateStatusState": status.get("State", ""),
        "HasUpdateStatusStarted": "StartedAt" in status,
        "UpdateStatusStarted": ago("StartedAt") if "StartedAt" in status else "",
        "UpdateIsCompleted": status.get("State") == "completed" and "CompletedAt" in status,
        "UpdateStatusCompleted": ago("CompletedAt") if "CompletedAt" in status else "",
        "UpdateStatusMessage": status.get("Message", ""),
        "TaskPlacementConstraints": placement.get("Constraints") or [],
        "TaskPlacementPreferences": [
            "spread=" + p["Spread"]["SpreadDescriptor"]
            for p in placement.get("Preferences") or []
            if p.get("Spread")
        ],
        "MaxReplicas": int(placement.get("MaxReplicas") or 0),
        **_update_context("Update", spec.get("UpdateConfig")),
        **_update_context("Rollback", spec.get("RollbackConfig")),
        "ContainerImage": container.get("Image", ""),
        "ContainerArgs": container.get("Args") or [],
        "ContainerEnv": container.get("Env") or [],
        "ContainerWorkDir": container.get("Dir", ""),
        "HasContainerInit": container.get("Init") is not None,
        "ContainerInit": bool(container.get("Init")),
        "ContainerUser": container.get("User", ""),
        "HasCapabilities": bool(caps_add or caps_drop),
        "HasCapabilityAdd": bool(caps_add),
        "CapabilityAdd": ", ".join(caps_add),
        "HasCapabilityDrop": bool(caps_drop),
        "CapabilityDrop": ", ".join(caps_drop),
        "ContainerSysCtls": container.get("Sysctls") or {},
        "ContainerUlimits": {
            u["Name"]: f"{u.get('Soft', 0)}:{u.get('Hard', 0)}"
            for u in container.get("Ulimits") or []
        },
        "ContainerMounts": [
            {
                "Target": m.get("Target", ""),
                "Source": m.get("Source", ""),
                "ReadOnly": bool(m.get("ReadOnly")),
                "Type": m.get("Type", ""),
            }
            for m in container.get("Mounts") or []
        ],
        "Configs": container.get("Configs") or [],
        "Secrets": container.get("Secrets") or [],
        "HasLogDriver": log_driver is not None,
        "HasLogDriverName": bool((log_driver or {}).get("Name")),
        "LogDriverName": (log_driver or {}).get("Name", ""),
        "LogOpts": (log_driver or {}).get("Options") or {},
        **_resources_context(template.get("Resources")),
        "Networks": [
            network_names.get(n.get("Target", ""), n.get("Target", ""))
            for n in template.get("Networks") or []
        ],
        "EndpointMode": (spec.get("EndpointSpec") or {}).get("Mode", ""),
        "Ports": (doc.get("Endpoint") or {}).get("Ports") or [],
        "Healthcheck": None
        if health is None
        else {
            "Interval": _duration(health.get("Interval")),
            "Retries": int(health.get("Retries") or 0),
            "StartPeriod": _duration(health.get("StartPeriod")),
            "Timeout": _duration(health.get("Timeout")),
            "Test": health.get("Test") or [],
        },
    }


def print_pretty(doc: dict[str, Any], network_names: Mapping[str, str] | None = None) -> None:
    """A Service document as docker's ``service inspect --pretty`` prints it; networks by
    the names ``network_names`` gives their IDs (docker looks each up), else by ID."""
    from swarmpy.cli import gotemplate

    text = gotemplate.parse(PRETTY_TEMPLATE).execute(_pretty_context(doc, network_names or {}))
    sys.stdout.write(text + "\n")  # docker's formatter ends each service with a newline
    sys.stdout.flush()


def inspect(
    refs: list[str] = typer.Argument(..., metavar="SERVICE..."),
    pretty: bool = typer.Option(False, help="Print the information in a human friendly format"),
    fmt: str = output.inspect_format_option(),
) -> None:
    """Display detailed information on one or more services."""
    api = engine.connect()
    docs = [api.get(path_of("services", ref)) for ref in refs]
    if not pretty and fmt != "pretty":
        output.print_inspect(docs, fmt)
        return
    for doc in docs:
        print_pretty(doc, _network_names(api, doc))


def _network_names(api: engine.EngineClient, doc: dict[str, Any]) -> dict[str, str]:
    """The service's networks by name, as docker looks each up (one it cannot: by ID)."""
    names: dict[str, str] = {}
    for attachment in doc.get("Spec", {}).get("TaskTemplate", {}).get("Networks") or []:
        target = attachment.get("Target", "")
        try:
            network = api.get(path_of("networks", target), scope="swarm")
        except SwarmpyError:
            continue
        names[network["Id"]] = network["Name"]
    return names
