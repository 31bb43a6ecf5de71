"""The picture of a pipeline: its graph (see ``pipelines.cwl``) drawn by Graphviz ``dot`` as SVG.

Inputs and outputs are ellipses, steps boxes (a scattered step has a double border and says
"scatter over ..."). Every label is escaped for DOT and ``dot`` escapes it again for SVG, so no
text of a user can add markup to the page the SVG is inlined in.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from datalabs.errors import DatalabsError

DOT_TIMEOUT_SECONDS = 20
MAX_LABEL = 80


class GraphvizMissing(DatalabsError):
    code = "graphviz_missing"


def graph_svg(graph: dict, title: str) -> str:
    """An SVG element (no XML prolog or doctype) for inlining in HTML; ``GraphvizMissing`` without ``dot``."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissing("graphviz is not installed on the server (Debian package 'graphviz'): "
                              "no picture of the pipeline")
    try:
        result = subprocess.run([dot, "-Tsvg"], input=graph_dot(graph, title), capture_output=True, text=True,
                                timeout=DOT_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise DatalabsError(f"graphviz took longer than {DOT_TIMEOUT_SECONDS} s to draw the pipeline",
                            code="graphviz_failed") from None
    if result.returncode != 0:
        raise DatalabsError(f"graphviz could not draw the pipeline: {result.stderr.strip()[:300]}",
                            code="graphviz_failed")
    return _strip_prolog(result.stdout)


def graph_dot(graph: dict, title: str) -> str:
    """The DOT text of ``graph``: node names are generated, user text only ever appears in quoted labels."""
    names: dict[str, str] = {}

    def node(key: str) -> str:
        return names.setdefault(key, f"n{len(names)}")

    lines = ["digraph pipeline {", f"  label={_quote(title)}; labelloc=t; rankdir=LR; fontname=Helvetica;",
             "  node [fontname=Helvetica, fontsize=11]; edge [color=\"#555555\"];"]
    for item in graph.get("inputs", []):
        lines.append(f"  {node('input:' + item)} [shape=ellipse, style=filled, fillcolor=\"#e3f0ff\", "
                     f"label={_quote(item)}];")
    for step in graph.get("steps", []):
        label = step.get("label") or step["id"]
        if label != step["id"]:
            label = f"{step['id']}\n{label}"
        extra = ""
        if step.get("scatter"):
            label += "\nscatter over " + ", ".join(step["scatter"])
            extra = ", peripheries=2"
        if step.get("environment"):
            label += f"\nenvironment: {step['environment']}"
        lines.append(f"  {node('step:' + step['id'])} [shape=box, style=\"rounded,filled\", fillcolor=\"#fff6d8\""
                     f"{extra}, label={_quote(label)}];")
    for item in graph.get("outputs", []):
        lines.append(f"  {node('output:' + item)} [shape=ellipse, style=filled, fillcolor=\"#e6f5e6\", "
                     f"label={_quote(item)}];")
    for edge in graph.get("edges", []):
        source, target = _endpoint(edge["from"]), _endpoint(edge["to"])
        if source in names and target in names:
            lines.append(f"  {names[source]} -> {names[target]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _endpoint(reference: str) -> str:
    """``step:s/out`` is drawn from step ``s``; inputs and outputs are themselves."""
    if reference.startswith("step:"):
        return "step:" + reference[len("step:"):].split("/", 1)[0]
    return reference


def _quote(text: str) -> str:
    """A DOT string literal: backslashes and quotes escaped, each line break a centred line ('\\n')."""
    text = str(text)[:MAX_LABEL * 4]
    lines = [line[:MAX_LABEL] for line in text.splitlines() or [""]]
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    return '"' + "\\n".join(escaped) + '"'


_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)


def _strip_prolog(svg: str) -> str:
    return _PROLOG.sub("", svg, count=1).strip()
