"""`swarmpy version`: this client's version and the daemon's (/version), through docker's
own template (cli/command/system/version.go) and its tabwriter; ``--format`` runs a Go
template over the same data ({{.Client.Version}}, {{.Server.Version}}, {{json .}})."""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from typing import Any

import typer

from swarmpy.cli import engine, gotemplate
from swarmpy.cli.info import FORMAT_HELP, TEMPLATE_EXIT
from swarmpy.errors import SwarmpyError

VERSION_TEMPLATE = """{{with .Client -}}
Client:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 Version:\t{{.Version}}
 API version:\t{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} (downgraded from \
{{.DefaultAPIVersion}}){{end}}
 Go version:\t{{.GoVersion}}
 Git commit:\t{{.GitCommit}}
 Built:\t{{.BuildTime}}
 OS/Arch:\t{{.Os}}/{{.Arch}}
 Context:\t{{.Context}}
 Experimental:\t{{.Experimental}}
{{- end}}

{{- if .ServerOK}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  API version:\t{{index .Details "ApiVersion"}} (minimum version \
{{index .Details "MinAPIVersion"}})
  Go version:\t{{index .Details "GoVersion"}}
  Git commit:\t{{index .Details "GitCommit"}}
  Built:\t{{index .Details "BuildTime"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:\t{{index .Details "Experimental"}}
  {{- else }}
  Version:\t{{$component.Version}}
  {{- $detailsOrder := getDetailsOrder $component}}
  {{- range $key := $detailsOrder}}
  {{$key}}:\t{{index $component.Details $key}}
   {{- end}}
  {{- end}}
 {{- end}}
 {{- end}}{{- end}}"""


def _details_order(component: Any) -> list[str]:
    details = component.get("Details") if isinstance(component, Mapping) else None
    return sorted(details or {})


FUNCS = {
    **gotemplate.FUNCS,
    "getDetailsOrder": gotemplate.Func(_details_order, ("any",)),
}


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def reformat_date(text: str) -> str:
    """docker's reformatDate: an RFC 3339 build time in Go's ANSIC layout, else as it is."""
    import datetime as dt

    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return when.strftime("%a %b ") + f"{when.day:>2}" + when.strftime(" %H:%M:%S %Y")


def client_version(api_version: str) -> dict[str, Any]:
    from swarmpy.model import ENGINE_VERSION

    return {
        "Platform": {"Name": ""},
        "Version": ENGINE_VERSION,
        "ApiVersion": api_version,
        "DefaultAPIVersion": engine.API_VERSION,
        "GitCommit": "",
        "GoVersion": f"python{platform.python_version()}",
        "Os": "linux",
        "Arch": _arch(),
        "BuildTime": "",
        "Context": "default",
        "Experimental": True,
    }


class Client:
    """docker's clientVersion: its fields to templates (APIVersion is the Go name of the
    JSON key ApiVersion)."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self._doc = dict(doc)
        for key, value in doc.items():
            setattr(self, key, value)
        self.APIVersion = doc["ApiVersion"]

    def marshal_json(self) -> dict[str, Any]:
        doc = dict(self._doc)
        if not doc.get("BuildTime"):
            del doc["BuildTime"]  # omitempty
        return doc


class VersionInfo:
    """docker's versionInfo: .Client, .Server (nil without a daemon) and .ServerOK."""

    def __init__(self, client: Mapping[str, Any], server: Mapping[str, Any] | None) -> None:
        self.Client = Client(client)
        self.Server = with_engine_component(server) if server is not None else None

    def ServerOK(self) -> bool:  # named as docker's template method
        return self.Server is not None

    def marshal_json(self) -> dict[str, Any]:
        return {"Client": self.Client.marshal_json(), "Server": self.Server}


def with_engine_component(server: Mapping[str, Any]) -> dict[str, Any]:
    """The daemon's Version with an "Engine" component (made from the top-level keys where
    an older daemon sent none) and its build time reformatted, as docker's runVersion."""
    doc = dict(server)
    components = [dict(c) for c in doc.get("Components") or []]
    for component in components:
        if component.get("Name") == "Engine":
            details = dict(component.get("Details") or {})
            if "BuildTime" in details:
                details["BuildTime"] = reformat_date(str(details["BuildTime"]))
            component["Details"] = details
            break
    else:
        components.append(
            {
                "Name": "Engine",
                "Version": doc.get("Version", ""),
                "Details": {
                    "ApiVersion": doc.get("ApiVersion", ""),
                    "MinAPIVersion": doc.get("MinAPIVersion", ""),
                    "GitCommit": doc.get("GitCommit", ""),
                    "GoVersion": doc.get("GoVersion", ""),
                    "Os": doc.get("Os", ""),
                    "Arch": doc.get("Arch", ""),
                    "BuildTime": reformat_date(str(doc.get("BuildTime", ""))),
                    "Experimental": "true" if doc.get("Experimental") else "false",
                },
            }
        )
    doc["Components"] = components
    return doc


def render(fmt: str, data: VersionInfo) -> tuple[str, gotemplate.TemplateError | None]:
    """The template's output as docker's prettyPrintVersion writes it: through a tabwriter
    (minwidth 20, padding 1), a newline after."""
    template = gotemplate.parse(fmt or VERSION_TEMPLATE, FUNCS)
    text, error = template.execute_partial(data, funcs=FUNCS)
    return gotemplate.tabwrite(text + "\n", minwidth=20, padding=1), error


def version(fmt: str = typer.Option("", "--format", "-f", help=FORMAT_HELP)) -> None:
    """Show the swarmpy version information."""
    api = engine.connect()
    server: dict[str, Any] | None = None
    failure: SwarmpyError | None = None
    try:
        server = api.get("/version")
        negotiated = api.version()
    except SwarmpyError as exc:
        failure, negotiated = exc, engine.API_VERSION
    data = VersionInfo(client_version(negotiated), server)
    try:
        text, error = render(fmt, data)
    except gotemplate.TemplateError as exc:
        typer.echo(f"template parsing error: {exc.message}", err=True)
        raise typer.Exit(TEMPLATE_EXIT) from None
    sys.stdout.write(text)
    sys.stdout.flush()
    if failure is not None:  # docker prints the client's part, then the error as it is
        engine.fail([engine.error_line(failure).removeprefix("Error: ")])
    if error is not None:
        engine.fail([error.message])  # printed as docker's, without a prefix


def register(app: typer.Typer) -> None:
    app.command("version")(version)
