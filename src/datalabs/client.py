"""A small client of the datalabs REST API, for the CLI and for notebooks.

    from datalabs.client import Client
    client = Client("http://127.0.0.1:8000", token="dlt_...")   # or from DATALABS_URL / DATALABS_TOKEN
    client.get("/api/v1/me")

API errors are raised as ``ApiError`` with the server's code and message.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
CHUNK = 1024 * 1024


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status, self.code, self.message = status, code, message


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 60.0) -> None:
        self.url = (url or os.environ.get("DATALABS_URL") or DEFAULT_URL).rstrip("/")
        token = token or os.environ.get("DATALABS_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.http.close()

    # -- plain requests -------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise ApiError(0, "unreachable", f"cannot reach datalabs at {self.url} (is `datalabs serve` running?)") from None
        _raise_for_error(response)
        return response

    def get(self, path: str, **params):
        return self.request("GET", path, params=params or None).json()

    # -- files ----------------------------------------------------------------------------

    def stat(self, path: str, **params) -> dict:
        return self.get(f"/api/v1/files/{quoted(path)}", **params)

    def download(self, path: str, target: Path, progress: Callable[[int, int], None] | None = None) -> int:
        """Stream ``path`` into ``target`` (written to a temporary name, renamed when complete)."""
        partial = target.with_name(target.name + ".part")
        try:
            with self.http.stream("GET", f"/api/v1/content/{quoted(path)}") as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for_error(response)
                total = int(response.headers.get("content-length", 0))
                done = 0
                with partial.open("wb") as handle:
                    for chunk in response.iter_bytes(CHUNK):
                        handle.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total)
            partial.replace(target)
            return done
        except httpx.ConnectError:
            raise ApiError(0, "unreachable", f"cannot reach datalabs at {self.url}") from None
        finally:
            partial.unlink(missing_ok=True)

    def upload(self, source: Path, path: str, *, overwrite: bool = False, parents: bool = False,
               progress: Callable[[int, int], None] | None = None) -> dict:
        size = source.stat().st_size

        def body() -> Iterator[bytes]:
            done = 0
            with source.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    done += len(chunk)
                    if progress:
                        progress(done, size)
                    yield chunk

        params = {"overwrite": str(overwrite).lower(), "parents": str(parents).lower()}
        return self.request("PUT", f"/api/v1/content/{quoted(path)}", params=params, content=body(),
                            headers={"Content-Length": str(size)}).json()


def quoted(path: str) -> str:
    return quote(path.strip("/"), safe="/")


def _raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()["error"]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", response.text[:300] or response.reason_phrase
    raise ApiError(response.status_code, code, message)
