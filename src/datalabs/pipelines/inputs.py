"""From what a user gives a run (platform paths, scalars) to cwltool's job order, checked.

Inputs are named by the pipeline's CWL input ids. Files and folders are platform paths, as the
files API shows them (``my_workspace/...``, ``team_workspaces/<team>/...``, ``data/<volume>/...``),
given as a string or as a CWL object ``{"class": "File", "path": ...}``. Each is looked up as the
user, through the same rules as the files API (no ``..``, no link that leads outside, embargoed
volumes and other people's workspaces invisible), so a run can never read what its user cannot.
Every error names the input and says what was expected.
"""

from __future__ import annotations

from collections.abc import Callable

from datalabs.errors import InvalidInput, NotFound

NUMBER_TYPES = {"int": int, "long": int, "float": (int, float), "double": (int, float)}
LocatePath = Callable[[str], tuple[str, str]]  # platform path -> (host path, "file" | "directory")


def resolve_inputs(fields: list[dict], given: dict, locate: LocatePath) -> dict:
    """The job order for cwltool. Raises :class:`InvalidInput` naming the input at fault."""
    if not isinstance(given, dict):
        raise InvalidInput("inputs must be an object: input name -> value", field="inputs")
    known = {f["id"]: f for f in fields}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise InvalidInput(f"unknown input {unknown[0]!r}; this pipeline's inputs are: "
                           f"{', '.join(sorted(known)) or 'none'}", field=f"inputs.{unknown[0]}")
    job: dict = {}
    for name, spec in known.items():
        value = given.get(name)
        if value is None or value == "":
            if spec.get("default") is not None or spec.get("optional"):
                continue  # cwltool applies the default
            raise InvalidInput(f"missing required input {name!r} ({_describe(spec)})", field=f"inputs.{name}")
        job[name] = _convert(name, spec, value, locate)
    return job


def _describe(spec: dict) -> str:
    kind = spec.get("type", "Any")
    if kind == "array":
        return f"a list of {_describe(spec.get('items') or {'type': 'Any'})}"
    if kind == "enum":
        return "one of " + ", ".join(spec.get("symbols", []))
    return kind


def _convert(name: str, spec: dict, value, locate: LocatePath):
    kind = spec.get("type", "Any")
    where = f"inputs.{name}"
    if kind in ("File", "Directory"):
        return _path_input(name, kind, value, locate)
    if kind == "array":
        if not isinstance(value, list):
            raise InvalidInput(f"input {name!r} must be {_describe(spec)}, not {type(value).__name__}", field=where)
        item = spec.get("items") or {"type": "Any"}
        return [_convert(f"{name}[{i}]", item, element, locate) for i, element in enumerate(value)]
    if kind == "boolean":
        if not isinstance(value, bool):
            raise InvalidInput(f"input {name!r} must be true or false, not {value!r}", field=where)
        return value
    if kind in NUMBER_TYPES:
        if isinstance(value, bool) or not isinstance(value, NUMBER_TYPES[kind]):
            if isinstance(value, str):
                try:
                    return int(value) if kind in ("int", "long") else float(value)
                except ValueError:
                    pass
            raise InvalidInput(f"input {name!r} must be a{'n' if kind == 'int' else ''} {kind}, not {value!r}",
                               field=where)
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise InvalidInput(f"input {name!r} must be a string, not {value!r}", field=where)
        return value
    if kind == "enum":
        if value not in spec.get("symbols", []):
            raise InvalidInput(f"input {name!r} must be {_describe(spec)}, not {value!r}", field=where)
        return value
    _refuse_paths_in(name, value)
    return value  # record, Any: cwltool checks the rest


def _refuse_paths_in(name: str, value) -> None:
    """Records and Any may hold no File or Directory: those must go through the checked path lookup."""
    if isinstance(value, dict):
        if value.get("class") in ("File", "Directory"):
            raise InvalidInput(f"input {name!r}: files and folders are only accepted where the pipeline "
                               "declares a File or Directory input", field=f"inputs.{name}")
        for item in value.values():
            _refuse_paths_in(name, item)
    elif isinstance(value, list):
        for item in value:
            _refuse_paths_in(name, item)


def _path_input(name: str, kind: str, value, locate: LocatePath) -> dict:
    if isinstance(value, dict):
        if value.get("class", kind) != kind:
            raise InvalidInput(f"input {name!r} must be a {kind}, not a {value.get('class')}", field=f"inputs.{name}")
        path = value.get("path") or value.get("location")
    else:
        path = value
    if not isinstance(path, str) or not path:
        raise InvalidInput(f"input {name!r} must be the path of a {kind.lower()} "
                           "(my_workspace/..., team_workspaces/<team>/... or data/<volume>/...)", field=f"inputs.{name}")
    try:
        host, found = locate(path)
    except NotFound as error:
        raise NotFound(f"input {name!r}: {error.message}", field=f"inputs.{name}") from None
    wanted = "file" if kind == "File" else "directory"
    if found != wanted:
        raise InvalidInput(f"input {name!r} must be a {wanted}, and {path} is {'a folder' if found == 'directory' else 'a ' + found}",
                           field=f"inputs.{name}")
    return {"class": kind, "path": host}
