"""Who may write which field of a datalab, as in the ESA discovery metadata table.

Descriptive fields are the developer's (they come from datalab-meta.yml); publication state and
the "official" flag are moderators'; platform fields are set by the application only.
A package that tries to set a moderator or platform field in its datalab-meta.yml is refused.
"""

from __future__ import annotations

from datalabs.catalogue.meta import META_FILE, Meta, Problem

DESCRIPTIVE = ("title", "abstract", "description", "mission", "instrument", "keywords")
MODERATOR_FIELDS = {"official", "publicationState", "publication.state", "state", "approved", "published"}
PLATFORM_FIELDS = {"platformVersion", "platform.version", "imageId", "image.id", "environmentId",
                   "dateCreated", "datePublished", "dateModified", "identifier", "id"}


def forbidden_meta_fields(meta: Meta, file: str = META_FILE) -> list[Problem]:
    problems = []
    for key, line in meta.lines.items():
        if key in MODERATOR_FIELDS:
            problems.append(Problem(file, line, key, "is set by moderators, not in the package"))
        elif key in PLATFORM_FIELDS:
            problems.append(Problem(file, line, key, "is set by the platform and can never be set by a user"))
    return problems
