"""A small client for notebooks: ADQL and ``q=`` queries answered as pandas DataFrames, each product with its
``datalabs_path`` ready for ``pdr.read``.

    from datalabs import archive
    osiris = archive.query("SELECT * FROM mapped.osiris WHERE distance < 50")
    mars = archive.search('(TARGET_NAME eq "MARS")', fields=["PRODUCT_ID", "START_TIME"])
    import pdr; data = pdr.read(osiris.datalabs_path[0])

Where: inside a datalab session nothing needs setting (the session has ``DATALABS_URL``, ``DATALABS_TOKEN`` and
``DATALABS_API_SOCKET``, a socket to the platform, as its network is closed); outside, set ``DATALABS_URL``
(default http://127.0.0.1:8000) and ``DATALABS_TOKEN`` (an API token: `datalabs token create`), or use
``archive.Archive(url, token)``.
"""

from __future__ import annotations

import io
import os

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


class ArchiveError(Exception):
    """The service refused the query; the message says why (for ADQL: where)."""


class Archive:
    def __init__(self, url: str | None = None, token: str | None = None, *, socket: str | None = None,
                 timeout: float = 600) -> None:
        self.url = (url or os.environ.get("DATALABS_URL") or DEFAULT_URL).rstrip("/")
        token = token or os.environ.get("DATALABS_TOKEN")
        socket = socket or (os.environ.get("DATALABS_API_SOCKET") if url is None else None)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.HTTPTransport(uds=socket) if socket else None
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def query(self, adql: str, *, maxrec: int | None = None):
        """Run ADQL on the TAP service (synchronously) and return a DataFrame."""
        import pandas

        data = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": adql, "FORMAT": "csv"}
        if maxrec is not None:
            data["MAXREC"] = str(maxrec)
        response = self.http.post("/tap/sync", data=data)
        if response.status_code >= 400 or response.headers.get("content-type", "").startswith(("text/xml",
                                                                                                 "application/x-votable")):
            raise ArchiveError(_votable_error(response.text) or f"HTTP {response.status_code}: {response.text[:500]}")
        return pandas.read_csv(io.StringIO(response.text))

    def search(self, q: str = "", *, fields: list[str] | None = None, volume: str | None = None,
               limit: int | None = None, page_size: int = 1000):
        """Products matching a PDS Search API ``q=`` query, every page, as a DataFrame (one row per product:
        core columns and the attributes asked for, or all of them)."""
        import pandas

        rows: list[dict] = []
        after = None
        while limit is None or len(rows) < limit:
            size = page_size if limit is None else min(page_size, limit - len(rows))
            params = {"q": q, "limit": str(size)}
            if fields:
                params["fields"] = ",".join(fields)
            if volume:
                params["volume"] = volume
            if after:
                params["search-after"] = ",".join(after)
            body = self._get("/api/v1/archive/products", params)
            for item in body["data"]:
                properties = item.pop("properties", {})
                rows.append({**item, **properties})
            after = body["summary"]["search_after"]
            if not after or not body["data"]:
                break
        return pandas.DataFrame(rows)

    def product(self, key: str | int) -> dict:
        """One product with every label attribute, units and files."""
        return self._get(f"/api/v1/archive/products/{key}", {})

    def _get(self, path: str, params: dict) -> dict:
        response = self.http.get(path, params=params)
        if response.status_code >= 400:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text
            raise ArchiveError(f"HTTP {response.status_code}: {message}")
        return response.json()


def _votable_error(text: str) -> str | None:
    import re

    found = re.search(r'<INFO[^>]*name="QUERY_STATUS"[^>]*value="ERROR"[^>]*>(.*?)</INFO>', text, re.S)
    return found.group(1).strip() if found else None


_default: Archive | None = None


def _archive() -> Archive:
    global _default
    if _default is None:
        _default = Archive()
    return _default


def query(adql: str, *, maxrec: int | None = None):
    return _archive().query(adql, maxrec=maxrec)


def search(q: str = "", **options):
    return _archive().search(q, **options)


def product(key: str | int) -> dict:
    return _archive().product(key)
