"""``datalabs pipeline run|runs|logs|cancel``: pipeline runs on a running server, through the REST API."""

from __future__ import annotations

import json
import time

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from datalabs.client import Client, quoted
from datalabs.pipeline_cli import pipeline
from datalabs.remote_cli import remote_command

console = Console()
ENDED = ("completed", "failed", "stopped")


def _parse_inputs(pairs: tuple[str, ...], inputs_file) -> dict:
    """``name=value`` pairs (values parsed as JSON when they are, else strings) over an optional JSON file."""
    inputs = json.load(inputs_file) if inputs_file else {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r}: use NAME=VALUE", param_hint="--input")
        try:
            inputs[name] = json.loads(value)
        except ValueError:
            inputs[name] = value
    return inputs


def _show_run(data: dict) -> None:
    console.print(f"[bold]{data['id']}[/bold] {data['pipeline']} {data['version']}: {data['state']}"
                  + (f" ({data['reason']})" if data.get("reason") else ""))
    for step in data.get("steps", []):
        console.print(f"  {step['step']}: {step['state']} {step['done']}/{step['total']}"
                      + (f", {step['failed']} failed" if step["failed"] else ""))
    if data["state"] == "completed":
        console.print(f"outputs in {data['output_path']}")


def _follow(client: Client, run_id: str) -> dict:
    """Progress bars per step until the run ends (Ctrl-C stops watching, not the run)."""
    bars: dict[str, int] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        while True:
            data = client.get(f"/api/v1/runs/{quoted(run_id)}")
            for step in data["steps"]:
                if step["step"] not in bars:
                    bars[step["step"]] = progress.add_task(step["step"], total=step["total"] or None)
                progress.update(bars[step["step"]], completed=step["done"] + step["failed"],
                                total=step["total"] or None)
            if data["state"] in ENDED:
                return data
            time.sleep(0.5)


@pipeline.command("run")
@click.argument("name")
@click.option("--version", default=None, help="Version to run (default: the latest published).")
@click.option("--input", "-i", "pairs", multiple=True, metavar="NAME=VALUE",
              help="An input; files are platform paths (my_workspace/..., data/<volume>/...). Repeatable.")
@click.option("--inputs", "inputs_file", type=click.File("r"), default=None, help="A JSON file of inputs.")
@click.option("--team", default=None, help="Write the outputs to this team's workspace.")
@click.option("--cpu", type=float, default=None, help="CPUs the steps may use at once (default: your quota).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the run with progress bars.")
@remote_command
def pipeline_run(client: Client, name: str, version, pairs, inputs_file, team, cpu, wait):
    """Run pipeline NAME with the given inputs."""
    body = {"version": version, "inputs": _parse_inputs(pairs, inputs_file), "team": team, "cpu": cpu}
    run = client.request("POST", f"/api/v1/pipelines/{quoted(name)}/runs", json=body).json()
    console.print(f"run {run['id']} accepted")
    if wait:
        run = _follow(client, run["id"])
        if run["state"] != "completed":
            _show_run(run)
            raise click.ClickException(f"run {run['id']} {run['state']}: {run['reason']}")
    return run, _show_run


@pipeline.command("runs")
@click.option("--pipeline", "pipeline_name", default=None, help="Only runs of this pipeline.")
@click.option("--state", default=None, help="Only runs in this state (or `active`).")
@remote_command
def pipeline_runs(client: Client, pipeline_name, state):
    """List your runs, newest first."""
    params = {k: v for k, v in (("pipeline", pipeline_name), ("state", state)) if v}
    runs = client.get("/api/v1/runs", **params)

    def show(data):
        table = Table("id", "pipeline", "version", "state", "jobs done", "created", "reason")
        for run in data:
            table.add_row(run["id"], run["pipeline"], run["version"], run["state"], str(run["jobs_done"]),
                          run["created_at"][:19], run["reason"][:60])
        console.print(table)

    return runs, show


@pipeline.command("status")
@click.argument("run_id")
@remote_command
def pipeline_status(client: Client, run_id: str):
    """Show one run with its steps."""
    return client.get(f"/api/v1/runs/{quoted(run_id)}"), _show_run


@pipeline.command("logs")
@click.argument("run_id")
@click.option("--job", default=None, help="A job's log (see `status`); default: the workflow engine's log.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the log grows, until the run ends.")
@remote_command
def pipeline_logs(client: Client, run_id: str, job, follow):
    """Print the log of a run's job, or of its workflow engine."""
    offset = 0
    while True:
        params = {"offset": offset, **({"job": job} if job else {})}
        response = client.request("GET", f"/api/v1/runs/{quoted(run_id)}/logs", params=params)
        click.echo(response.text, nl=False)
        offset = int(response.headers.get("X-Log-Offset", offset))
        if not follow or client.get(f"/api/v1/runs/{quoted(run_id)}")["state"] in ENDED and not response.text:
            return None
        time.sleep(0.5)


@pipeline.command("cancel")
@click.argument("run_id")
@remote_command
def pipeline_cancel(client: Client, run_id: str):
    """Cancel a run: every running step is stopped."""
    run = client.request("POST", f"/api/v1/runs/{quoted(run_id)}/cancel").json()
    return run, lambda data: console.print(f"run {data['id']}: {data['state']} ({data['reason']})")
