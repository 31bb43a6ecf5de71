"""Archive metadata service: every PDS3/PDS4 label attribute of a volume, indexed and queryable.

For notebooks, this package is also the client: ``from datalabs import archive; archive.query(ADQL)``,
``archive.search(q)``, ``archive.product(key)``, ``archive.Archive(url, token)`` (see client.py).
"""

from datalabs.archive.client import Archive, ArchiveError, product, query, search

__all__ = ["Archive", "ArchiveError", "product", "query", "search"]
