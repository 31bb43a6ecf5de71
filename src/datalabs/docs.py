"""Reference pages generated from the code: every setting, API route and CLI command.

``datalabs docs`` writes them into ``docs/``; a test fails when they are out of step.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from datalabs.settings import settings_markdown

METHOD_ORDER = ["get", "head", "post", "put", "patch", "delete"]


def api_markdown() -> str:
    from datalabs.app import create_app
    from datalabs.db import migrate
    from datalabs.settings import Settings

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder), database_url=None, secret_key="docs")
        migrate.upgrade(settings)
        spec = create_app(settings).openapi()
    lines = [
        "# REST API reference",
        "",
        "Generated from the OpenAPI document (`/api/openapi.json`; interactive at `/api/docs`) by",
        "`datalabs docs`. Authenticate with `Authorization: Bearer <token>`; from the web UI the login",
        "cookie plus an `X-CSRF-Token` header is used. Errors are JSON:",
        '`{"error": {"code": "...", "message": "...", "field": "..."}}`.',
        "",
        "File paths are virtual: `my_workspace/...`, `team_workspaces/<team>/...`, `data/<volume>/...`.",
        "",
    ]
    by_tag: dict[str, list[tuple[str, str, dict]]] = {}
    for path, operations in spec["paths"].items():
        for method in sorted(operations, key=METHOD_ORDER.index):
            operation = operations[method]
            by_tag.setdefault((operation.get("tags") or ["other"])[0], []).append((method, path, operation))
    for tag, routes in by_tag.items():
        lines += [f"## {tag}", ""]
        for method, path, operation in routes:
            lines.append(f"### `{method.upper()} {path}`")
            lines.append("")
            lines.append(operation.get("summary", ""))
            lines.append("")
            params = [p for p in operation.get("parameters", []) if p["in"] in ("query", "path")]
            if params:
                for param in params:
                    where = "path" if param["in"] == "path" else "query"
                    description = param.get("description") or param.get("schema", {}).get("description", "")
                    lines.append(f"- `{param['name']}` ({where}){': ' + description if description else ''}")
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body:
                lines.append(f"- body: `{body.get('$ref', '').rsplit('/', 1)[-1] or 'JSON'}` "
                             "(see the schema in `/api/docs`)")
            statuses = ", ".join(code for code in operation.get("responses", {}) if code != "422")
            lines += [f"- responds: {statuses}", ""]
    return "\n".join(lines).rstrip() + "\n"


def cli_markdown() -> str:
    from datalabs.cli import main

    lines = ["# Command-line reference", "", "Generated from the commands' own `--help` by `datalabs docs`.", ""]

    def walk(command: click.Command, prefix: str) -> None:
        ctx = click.Context(command, info_name=prefix, terminal_width=100, max_content_width=100,
                            help_option_names=["-h", "--help"])
        if prefix != "datalabs":
            lines.extend([f"## `{prefix}`", "", "```", command.get_help(ctx).replace("\x08", ""), "```", ""])
        if isinstance(command, click.Group):
            for name in sorted(command.list_commands(ctx)):
                walk(command.get_command(ctx, name), f"{prefix} {name}")

    walk(main, "datalabs")
    return "\n".join(lines).rstrip() + "\n"


def pages() -> dict[str, str]:
    return {"settings.md": settings_markdown(), "api.md": api_markdown(), "cli.md": cli_markdown()}


def write(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in pages().items():
        target = folder / name
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            changed.append(name)
    return changed
