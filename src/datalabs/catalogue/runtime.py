"""Our own ``runtime:`` section of ``datalab-meta.yml``: how a datalab runs.

A package without it (as every ESA package today) is a JupyterLab datalab: its requirements go
on top of the standard lab environment. Example::

    runtime:
      kind: web                       # web | desktop | jupyterlab
      command: [myapp, --port, "{port}", --base-url, "{base_url}"]
      health_path: /api/status        # relative to the base URL; 200 means ready
      cpu: {default: 1, max: 4}
      memory: {default: 2G, max: 8G}
      environment: requirements.txt   # built into a Python environment; "none" for none
      host_packages: [topcat]         # Debian packages the host must have
      image: ghcr.io/example/app:1.0  # for container backends
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from datalabs.catalogue.meta import META_FILE, Meta, Problem
from datalabs.sizes import parse_size

KINDS = ("jupyterlab", "web", "desktop")
PLACEHOLDERS = ("{port}", "{base_url}")
_DEBIAN_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
KNOWN_KEYS = {"kind", "command", "health_path", "cpu", "memory", "environment", "host_packages", "image"}


@dataclass(frozen=True)
class Runtime:
    kind: str = "jupyterlab"
    command: tuple[str, ...] = ()
    health_path: str = "/"
    cpu_default: float = 1.0
    cpu_max: float = 4.0
    memory_default: int = 2 * 1024**3
    memory_max: int = 8 * 1024**3
    environment: str | None = "requirements.txt"
    host_packages: tuple[str, ...] = ()
    image: str | None = None
    extra: dict = field(default_factory=dict)  # keys of a newer platform: kept, not used

    def command_for(self, port: int, base_url: str) -> list[str]:
        return [part.replace("{port}", str(port)).replace("{base_url}", base_url) for part in self.command]


def parse_runtime(meta: Meta, file: str = META_FILE) -> tuple[Runtime, list[Problem]]:
    section = meta.sections.get("runtime")
    line = meta.section_lines.get("runtime")
    if section is None:
        return Runtime(), []
    problems: list[Problem] = []

    def problem(key: str, message: str) -> None:
        problems.append(Problem(file, line, f"runtime.{key}" if key else "runtime", message))

    if not isinstance(section, dict):
        problem("", "must be a mapping (kind, command, ...)")
        return Runtime(), problems
    values: dict = {}
    kind = section.get("kind", "jupyterlab")
    if kind not in KINDS:
        problem("kind", f"must be one of {', '.join(KINDS)}, not {kind!r}")
    values["kind"] = kind if kind in KINDS else "jupyterlab"

    values["command"] = _command(section.get("command"), values["kind"], problem)

    if "health_path" in section:
        health = section["health_path"]
        if not isinstance(health, str) or not health.startswith("/"):
            problem("health_path", "must be a path starting with '/'")
        else:
            values["health_path"] = health

    values.update(_limits(section, problem))

    if "environment" in section:
        environment = section["environment"]
        if not isinstance(environment, str):
            problem("environment", "must be the name of a requirements file in the package, or 'none'")
        else:
            values["environment"] = None if environment.lower() in ("none", "") else environment

    packages = section.get("host_packages", [])
    if isinstance(packages, str):
        packages = [packages]
    if not isinstance(packages, list) or not all(isinstance(p, str) and _DEBIAN_PACKAGE.match(p) for p in packages):
        problem("host_packages", "must be a list of Debian package names")
    else:
        values["host_packages"] = tuple(packages)

    if "image" in section:
        if not isinstance(section["image"], str) or not section["image"].strip():
            problem("image", "must be a container image reference")
        else:
            values["image"] = section["image"].strip()
    values["extra"] = {k: v for k, v in section.items() if k not in KNOWN_KEYS}
    return Runtime(**values), problems


def _command(command, kind: str, problem) -> tuple[str, ...]:
    if isinstance(command, str):
        command = command.split()
    if command is not None and (not isinstance(command, list) or not all(isinstance(c, str) for c in command)):
        problem("command", "must be a command line: a text or a list of texts")
        command = None
    if kind in ("web", "desktop") and not command:
        problem("command", f"is needed for a {kind} datalab")
    if kind == "web" and command and not any("{port}" in part for part in command):
        problem("command", "must contain {port}: the platform chooses the port the app listens on")
    return tuple(command or ())


def _limits(section: dict, problem) -> dict:
    """``cpu`` and ``memory``: default and max, each checked."""
    values: dict = {}
    for key, parse, minimum in (("cpu", float, 0.1), ("memory", parse_size, 64 * 1024**2)):
        given = section.get(key)
        if given is None:
            continue
        if not isinstance(given, dict) or not set(given) <= {"default", "max"}:
            problem(key, "must be a mapping with 'default' and/or 'max'")
            continue
        try:
            parsed = {name: parse(value) for name, value in given.items()}
        except (TypeError, ValueError):
            problem(key, f"'default' and 'max' must be {'numbers' if key == 'cpu' else 'sizes such as 2G'}")
            continue
        default = parsed.get("default", getattr(Runtime, f"{key}_default"))
        most = parsed.get("max", max(default, getattr(Runtime, f"{key}_max")))
        if default < minimum:
            problem(key, f"'default' is too small (at least {minimum})")
        elif default > most:
            problem(key, "'default' is larger than 'max'")
        values[f"{key}_default"], values[f"{key}_max"] = default, most
    return values
