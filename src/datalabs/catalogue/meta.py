"""``datalab-meta.yml``: the ESA Datalabs metadata file, read with the line of every key.

ESA packages write nested keys either flat and dotted (``contactPoint.email: x``) or nested
(``contactPoint: {email: x}``); both become the same flat dotted key here. Every value is read
as text (YAML's own typing would turn ``version: 1.10`` into ``1.1``). Keys we do not know are
kept, never rejected. Problems are reported with file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from datalabs.errors import InvalidInput

META_FILE = "datalab-meta.yml"
MANDATORY = ("title", "alternateName", "abstract", "distribution.license")
RECOMMENDED = ("description", "creator.name", "instrument", "mission", "thumbnailUrl", "version")
OPTIONAL = ("contactPoint.email", "contactPoint.organisation-name", "keywords", "citation", "funder",
            "doi.notation", "language", "domain", "audienceType", "associatedFileType", "requiredDataset")
LIST_FIELDS = ("keywords", "requiredDataset", "associatedFileType", "audienceType")
EMPTY_WORDS = {"", "none", "null", "n/a", "na", "-", "tbd"}
OUR_SECTIONS = ("runtime",)  # sections of ours, validated elsewhere; never flattened


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class PackageInvalid(InvalidInput):
    """A datalab package that cannot be imported; ``problems`` says every reason, with its place."""

    code = "invalid_package"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(str(first) + more, field=first.field)


@dataclass(frozen=True)
class Meta:
    """The flattened metadata: dotted key -> text or list of texts, in file order."""

    values: dict[str, object]
    lines: dict[str, int]
    sections: dict[str, object]  # our own sections (e.g. runtime), as parsed YAML (all text)
    section_lines: dict[str, int]

    def text(self, key: str) -> str | None:
        """A scalar field, or None when absent or written as 'None', 'N/A', ''."""
        value = self.values.get(key)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if value is None or str(value).strip().lower() in EMPTY_WORDS:
            return None
        return str(value).strip()

    def texts(self, key: str) -> list[str]:
        """A list field: a YAML list, or one text with commas."""
        value = self.values.get(key)
        items = value if isinstance(value, list) else ([] if value is None else str(value).split(","))
        return [str(i).strip() for i in items if str(i).strip().lower() not in EMPTY_WORDS]


def parse_meta(text: str, file: str = META_FILE) -> Meta:
    try:
        root = yaml.compose(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        raise PackageInvalid([Problem(file, mark.line + 1 if mark else None, None,
                                      f"not valid YAML: {reason}")]) from None
    if root is None:
        raise PackageInvalid([Problem(file, None, None, "the file is empty")])
    if not isinstance(root, yaml.MappingNode):
        raise PackageInvalid([Problem(file, root.start_mark.line + 1, None,
                                      "the file must be a mapping of 'key: value' lines")])
    values: dict[str, object] = {}
    lines: dict[str, int] = {}
    sections: dict[str, object] = {}
    section_lines: dict[str, int] = {}
    problems: list[Problem] = []

    def walk(node: yaml.MappingNode, prefix: str) -> None:
        for key_node, value_node in node.value:
            key = f"{prefix}{key_node.value}"
            line = key_node.start_mark.line + 1
            if not prefix and key in OUR_SECTIONS:
                sections[key] = _plain(value_node)
                section_lines[key] = line
                continue
            if isinstance(value_node, yaml.MappingNode):
                walk(value_node, f"{key}.")
                continue
            if key in values:
                problems.append(Problem(file, line, key, f"given twice (first on line {lines[key]})"))
                continue
            values[key] = _plain(value_node)
            lines[key] = line

    walk(root, "")
    if problems:
        raise PackageInvalid(problems)
    return Meta(values, lines, sections, section_lines)


def check_fields(meta: Meta, file: str = META_FILE) -> list[Problem]:
    """Mandatory fields present and not empty; scalar fields not lists or mappings."""
    problems = []
    for key in MANDATORY:
        # Present and written counts, even as 'None': real ESA packages say `distribution.license: None`.
        if key not in meta.values:
            problems.append(Problem(file, None, key, "is mandatory"))
        elif not str(meta.values[key]).strip():
            problems.append(Problem(file, meta.lines.get(key), key, "is mandatory and may not be empty"))
    for key in (*MANDATORY, *RECOMMENDED, *OPTIONAL):
        if key in LIST_FIELDS or key not in meta.values:
            continue
        if isinstance(meta.values[key], list):
            problems.append(Problem(file, meta.lines[key], key, "must be a single text, not a list"))
    return problems


def _plain(node: yaml.Node) -> object:
    """A YAML node as plain Python: text, list or dict (BaseLoader semantics: every scalar is text)."""
    if isinstance(node, yaml.ScalarNode):
        return node.value
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item) for item in node.value]
    return {key.value: _plain(value) for key, value in node.value}
