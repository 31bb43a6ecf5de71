"""Loading CWL with cwltool: what the catalogue keeps of a document, and errors with file, line and field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from datalabs.pipelines import graph as graph_module
from datalabs.pipelines.cwl import DATALABS_NS, CwlError, load_file, load_text
from datalabs.pipelines.graph import GraphvizMissing, graph_dot, graph_svg

TOOL = f"""\
cwlVersion: v1.2
class: CommandLineTool
id: echo-tool
label: Echo things
doc: Prints its message.
$namespaces:
  datalabs: {DATALABS_NS}
  s: https://schema.org/
s:keywords: [text, demo]
hints:
  - class: datalabs:Environment
    datalab: psa-lab
requirements:
  DockerRequirement:
    dockerPull: debian:12
baseCommand: echo
inputs:
  message:
    type: string
    label: The message
    doc: What to print.
    inputBinding: {{position: 1}}
  count:
    type: int?
    default: 3
  mode:
    type:
      type: enum
      symbols: [fast, slow]
  images:
    type: File[]
    format: http://edamontology.org/format_3547
  modes:
    type:
      type: array
      items: {{type: enum, symbols: [a, b]}}
  folder: Directory
  verbose:
    type: boolean
    default: false
  scale: float
  name: string?
outputs:
  out:
    type: stdout
"""

WORKFLOW = """\
cwlVersion: v1.2
class: Workflow
label: Echo many
requirements:
  ScatterFeatureRequirement: {}
inputs:
  messages: string[]
  folder: Directory
outputs:
  printed:
    type: File[]
    outputSource: say/out
steps:
  say:
    run: tool.cwl
    scatter: message
    in:
      message: messages
      folder: folder
      mode: {default: fast}
      images: {default: []}
      modes: {default: []}
      scale: {default: 1.0}
    out: [out]
"""

USES_CATALOGUE = """\
cwlVersion: v1.2
class: Workflow
inputs:
  text: string
  folder: Directory
outputs:
  printed:
    type: File
    outputSource: first/out
steps:
  first:
    run: catalogue:echo@2.0
    in: {message: text, folder: folder, mode: {default: slow}, images: {default: []}, modes: {default: []},
         scale: {default: 2.0}}
    out: [out]
  second:
    run: "catalogue:echo"
    in: {message: text, folder: folder, mode: {default: slow}, images: {default: []}, modes: {default: []},
         scale: {default: 2.0}}
    out: [out]
