"""A client of the OCI distribution API: manifests and blobs, pulled and pushed, with auth.

A registry that wants auth answers 401 with ``Www-Authenticate``: ``Basic`` (the credentials go
along on every request), or ``Bearer realm=...`` (a token for the repository's scope is fetched
from the realm, with the credentials as basic auth when there are some, anonymously otherwise,
as ``docker pull`` does without a login). Push uploads a blob in one PUT when it is small and in
PATCHed chunks otherwise, or mounts it from another repository of the same registry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx

from swarmpy.engine.images.manifest import ACCEPT
from swarmpy.errors import ImageError, InvalidArgument

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Blobs up to this size go up in one PUT; bigger ones in PATCHes of this size (Docker sends
# one streamed PATCH; chunks bound what a dropped connection costs).
CHUNK_SIZE = 8 << 20


@dataclass(frozen=True)
class Credentials:
    """What ``docker login`` stored for a registry (X-Registry-Auth's fields)."""

    username: str = ""
    password: str = ""
    identity_token: str = ""

    @property
    def basic(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


def credentials_from(doc: dict[str, object]) -> Credentials | None:
    """Docker's AuthConfig (``username``/``password``, ``identitytoken``, or ``auth`` as
    base64 ``user:password``); None when it names nobody."""
    username = str(doc.get("username") or "")
    password = str(doc.get("password") or "")
    token = str(doc.get("identitytoken") or "")
    if not (username or token) and doc.get("auth"):
        try:
            username, _, password = base64.b64decode(str(doc["auth"])).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidArgument("invalid registry auth: bad auth field") from None
    if not (username or token):
        return None
    return Credentials(username, password, token)


def decode_auth(text: str) -> dict[str, object]:
    """An X-Registry-Auth / X-Registry-Config value: base64url JSON, padding optional."""
    if not text:
        return {}
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError):
        raise InvalidArgument("invalid registry auth header: not base64-encoded JSON") from None
    return value if isinstance(value, dict) else {}


def credentials_of_header(text: str) -> Credentials | None:
    return credentials_from(decode_auth(text))


class Unauthorized(ImageError):
    """The registry refused the credentials (or their absence)."""


class RegistryUnreachable(ImageError):
    """The registry did not answer at all (a mirror may be tried next)."""


class RepositoryNotFound(ImageError):
    pass


class ManifestNotFound(ImageError):
    pass


@dataclass(frozen=True)
class FetchedManifest:
    data: bytes
    media_type: str
    digest: str  # sha256 of exactly the bytes received


class RegistryClient:
    """Talks to one registry endpoint (``http(s)://host[:port]``) about one repository."""

    def __init__(
        self,
        base_url: str,
        repository: str,
        display: str,
        transport: httpx.BaseTransport | None = None,  # tests pass an httpx.MockTransport
        credentials: Credentials | None = None,
        actions: str = "pull",
        extra_scopes: tuple[str, ...] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.repository = repository
        self.display = display  # the reference as the user typed it, for messages
        self._http = httpx.Client(timeout=_TIMEOUT, follow_redirects=True, transport=transport)
        self._token: str | None = None
        self._basic: str | None = None
        self.credentials = credentials
        self.actions = actions
        self.extra_scopes = extra_scopes

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def manifest(self, reference: str) -> FetchedManifest:
        url = f"{self.base_url}/v2/{self.repository}/manifests/{reference}"
        response = self._get(url, {"Accept": ACCEPT})
        if response.status_code == 200:
            data = response.content
            media_type = response.headers.get("content-type", "").split(";")[0].strip()
            return FetchedManifest(data, media_type, "sha256:" + hashlib.sha256(data).hexdigest())
        raise self._error(response, reference)

    @contextmanager
    def blob(
        self, digest: str, dest: Path, on_bytes: Callable[[int], None] | None = None
    ) -> Iterator[Path]:
        """Download blob ``digest`` to ``dest``, verify it, yield the path; remove it after.
        ``on_bytes`` hears of each chunk written (its length)."""
        url = f"{self.base_url}/v2/{self.repository}/blobs/{digest}"
        try:
            self._stream_to(url, digest, dest, on_bytes)
            yield dest
        finally:
            dest.unlink(missing_ok=True)

    def blob_bytes(self, digest: str) -> bytes:
        url = f"{self.base_url}/v2/{self.repository}/blobs/{digest}"
        response = self._get(url, {})
        if response.status_code != 200:
            raise self._error(response, digest)
        data = response.content
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise ImageError(f"blob verification failed for digest {digest}")
        return data

    def _stream_to(
        self, url: str, digest: str, dest: Path, on_bytes: Callable[[int], None] | None = None
    ) -> None:
        hasher = hashlib.sha256()
        for attempt in (1, 2):
            with self._request_stream(url) as response:
                if response.status_code == 401 and attempt == 1 and self._authenticate(response):
                    continue
                if response.status_code != 200:
                    response.read()
                    raise self._error(response, digest)
                with dest.open("wb") as out:
                    for chunk in response.iter_bytes(1 << 20):
                        hasher.update(chunk)
                        out.write(chunk)
                        if on_bytes is not None:
                            on_bytes(len(chunk))
                break
        if "sha256:" + hasher.hexdigest() != digest:
            raise ImageError(f"filesystem layer verification failed for digest {digest}")

    @contextmanager
    def _request_stream(self, url: str) -> Iterator[httpx.Response]:
        try:
            with self._http.stream("GET", url, headers=self._auth_headers()) as response:
                yield response
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None

    def _get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        return self.request("GET", url, headers)

    def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """One request, authenticated (after a 401 challenge, once) and retried."""
        url = urljoin(self.base_url + "/", url)
        headers = headers or {}
        try:
            response = self._http.request(
                method, url, headers={**headers, **self._auth_headers()}, content=content
            )
            if response.status_code == 401 and self._authenticate(response):
                response = self._http.request(
                    method, url, headers={**headers, **self._auth_headers()}, content=content
                )
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        return response

    def _auth_headers(self) -> dict[str, str]:
        if self._token:
            return {"Authorization": f"Bearer {self._token}"}
        return {"Authorization": self._basic} if self._basic else {}

    def _authenticate(self, response: httpx.Response) -> bool:
        """Answer a challenge: basic credentials, or a Bearer token from the realm (with the
        credentials when there are some); False when there is nothing more to try."""
        challenge = response.headers.get("www-authenticate", "")
        scheme, _, params_text = challenge.partition(" ")
        creds = self.credentials
        if scheme.lower() == "basic":
            if self._basic is not None or creds is None or not creds.username:
                return False
            self._basic = creds.basic
            return True
        if scheme.lower() != "bearer" or self._token is not None:
            return False
        params = dict(_CHALLENGE_PARAM.findall(params_text))
        if "realm" not in params:
            return False
        scopes = [f"repository:{self.repository}:{self.actions}"] if self.repository else []
        scopes += self.extra_scopes
        if params.get("scope") and params["scope"] not in scopes:
            scopes.insert(0, params["scope"])
        query: list[tuple[str, str | int | float | bool | None]] = [
            ("scope", scope) for scope in scopes
        ]
        if "service" in params:
            query.append(("service", params["service"]))
        auth: tuple[str, str] | None = None
        if creds is not None and creds.username:
            query.append(("account", creds.username))
            auth = (creds.username, creds.password)
        try:
            reply = self._http.get(params["realm"], params=query, auth=auth)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if reply.status_code in (401, 403) and auth is not None:
            raise Unauthorized(f"unauthorized: incorrect username or password ({self.base_url})")
        if reply.status_code != 200:
            return False
        body = reply.json()
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            return False
        self._token = token
        return True

    # ------------------------------------------------------------ push

    def blob_exists(self, digest: str) -> bool:
        response = self.request("HEAD", f"/v2/{self.repository}/blobs/{digest}")
        if response.status_code in (401, 403):
            raise self._push_error(response)
        return response.status_code == 200

    def mount_blob(self, digest: str, source_repository: str) -> str | None:
        """Mount ``digest`` from another repository of this registry: None when mounted, else
        the upload URL the registry opened instead."""
        response = self.request(
            "POST",
            f"/v2/{self.repository}/blobs/uploads/?mount={digest}&from={source_repository}",
        )
        if response.status_code == 201:
            return None
        if response.status_code == 202:
            return str(response.headers.get("location", ""))
        raise self._push_error(response)

    def start_upload(self) -> str:
        response = self.request("POST", f"/v2/{self.repository}/blobs/uploads/")
        if response.status_code != 202:
            raise self._push_error(response)
        return str(response.headers.get("location", ""))

    def upload_blob(
        self,
        path: Path,
        digest: str,
        location: str | None = None,
        on_bytes: Callable[[int, int], None] | None = None,
    ) -> None:
        """Upload the file at ``path`` as blob ``digest``: one PUT when small, else chunks;
        ``on_bytes(done, size)`` hears of each request's bytes once the registry took them."""
        location = location or self.start_upload()
        size = path.stat().st_size
        tell = on_bytes or (lambda _done, _size: None)
        with path.open("rb") as data:
            if size > CHUNK_SIZE:
                offset = 0
                while chunk := data.read(CHUNK_SIZE):
                    end = offset + len(chunk) - 1
                    response = self.request(
                        "PATCH",
                        location,
                        {
                            "Content-Type": "application/octet-stream",
                            "Content-Range": f"{offset}-{end}",
                        },
                        chunk,
                    )
                    if response.status_code != 202:
                        raise self._push_error(response)
                    location = response.headers.get("location", location)
                    offset = end + 1
                    tell(offset, size)
                body = b""
            else:
                body = data.read()
        separator = "&" if "?" in location else "?"
        response = self.request(
            "PUT",
            f"{location}{separator}digest={digest}",
            {"Content-Type": "application/octet-stream"},
            body,
        )
        if response.status_code != 201:
            raise self._push_error(response)
        if body:
            tell(size, size)

    def put_manifest(self, reference: str, data: bytes, media_type: str) -> str:
        response = self.request(
            "PUT",
            f"/v2/{self.repository}/manifests/{reference}",
            {"Content-Type": media_type},
            data,
        )
        if response.status_code not in (200, 201):
            raise self._push_error(response)
        return response.headers.get("docker-content-digest") or (
            "sha256:" + hashlib.sha256(data).hexdigest()
        )

    def check_login(self) -> None:
        """GET /v2/ with the credentials, as ``docker login`` checks them."""
        response = self.request("GET", "/v2/")
        if response.status_code == 200:
            return
        if response.status_code == 401:
            raise Unauthorized(
                f"login attempt to {self.base_url}/v2/ failed with status: 401 Unauthorized"
            )
        raise ImageError(
            f"login attempt to {self.base_url}/v2/ failed with status: {response.status_code} "
            f"{response.reason_phrase}"
        )

    def _push_error(self, response: httpx.Response) -> ImageError:
        detail = _first_error(response)
        if response.status_code in (401, 403):
            return Unauthorized(detail or "unauthorized: authentication required")
        return ImageError(detail or f"registry answered HTTP {response.status_code}")

    def _error(self, response: httpx.Response, what: str) -> ImageError:
        codes = _error_codes(response)
        if response.status_code in (401, 403) or "NAME_UNKNOWN" in codes:
            detail = _first_error(response)
            return RepositoryNotFound(
                f"pull access denied for {self.display}, repository does not exist or may "
                "require 'docker login'" + (f": {detail}" if detail else "")
            )
        if response.status_code == 404 and ("MANIFEST_UNKNOWN" in codes or not codes):
            if what.startswith("sha256:") and "/blobs/" in str(response.url):
                return ImageError(f"blob {what} not found in {self.display}")
            return ManifestNotFound(f"manifest for {self.display} not found: manifest unknown")
        return ImageError(
            f"error pulling {self.display}: registry answered HTTP {response.status_code}"
            + (f" ({', '.join(codes)})" if codes else "")
        )

    def _unreachable(self, exc: httpx.TransportError) -> RegistryUnreachable:
        reason = str(exc) or type(exc).__name__
        verb = "pushing" if "push" in self.actions else "pulling"
        return RegistryUnreachable(
            f"error {verb} {self.display}: registry {self.base_url} unreachable: {reason}"
        )


def _error_codes(response: httpx.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("code")) for e in errors if isinstance(e, dict)]


def _first_error(response: httpx.Response) -> str:
    """Docker's rendering of a registry error (errcode's Error): ``code: message``, the code
    in lower case with spaces for underscores (``name unknown: ...``)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return ""
    code = str(errors[0].get("code", "")).lower().replace("_", " ")
    message = str(errors[0].get("message", ""))
    return f"{code}: {message}" if code else message
