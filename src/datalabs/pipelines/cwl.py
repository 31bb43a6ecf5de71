"""CWL v1.2 documents, read by cwltool's own loader: validated, packed, and described for the UI.

``load_file(path)`` / ``load_text(text, filename)`` return a ``CwlDocument``: the packed document
(one self-contained JSON document, every ``run:`` inlined) plus what the catalogue, the run form
and the pipeline picture need (inputs, outputs, graph, catalogue steps used, environments,
Docker images). Errors are ``CwlError`` with the file, line, column and field of the problem.

Two extensions of ours, both plain CWL to other engines:

- a step may say ``run: catalogue:NAME`` or ``run: catalogue:NAME@VERSION``: before loading, the
  value is replaced (in the text, so every other line and column stays where it was) by the path
  of that catalogue entry's packed CWL, given by ``resolve_catalogue``;
- the hint ``{class: datalabs:Environment, datalab: NAME}`` (namespace ``DATALABS_NS``) names the
  datalab whose environment a step runs in; at workflow level it applies to every step.

Loading never reads outside the document's folder (and the catalogue files written for it) and
never fetches from the network: an uploaded document must not be able to ``$include`` a server file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from datalabs.errors import InvalidInput

DATALABS_NS = "https://datalabs.dev/cwl#"
ENVIRONMENT_HINT = DATALABS_NS + "Environment"
CATALOGUE_PREFIX = "catalogue:"
MAX_MESSAGE_LINES = 15
SCALAR_TYPES = ("File", "Directory", "string", "int", "long", "float", "double", "boolean", "Any")
CLASSES = ("CommandLineTool", "Workflow", "ExpressionTool")

# resolve_catalogue(name, version or None) -> the packed CWL file, or (that file, the version chosen)
CatalogueResolver = Callable[[str, str | None], "Path | tuple[Path, str]"]


class CwlError(InvalidInput):
    """A CWL document that cannot be loaded; the message starts with ``file:line:col:``."""

    code = "invalid_cwl"

    def __init__(self, message: str, *, file: str = "", line: int | None = None, column: int | None = None,
                 field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.file, self.line, self.column = file, line, column

    @property
    def problems(self) -> list:
        """One problem with its place, so the API error lists file, line and field like package errors."""
        from datalabs.catalogue.meta import Problem

        return [Problem(self.file, self.line, self.field, self.message)]


@dataclass
class CwlDocument:
    cwl_class: str
    cwl_version: str
    label: str
    doc: str
    packed: dict
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)
    graph: dict = field(default_factory=dict)
    uses: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)
    docker: list[dict] = field(default_factory=list)
    id: str = ""  # the document's own id (without file or '#'), "" when it has none
    keywords: list[str] = field(default_factory=list)  # schema.org keywords


# -- loading ---------------------------------------------------------------------------------

def load_text(text: str, filename: str = "pipeline.cwl", *,
              resolve_catalogue: CatalogueResolver | None = None) -> CwlDocument:
    """A document typed in the web editor: loaded from a temporary folder, errors against ``filename``."""
    name = os.path.basename(filename) or "pipeline.cwl"
    with tempfile.TemporaryDirectory(prefix="datalabs-cwl-") as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        return load_file(path, resolve_catalogue=resolve_catalogue)


def load_file(path: Path, *, resolve_catalogue: CatalogueResolver | None = None) -> CwlDocument:
    """Load and validate ``path`` (files it names must be in its folder) into a ``CwlDocument``."""
    path = Path(path).resolve()
    root = path.parent
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CwlError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})", file=path.name) from None
    except OSError as exc:
        raise CwlError(f"{path.name}: cannot be read ({exc.strerror})", file=path.name) from None
    with tempfile.TemporaryDirectory(prefix="datalabs-catalogue-steps-") as steps_dir:
        rewritten, uses = rewrite_catalogue_steps(text, path.name, Path(steps_dir), resolve_catalogue)
        target = path
        if rewritten != text:  # loaded beside the original so that relative `run:` paths still work
            target = root / f".{path.stem}.datalabs-{os.getpid()}{path.suffix}"
            target.write_text(rewritten, encoding="utf-8")
        try:
            document = _load(target, display=path.name, roots=(root, Path(steps_dir).resolve()), uses=uses)
        finally:
            if target != path:
                target.unlink(missing_ok=True)
    _in_source_order(document, text)
    return document


def _in_source_order(document: CwlDocument, text: str) -> None:
    """Inputs and outputs in the order the author wrote them (cwltool sorts a map's keys), for the run form."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        source = YAML(typ="rt").load(text)
    except YAMLError:
        return
    if not isinstance(source, dict):
        return
    for key in ("inputs", "outputs"):
        written = source.get(key)
        if isinstance(written, dict):
            order = [str(k) for k in written]
        elif isinstance(written, list):
            order = [str(item.get("id", "")).lstrip("#") for item in written if isinstance(item, dict)]
        else:
            continue
        rank = {name: index for index, name in enumerate(order)}
        items = getattr(document, key)
        items.sort(key=lambda item: rank.get(item["id"], len(rank)))
        document.graph[key] = [item["id"] for item in items]


def _load(path: Path, *, display: str, roots: tuple[Path, ...], uses: list[str]) -> CwlDocument:
    from cwltool.context import LoadingContext
    from cwltool.load_tool import fetch_document, make_tool, resolve_and_validate_document
    from cwltool.pack import pack
    from cwltool.workflow import default_make_tool

    context = LoadingContext({"fetcher_constructor": _confined_fetcher(roots), "do_update": True,
                              "construct_tool_object": default_make_tool})
    _quiet_cwltool()
    try:
        context, workflowobj, uri = fetch_document(str(path), context)
        if isinstance(workflowobj, dict) and "class" not in workflowobj and "$graph" not in workflowobj:
            raise CwlError(f"{display}:1:1: field 'class' is missing: say CommandLineTool, Workflow or "
                           "ExpressionTool", file=display, line=1, column=1, field="class")
        context, uri = resolve_and_validate_document(context, workflowobj, uri)
        process = make_tool(uri, context)
        packed = pack(context, uri)
    except CwlError:
        raise
    except Exception as exc:  # schema-salad's SchemaSaladException, cwltool's WorkflowException, and others
        raise cwl_error(str(exc), display, roots, loaded_name=path.name) from None
    packed = json.loads(json.dumps(packed, default=str))  # plain JSON (no ruamel types) for the database
    return describe(process, packed, uses)


def _quiet_cwltool() -> None:
    """cwltool logs every unknown hint (ours) as a warning; the user sees real problems as errors."""
    for name in ("cwltool", "salad"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _confined_fetcher(roots: tuple[Path, ...]):
    from schema_salad.exceptions import ValidationException
    from schema_salad.fetcher import DefaultFetcher

    class ConfinedFetcher(DefaultFetcher):
        """Reads local files inside ``roots`` only (symlinks resolved), and nothing from the network."""

        def _check(self, url: str) -> None:
            parsed = urlparse(url)
            if parsed.scheme != "file":
                raise ValidationException(f"only files beside the document can be used, not {url}")
            real = Path(unquote(parsed.path)).resolve()
            if not any(real == r or real.is_relative_to(r) for r in roots):
                raise ValidationException(f"{Path(parsed.path).name}: only files beside the document can be used")

        def fetch_text(self, url: str, content_types=None) -> str:
            self._check(url)
            return super().fetch_text(url, content_types)

        def check_exists(self, url: str) -> bool:
            try:
                self._check(url)  # never a network request, not even a HEAD
            except ValidationException:
                return False
            return super().check_exists(url)

    return ConfinedFetcher


# -- errors ----------------------------------------------------------------------------------

_LOCATION = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+):(?P<rest>.*)$")
_TEMP_STEP = re.compile(r"[^\s'\"(]*datalabs-catalogue-steps-[A-Za-z0-9_]+/")
_TEMP_DIR = re.compile(r"[^\s'\"(]*datalabs-(?:cwl|pipeline|steps)-[A-Za-z0-9_]+/")
_FIELD = re.compile(r"(?:invalid field|[Ff]ield|Missing) '([^']+)'")


def cwl_error(raw: str, display: str, roots: tuple[Path, ...], *, loaded_name: str | None = None) -> CwlError:
    """A ``CwlError`` from a schema-salad/cwltool message: temporary paths removed, kept short,
    and the place (line, column) and field of the innermost problem remembered."""
    text = _TEMP_STEP.sub("catalogue:", _TEMP_DIR.sub("", raw))
    for root in roots:  # the longest first: a plain path is inside the others
        for prefix in (f"file://{root}/", os.path.relpath(root) + "/", f"{root}/"):
            text = text.replace(prefix, "")
    if loaded_name and loaded_name != display:
        text = text.replace(loaded_name, display)
    lines = _reflow(text)
    message = "\n".join(lines[:MAX_MESSAGE_LINES]) + ("\n..." if len(lines) > MAX_MESSAGE_LINES else "")
    line_no = column = None
    for line in lines:
        found = _LOCATION.match(line)
        if found and found["file"] == display:
            line_no, column = int(found["line"]), int(found["col"])
    fields = _FIELD.findall(" ".join(text.split()))
    if not lines:
        message = f"{display}: cannot be loaded"
    elif not _LOCATION.match(lines[0]):
        message = f"{display}: {message}"
    return CwlError(message, file=display, line=line_no, column=column, field=fields[-1] if fields else None)


def _reflow(text: str) -> list[str]:
    """One line per located message: schema-salad wraps its lines to a width computed for the long
    temporary paths, so once those are gone the continuations are joined back."""
    lines: list[str] = []
    for line in text.strip().splitlines():
        if not line.strip():
            continue
        if lines and not _LOCATION.match(line):
            lines[-1] = f"{lines[-1]} {line.strip()}"
        else:
            lines.append(re.sub(r"(:\d+:\d+:)\s+", r"\1 ", line.rstrip()) if _LOCATION.match(line) else line.rstrip())
    return lines


# -- catalogue steps -------------------------------------------------------------------------

def rewrite_catalogue_steps(text: str, display: str, steps_dir: Path,
                            resolve: CatalogueResolver | None) -> tuple[str, list[str]]:
    """Replace each ``run: catalogue:NAME[@VERSION]`` by the path of that entry's CWL, in the text
    itself (other lines and columns unchanged); returns the new text and the ``NAME@VERSION`` used."""
    references = list(_catalogue_runs(text, display))
    if not references:
        return text, []
    if resolve is None:
        line, _, _, step = references[0]
        raise CwlError(f"{display}:{line + 1}: step '{step}' uses a catalogue step, which only works when "
                       "importing into the catalogue", file=display, line=line + 1, field="run")
    lines = text.splitlines(keepends=True)
    uses = []
    for line, column, value, step in sorted(references, key=lambda r: (r[0], -r[1])):
        name, _, version = value[len(CATALOGUE_PREFIX):].partition("@")
        where = f"{display}:{line + 1}:{column + 1}"
        try:
            found = resolve(name, version or None)
        except Exception as exc:  # NotFound and friends: said with the step and its line
            raise CwlError(f"{where}: step '{step}': no catalogue step {value[len(CATALOGUE_PREFIX):]!r} you may "
                           f"use ({getattr(exc, 'message', exc)})", file=display, line=line + 1, column=column + 1,
                           field="run") from None
        source, chosen = found if isinstance(found, tuple) else (found, version)
        target = steps_dir / f"{name}-{chosen or 'latest'}-{len(uses)}.cwl"  # no "@": it would be %-encoded
        target.write_text(json.dumps(inline_graph(_read_json(Path(source), where))), encoding="utf-8")
        reference = target.as_uri()
        lines[line] = _replace_scalar(lines[line], column, value, json.dumps(reference))
        uses.append(f"{name}@{chosen}" if chosen else name)
    return "".join(lines), sorted(set(uses))


def _read_json(path: Path, where: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise CwlError(f"{where}: the catalogue step cannot be read ({exc})", field="run") from None


def inline_graph(packed: dict) -> dict:
    """One nested document from a packed ``$graph`` one: each ``run: "#id"`` replaced by that process.

    cwltool cannot pack a workflow whose step runs ``other.cwl#main`` of a packed file, but packs a
    nested document well; the result is the same process."""
    if "$graph" not in packed:
        return packed
    processes = {entry.get("id"): entry for entry in packed["$graph"] if isinstance(entry, dict)}

    def expand(process: dict, seen: tuple[str, ...]) -> dict:
        process = dict(process)
        if isinstance(process.get("steps"), list):
            steps = []
            for step in process["steps"]:
                step = dict(step)
                run = step.get("run")
                if isinstance(run, str) and run in processes and run not in seen:
                    step["run"] = expand(processes[run], (*seen, run))
                steps.append(step)
            process["steps"] = steps
        return process

    main = expand(processes.get("#main") or packed["$graph"][0], ("#main",))
    for key in ("cwlVersion", "$namespaces", "$schemas"):
        if key in packed:
            main[key] = packed[key]
    return main


def _replace_scalar(line: str, column: int, value: str, replacement: str) -> str:
    token = re.compile(r"""(["']?)""" + re.escape(value) + r"\1")
    found = token.match(line, column)
    if found is None:  # pragma: no cover - the YAML parser told us where the value is
        return line
    return line[:column] + replacement + line[found.end():]


def _catalogue_runs(text: str, display: str):
    """(line, column, value, step id) of every ``run: catalogue:...`` (inline workflows included)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    if CATALOGUE_PREFIX not in text:
        return
    try:
        document = YAML(typ="rt").load(text)
    except YAMLError:
        return  # cwltool reports the syntax error, with its place
    yield from _runs_in(document)


def _runs_in(process):
    if not isinstance(process, dict):
        return
    steps = process.get("steps")
    items = steps.items() if isinstance(steps, dict) else (
        ((s.get("id", "?"), s) for s in steps if isinstance(s, dict)) if isinstance(steps, list) else ())
    for step_id, step in items:
        if not isinstance(step, dict):
            continue
        run = step.get("run")
        if isinstance(run, str) and run.startswith(CATALOGUE_PREFIX) and hasattr(step, "lc"):
            line, column = step.lc.value("run")
            yield line, column, run, str(step_id)
        elif isinstance(run, dict):
            yield from _runs_in(run)


# -- describing the loaded process -----------------------------------------------------------

def describe(process, packed: dict, uses: list[str]) -> CwlDocument:
    tool = process.tool
    base = _fragment(tool.get("id", ""))
    cwl_class = tool.get("class", "")
    if cwl_class not in CLASSES:
        raise CwlError(f"class {cwl_class!r} cannot be run here: use {', '.join(CLASSES)}", field="class")
    workflow_env = _environment_of(tool)
    steps = [_describe_step(step, base, workflow_env) for step in getattr(process, "steps", [])]
    if cwl_class != "Workflow":
        steps = [{"id": base.rsplit("/", 1)[-1] or "main", "label": tool.get("label") or "",
                  "run_class": cwl_class, "scatter": [], "in": [], "environment": workflow_env}]
    inputs = [describe_input(item, base) for item in tool.get("inputs", [])]
    outputs = [_describe_output(item, base) for item in tool.get("outputs", [])]
    environments = sorted({s["environment"] for s in steps if s["environment"]})
    return CwlDocument(
        cwl_class=cwl_class, cwl_version=str(packed.get("cwlVersion") or tool.get("cwlVersion") or "v1.2"),
        label=str(tool.get("label") or ""), doc=_text(tool.get("doc")), packed=packed,
        inputs=inputs, outputs=outputs, graph=_graph(tool, steps, inputs, outputs, base), uses=uses,
        environments=environments, docker=_docker(process, base, workflow_env),
        id=base.rsplit("/", 1)[-1] if base not in ("", "main") else "", keywords=_keywords(tool))


def _describe_step(step, base: str, workflow_env: str | None) -> dict:
    step_id = _local(step.id, base)
    embedded = step.embedded_tool.tool
    scatter = step.tool.get("scatter") or []
    scatter = [scatter] if isinstance(scatter, str) else list(scatter)
    sources = []
    for item in step.tool.get("inputs", []):
        source = item.get("source")
        for one in [source] if isinstance(source, str) else (source or []):
            sources.append(_local(one, base))
    environment = _environment_of(step.tool) or _environment_of(embedded) or workflow_env
    return {"id": step_id, "label": str(step.tool.get("label") or embedded.get("label") or ""),
            "run_class": embedded.get("class", ""), "scatter": [_local(s, base).rsplit("/", 1)[-1] for s in scatter],
            "in": sources, "environment": environment, "_inputs": step.tool.get("inputs", [])}


def _graph(tool: dict, steps: list[dict], inputs: list[dict], outputs: list[dict], base: str) -> dict:
    edges = []
    step_ids = {s["id"] for s in steps}
    if tool.get("class") == "Workflow":
        for step in steps:
            for source in step["in"]:
                edges.append({"from": _node(source, step_ids), "to": f"step:{step['id']}"})
        for item in tool.get("outputs", []):
            source = item.get("outputSource")
            for one in [source] if isinstance(source, str) else (source or []):
                edges.append({"from": _node(_local(one, base), step_ids), "to": f"output:{_local(item['id'], base)}"})
    else:
        only = steps[0]["id"]
        edges += [{"from": f"input:{i['id']}", "to": f"step:{only}"} for i in inputs]
        edges += [{"from": f"step:{only}/{o['id']}", "to": f"output:{o['id']}"} for o in outputs]
    for step in steps:
        step.pop("_inputs", None)
    return {"inputs": [i["id"] for i in inputs], "outputs": [o["id"] for o in outputs], "steps": steps,
            "edges": edges}


def _node(source: str, step_ids: set[str]) -> str:
    head = source.split("/", 1)[0]
    return f"step:{source}" if "/" in source and head in step_ids else f"input:{source}"


def describe_input(item: dict, base: str) -> dict:
    """One input as the run form and the run service use it (see the module docstring of pipelines.runs)."""
    described = {"id": _local(item["id"], base).rsplit("/", 1)[-1], "label": str(item.get("label") or ""),
                 "doc": _text(item.get("doc"))}
    described.update(type_info(item.get("type"), item["id"]))
    described["default"] = item.get("default")
    described["format"] = _format(item.get("format"))
    return described


def _describe_output(item: dict, base: str) -> dict:
    described = {"id": _local(item["id"], base).rsplit("/", 1)[-1], "label": str(item.get("label") or ""),
                 "doc": _text(item.get("doc"))}
    info = type_info(item.get("type"), item["id"])
    described["type"] = info["type"]
    if "items" in info:
        described["items"] = info["items"]
    return described


def type_info(cwl_type, owner: str = "") -> dict:
    """{"type", "optional", and "items" (arrays) or "symbols" (enums)} of a loaded CWL type."""
    optional = False
    if isinstance(cwl_type, list):
        optional = "null" in cwl_type
        others = [t for t in cwl_type if t != "null"]
        cwl_type = others[0] if len(others) == 1 else "Any"
    info: dict = {"optional": optional}
    if isinstance(cwl_type, dict):
        kind = cwl_type.get("type")
        if kind == "array":
            inner = type_info(cwl_type.get("items"), owner)
            inner.pop("optional", None)
            info.update(type="array", items=inner)
        elif kind == "enum":
            info.update(type="enum", symbols=[_symbol(s, owner) for s in cwl_type.get("symbols", [])])
        elif kind == "record":
            info["type"] = "record"
        else:
            info["type"] = "Any"
    elif isinstance(cwl_type, str) and cwl_type in SCALAR_TYPES:
        info["type"] = cwl_type
    elif cwl_type in ("stdout", "stderr"):
        info["type"] = "File"
    else:
        info["type"] = "Any"
    return {"type": info["type"], **{k: v for k, v in info.items() if k != "type"}}


def _symbol(symbol: str, owner: str) -> str:
    if owner and symbol.startswith(owner + "/"):
        return symbol[len(owner) + 1:]
    return _fragment(symbol).rsplit("/", 1)[-1]


def _format(value) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value else None


def _environment_of(process: dict) -> str | None:
    for hint in list(process.get("hints") or []) + list(process.get("requirements") or []):
        if isinstance(hint, dict) and hint.get("class") in (ENVIRONMENT_HINT, "datalabs:Environment"):
            name = hint.get("datalab")
            if isinstance(name, str) and name:
                return name
    return None


def _docker(process, base: str, workflow_env: str | None) -> list[dict]:
    found = []
    tools = [(_local(step.id, base), step.embedded_tool, step) for step in getattr(process, "steps", [])]
    if not tools:
        tools = [(base.rsplit("/", 1)[-1] or "main", process, None)]
    for name, tool, step in tools:
        if getattr(tool, "steps", None):  # a nested workflow: its own steps
            found += _docker(tool, _fragment(tool.tool.get("id", "")), workflow_env)
            continue
        fallback = (_environment_of(step.tool) if step is not None else None) or _environment_of(tool.tool) \
            or workflow_env
        for required, section in ((True, "requirements"), (False, "hints")):
            for entry in tool.tool.get(section) or []:
                if isinstance(entry, dict) and entry.get("class") == "DockerRequirement":
                    image = entry.get("dockerPull") or entry.get("dockerImageId") or ""
                    found.append({"step": name, "image": image, "required": required, "fallback": fallback})
    return found


def _keywords(tool: dict) -> list[str]:
    for key in ("https://schema.org/keywords", "http://schema.org/keywords", "s:keywords"):
        value = tool.get(key)
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        if isinstance(value, list):
            return [str(k) for k in value if str(k).strip()]
    return []


def _text(value) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value or "")


def _fragment(uri: str) -> str:
    return uri.split("#", 1)[1] if "#" in uri else ""


def _local(uri: str, base: str) -> str:
    """An id as the user wrote it: without the file, '#', and the process's own id."""
    fragment = _fragment(uri) if "#" in uri else uri
    if base and fragment.startswith(base + "/"):
        fragment = fragment[len(base) + 1:]
    return fragment