"""


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "tool.cwl").write_text(TOOL)
    (tmp_path / "workflow.cwl").write_text(WORKFLOW)
    return tmp_path


def line_of(text: str, words: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if words in line)


def by_id(items: list[dict]) -> dict[str, dict]:
    return {item["id"]: item for item in items}


def test_a_tool_loads_with_its_inputs_docker_and_environment(folder):
    document = load_file(folder / "tool.cwl")
    assert (document.cwl_class, document.cwl_version, document.label) == ("CommandLineTool", "v1.2", "Echo things")
    assert document.doc == "Prints its message." and document.id == "echo-tool"
    assert document.keywords == ["text", "demo"]
    assert document.environments == ["psa-lab"]
    assert document.docker == [{"step": "echo-tool", "image": "debian:12", "required": True, "fallback": "psa-lab"}]
    assert [i["id"] for i in document.inputs] == ["message", "count", "mode", "images", "modes", "folder", "verbose",
                                                  "scale", "name"]  # as written, for the run form
    assert document.graph["inputs"] == [i["id"] for i in document.inputs]
    inputs = by_id(document.inputs)
    assert inputs["message"] == {"id": "message", "label": "The message", "doc": "What to print.", "type": "string",
                                 "optional": False, "default": None, "format": None}
    assert inputs["count"] | {} == {"id": "count", "label": "", "doc": "", "type": "int", "optional": True,
                                    "default": 3, "format": None}
    assert (inputs["mode"]["type"], inputs["mode"]["symbols"]) == ("enum", ["fast", "slow"])
    assert inputs["images"]["type"] == "array" and inputs["images"]["items"] == {"type": "File"}
    assert inputs["images"]["format"] == "http://edamontology.org/format_3547"
    assert inputs["modes"]["items"] == {"type": "enum", "symbols": ["a", "b"]}
    assert inputs["folder"]["type"] == "Directory"
    assert (inputs["verbose"]["type"], inputs["verbose"]["default"]) == ("boolean", False)
    assert inputs["scale"]["type"] == "float" and not inputs["scale"]["optional"]
    assert (inputs["name"]["type"], inputs["name"]["optional"]) == ("string", True)
    assert document.outputs == [{"id": "out", "label": "", "doc": "", "type": "File"}]
    assert document.graph["steps"] == [{"id": "echo-tool", "label": "Echo things", "run_class": "CommandLineTool",
                                        "scatter": [], "in": [], "environment": "psa-lab"}]
    assert {"from": "step:echo-tool/out", "to": "output:out"} in document.graph["edges"]
    json.dumps(document.packed)  # plain JSON, storable


def test_a_workflow_is_packed_with_its_steps_and_graph(folder):
    document = load_file(folder / "workflow.cwl")
    assert document.cwl_class == "Workflow" and document.label == "Echo many"
    assert "file://" not in json.dumps(document.packed)  # self-contained: the tool is inside
    classes = sorted(entry["class"] for entry in document.packed["$graph"])
    assert classes == ["CommandLineTool", "Workflow"]
    assert by_id(document.inputs)["messages"]["items"] == {"type": "string"}
    assert document.outputs == [{"id": "printed", "label": "", "doc": "", "type": "array", "items": {"type": "File"}}]
    graph = document.graph
    assert graph["inputs"] == ["messages", "folder"] and graph["outputs"] == ["printed"]
    assert graph["steps"] == [{"id": "say", "label": "Echo things", "run_class": "CommandLineTool",
                               "scatter": ["message"], "in": ["messages", "folder"] if graph["steps"][0]["in"][0]
                               == "messages" else ["folder", "messages"], "environment": "psa-lab"}]
    assert {"from": "input:messages", "to": "step:say"} in graph["edges"]
    assert {"from": "step:say/out", "to": "output:printed"} in graph["edges"]
    assert document.docker[0] | {} == {"step": "say", "image": "debian:12", "required": True, "fallback": "psa-lab"}


def test_the_environment_hint_applies_at_workflow_level_and_docker_hints_are_optional():
    text = f"""\
cwlVersion: v1.2
class: Workflow
$namespaces: {{datalabs: "{DATALABS_NS}"}}
hints:
  - class: datalabs:Environment
    datalab: isis-lab
inputs: []
outputs: []
steps:
  inner:
    run:
      class: CommandLineTool
      hints: {{DockerRequirement: {{dockerPull: "python:3.12"}}}}
      baseCommand: "true"
      inputs: []
      outputs: []
    in: []
    out: []
