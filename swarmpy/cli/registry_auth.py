"""Registry credentials on the client, as docker's CLI keeps them: ``~/.swarmpy/config.json``
(mode 0600) with ``{"auths": {"<registry>": {"auth": base64("user:password")}}}``, and the
``X-Registry-Auth`` header (base64url JSON) that carries them to the daemon for one request.

Docker Hub's key is ``https://index.docker.io/v1/``; any other registry's is its host[:port].
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from swarmpy.errors import InvalidArgument

HUB_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io", HUB_KEY)


def config_path() -> Path:
    return Path(os.environ.get("SWARMPY_CONFIG") or Path.home() / ".swarmpy") / "config.json"


def load_config(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        raise InvalidArgument(f"{path}: not a JSON document") from None
    return doc if isinstance(doc, dict) else {}


def save_config(doc: dict[str, Any], path: Path | None = None) -> None:
    """Write atomically, readable by the owner alone (it holds passwords)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        json.dump(doc, out, indent="\t")
    os.replace(tmp, path)


def server_key(server: str) -> str:
    """The config key of a registry named on the command line (docker's ConvertToHostname
    for others; Docker Hub's fixed key)."""
    if not server or server in _HUB_NAMES:
        return HUB_KEY
    host = server.split("://", 1)[-1]
    return host.split("/", 1)[0]


def store_login(server: str, username: str, password: str) -> Path:
    doc = load_config()
    auths = doc.setdefault("auths", {})
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    auths[server_key(server)] = {"auth": token}
    save_config(doc)
    return config_path()


def forget_login(server: str) -> bool:
    """Remove the registry's credentials; False when there were none."""
    doc = load_config()
    auths = doc.get("auths") or {}
    if server_key(server) not in auths:
        return False
    del auths[server_key(server)]
    save_config(doc)
    return True


def credentials_for(domain: str) -> dict[str, str] | None:
    """The stored credentials of a registry (by an image reference's domain)."""
    auths = load_config().get("auths") or {}
    entry = (
        auths.get(server_key(domain))
        or auths.get(f"https://{domain}")
        or auths.get(f"http://{domain}")
    )
    if not isinstance(entry, dict) or not entry.get("auth"):
        return None
    try:
        user, _, password = base64.b64decode(str(entry["auth"])).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(f"invalid credentials for {domain} in {config_path()}") from None
    return {"username": user, "password": password, "serveraddress": server_key(domain)}


def header_value(doc: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode()


def auth_header(domain: str) -> dict[str, str]:
    """X-Registry-Auth for a registry: the stored login, or an empty one."""
    creds = credentials_for(domain)
    return {"X-Registry-Auth": header_value(creds or {})}


def all_auths_header() -> dict[str, str]:
    """X-Registry-Config for a build: every stored login, by registry."""
    auths = load_config().get("auths") or {}
    out: dict[str, Any] = {}
    for key in auths:
        creds = credentials_for(key)
        if creds is not None:
            out[key] = creds
    return {"X-Registry-Config": header_value(out)} if out else {}
