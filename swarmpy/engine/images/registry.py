"""A read-only client of the OCI distribution API: manifests and blobs, with token auth.

Docker Hub (and most registries) answer 401 with ``Www-Authenticate: Bearer realm=...``; we
fetch an anonymous pull token from the realm and retry, as ``docker pull`` does without a login.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from swarmpy.engine.images.manifest import ACCEPT
from swarmpy.errors import ImageError

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.repository = repository
        self.display = display  # the reference as the user typed it, for messages
        self._http = httpx.Client(timeout=_TIMEOUT, follow_redirects=True, transport=transport)
        self._token: str | None = None

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
    def blob(self, digest: str, dest: Path) -> Iterator[Path]:
        """Download blob ``digest`` to ``dest``, verify it, yield the path; remove it after."""
        url = f"{self.base_url}/v2/{self.repository}/blobs/{digest}"
        try:
            self._stream_to(url, digest, dest)
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

    def _stream_to(self, url: str, digest: str, dest: Path) -> None:
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
        try:
            response = self._http.get(url, headers={**headers, **self._auth_headers()})
            if response.status_code == 401 and self._authenticate(response):
                response = self._http.get(url, headers={**headers, **self._auth_headers()})
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        return response

    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _authenticate(self, response: httpx.Response) -> bool:
        """Follow a Bearer challenge to get an anonymous pull token; False if not possible."""
        challenge = response.headers.get("www-authenticate", "")
        scheme, _, params_text = challenge.partition(" ")
        if scheme.lower() != "bearer" or self._token is not None:
            return False
        params = dict(_CHALLENGE_PARAM.findall(params_text))
        if "realm" not in params:
            return False
        query = {"scope": params.get("scope") or f"repository:{self.repository}:pull"}
        if "service" in params:
            query["service"] = params["service"]
        try:
            reply = self._http.get(params["realm"], params=query)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        if reply.status_code != 200:
            return False
        body = reply.json()
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            return False
        self._token = token
        return True

    def _error(self, response: httpx.Response, what: str) -> ImageError:
        codes = _error_codes(response)
        if response.status_code in (401, 403) or "NAME_UNKNOWN" in codes:
            return RepositoryNotFound(
                f"pull access denied for {self.display}, repository does not exist or may "
                "require authorization"
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
        return RegistryUnreachable(
            f"error pulling {self.display}: registry {self.base_url} unreachable: {reason}"
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