"""
    document = load_text(text, "env.cwl")
    assert document.environments == ["isis-lab"]
    assert document.graph["steps"][0]["environment"] == "isis-lab"
    assert document.docker == [{"step": "inner", "image": "python:3.12", "required": False, "fallback": "isis-lab"}]


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    (TOOL.replace("baseCommand:", "baseComand:"), line_of(TOOL, "baseCommand"), "baseComand", "invalid field 'baseComand'"),
    ("cwlVersion: v1.2\nclass: CommandLineTool\ninputs: [\n  a: b\noutputs: []\n", 5, None, "expected ','"),
    ("cwlVersion: v1.2\ninputs: []\noutputs: []\n", 1, "class", "'class' is missing"),
    (WORKFLOW.replace("message: messages", "message: nosuch"), line_of(WORKFLOW, "message: messages"), "source", "unknown identifier 'nosuch'"),
    (TOOL.replace("scale: float", "scale: flaot"), line_of(TOOL, "scale: float"), "type", "'flaot'"),
])
def test_invalid_documents_name_the_file_line_and_field(folder, text, line, field, words):
    with pytest.raises(CwlError) as caught:
        load_text(text, "pipeline.cwl") if "run: tool.cwl" not in text else _load_beside(folder, text)
    error = caught.value
    assert error.line == line and error.field == field, error.message
    assert f"pipeline.cwl:{line}:" in error.message and words in error.message
    assert "/tmp" not in error.message and str(folder) not in error.message
    assert error.problems[0].file == "pipeline.cwl" and error.problems[0].line == line


def _load_beside(folder: Path, text: str):
    (folder / "pipeline.cwl").write_text(text)
    return load_file(folder / "pipeline.cwl")


def test_a_document_cannot_read_server_files_or_the_network(tmp_path):
    include = "cwlVersion: v1.2\nclass: CommandLineTool\nbaseCommand: echo\ndoc:\n  $include: /etc/passwd\n" \
              "inputs: []\noutputs: []\n"
    with pytest.raises(CwlError, match="only files beside the document"):
        load_text(include)
    for run in ("/etc/passwd", "http://127.0.0.1:9/x.cwl"):
        text = f"cwlVersion: v1.2\nclass: Workflow\ninputs: []\noutputs: []\nsteps:\n  a:\n    run: {run}\n" \
               "    in: {}\n    out: []\n"
        with pytest.raises(CwlError, match="pipeline.cwl:7:5"):
            load_text(text)
    (tmp_path / "link.cwl").symlink_to("/etc/hostname")
    (tmp_path / "main.cwl").write_text("cwlVersion: v1.2\nclass: Workflow\ninputs: []\noutputs: []\nsteps:\n"
                                       "  a:\n    run: link.cwl\n    in: {}\n    out: []\n")
    with pytest.raises(CwlError):
        load_file(tmp_path / "main.cwl")


def test_catalogue_steps_are_resolved_inlined_and_recorded(folder, tmp_path):
    tool = load_file(folder / "tool.cwl")
    stored = tmp_path / "stored.json"
    stored.write_text(json.dumps(tool.packed))
    asked = []

    def resolve(name, version):
        asked.append((name, version))
        if name != "echo":
            raise LookupError(f"no {name}")
        return stored, version or "3.1"

    document = load_text(USES_CATALOGUE, "uses.cwl", resolve_catalogue=resolve)
    assert sorted(asked, key=str) == [("echo", "2.0"), ("echo", None)]
    assert document.uses == ["echo@2.0", "echo@3.1"]
    assert "file://" not in json.dumps(document.packed) and "catalogue:" not in json.dumps(document.packed)
    assert sorted(s["id"] for s in document.graph["steps"]) == ["first", "second"]
    assert document.environments == ["psa-lab"]

    with pytest.raises(CwlError) as caught:
        load_text(USES_CATALOGUE.replace("catalogue:echo@2.0", "catalogue:nothing"), "uses.cwl",
                  resolve_catalogue=resolve)
    assert caught.value.line == 12 and caught.value.field == "run"
    assert "uses.cwl:12:10" in caught.value.message and "step 'first'" in caught.value.message
    assert "nothing" in caught.value.message
    with pytest.raises(CwlError, match="only works when importing into the catalogue"):
        load_text(USES_CATALOGUE)


def test_errors_after_a_catalogue_step_keep_their_lines(folder, tmp_path):
    stored = tmp_path / "stored.json"
    stored.write_text(json.dumps(load_file(folder / "tool.cwl").packed))
    broken = USES_CATALOGUE.replace("outputSource: first/out", "outputSource: nowhere/out")
    with pytest.raises(CwlError) as caught:
        load_text(broken, "uses.cwl", resolve_catalogue=lambda name, version: (stored, version or "1"))
    line = line_of(broken, "nowhere/out")
    assert caught.value.line == line and f"uses.cwl:{line}:" in caught.value.message
    assert "datalabs-catalogue" not in caught.value.message


# -- the picture -------------------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is not installed")
def test_the_graph_svg_names_the_steps_and_escapes_user_text(folder):
    svg = graph_svg(load_file(folder / "workflow.cwl").graph, "Echo many")
    assert svg.startswith("<svg") and "<?xml" not in svg and "DOCTYPE" not in svg
    assert "say" in svg and "messages" in svg and "printed" in svg and "scatter over message" in svg
    evil = {"inputs": ['x"<script>'], "outputs": [],
            "steps": [{"id": "s", "label": '</text><script>alert(1)</script>\\N', "scatter": [], "in": [],
                       "environment": None}],
            "edges": [{"from": 'input:x"<script>', "to": "step:s"}]}
    svg = graph_svg(evil, "<b>title</b>")
    assert "<script" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg and "&lt;b&gt;title" in svg
    assert "->" in graph_dot(evil, "t") or "-&gt;" in svg


def test_without_graphviz_the_error_says_so(monkeypatch):
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    with pytest.raises(GraphvizMissing, match="graphviz is not installed"):
        graph_svg({"inputs": [], "outputs": [], "steps": [], "edges": []}, "t")
