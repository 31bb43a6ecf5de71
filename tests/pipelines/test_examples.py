"""The example pipelines shipped in examples/pipelines/: catalogue entries, CWL validity, and
real runs of the shell-only examples under `cwltool --no-container`.

pds-quicklook needs pdr and matplotlib for its render step; its find and contact-sheet
steps are tested here without them, and the render tests run only where pdr is importable.
"""

from __future__ import annotations

import datetime as dt
import html
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"
SHELL_ONLY = ["simple", "timestamp", "hello-pipeman", "cdr-demo", "scatter-gather"]
ALL_EXPECTED = [*SHELL_ONLY, "pds-quicklook"]
FOLDERS = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
QUICKLOOK = EXAMPLES / "pds-quicklook"
TESTDATA_PDS3 = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "pds" / "pds3"


def manifest(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name / "datalabs-pipeline.yml").read_text())


def main_document(name: str) -> Path:
    return EXAMPLES / name / manifest(name)["main"]


def cwltool(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 60
            ) -> subprocess.CompletedProcess:
    # Not `python -m cwltool`: its __main__ drops the exit status (a failed run would exit 0).
    command = [sys.executable, "-c", "import sys; from cwltool.main import run; sys.exit(run())"]
    return subprocess.run([*command, "--disable-color", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def run_example(name: str, out: Path, *extra: str) -> dict:
    """Run the example's main document on its example job; the output object."""
    folder = EXAMPLES / name
    done = cwltool("--no-container", "--outdir", str(out), *extra,
                   str(main_document(name)), str(folder / "example-job.yml"), cwd=out.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def example_job(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name / "example-job.yml").read_text())


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"quicklook_{name}", QUICKLOOK / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in examples/
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = dont_write
    return module


# --- every example: catalogue entry, documents, job ----------------------------------------

def test_all_examples_are_shipped():
    assert set(ALL_EXPECTED) <= set(FOLDERS)


@pytest.mark.parametrize("name", FOLDERS)
def test_manifest_is_valid_and_names_the_main_file(name):
    entry = manifest(name)
    assert set(entry) >= {"main", "name", "version", "title", "tags"}
    assert entry["name"] == name
    assert entry["version"] == "1.0.0"
    assert isinstance(entry["title"], str) and entry["title"].strip()
    assert isinstance(entry["tags"], list) and entry["tags"]
    assert all(isinstance(tag, str) and tag.strip() for tag in entry["tags"])
    main = EXAMPLES / name / entry["main"]
    assert main.is_file()
    assert entry["main"] in ("workflow.cwl", "tool.cwl")
    expected_class = "Workflow" if entry["main"] == "workflow.cwl" else "CommandLineTool"
    assert yaml.safe_load(main.read_text())["class"] == expected_class
    assert (EXAMPLES / name / "README.md").is_file()


@pytest.mark.parametrize("name", FOLDERS)
def test_cwltool_validates_the_main_document(name, capsys):
    from cwltool.main import main

    assert main(["--validate", "--disable-color", str(main_document(name))]) == 0


@pytest.mark.parametrize("name", FOLDERS)
def test_every_document_has_label_and_doc(name):
    documents = sorted((EXAMPLES / name).glob("*.cwl"))
    assert documents
    for path in documents:
        doc = yaml.safe_load(path.read_text())
        assert doc["cwlVersion"] == "v1.2", path.name
        where = path.name
        assert doc.get("label") and doc.get("doc"), where
        parts = [("input", doc.get("inputs", {})), ("output", doc.get("outputs", {})),
                 ("step", doc.get("steps", {}))]
        for kind, items in parts:
            for key, item in items.items():
                assert isinstance(item, dict) and item.get("label") and item.get("doc"), \
                    f"{where}: {kind} {key} lacks label or doc"


@pytest.mark.parametrize("name", FOLDERS)
def test_example_job_files_are_in_the_folder(name):
    job = example_job(name)
    for value in job.values():
        if isinstance(value, dict) and value.get("class") in ("File", "Directory"):
            path = (EXAMPLES / name / value["path"]).resolve()
            assert path.is_relative_to(EXAMPLES / name), value
            assert path.is_file() if value["class"] == "File" else path.is_dir()


# --- the shell-only examples really run ------------------------------------------------------

def test_simple_writes_the_message(tmp_path):
    outputs = run_example("simple", tmp_path / "out")
    written = Path(outputs["output"]["path"])
    assert written.name == "message.txt"
    assert written.read_text() == example_job("simple")["message"] + "\n"


def test_simple_has_a_default_message(tmp_path):
    done = cwltool("--no-container", "--outdir", str(tmp_path / "out"), str(main_document("simple")),
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out" / "message.txt").read_text() == "Hello from datalabs!\n"


def test_timestamp_appends_the_utc_time_after_sleeping(tmp_path):
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    outputs = run_example("timestamp", tmp_path / "out")
    ended = dt.datetime.now(dt.timezone.utc)
    lines = Path(outputs["timestamped"]["path"]).read_text().splitlines()
    assert lines[:-1] == (EXAMPLES / "timestamp" / "notes.txt").read_text().splitlines()
    stamp = dt.datetime.strptime(lines[-1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    sleep = dt.timedelta(seconds=example_job("timestamp")["sleep"])
    assert started + sleep <= stamp <= ended


@pytest.mark.skipif(shutil.which("figlet") is None, reason="needs figlet (Debian package figlet)")
def test_hello_pipeman_appends_both_banners(tmp_path):
    outputs = run_example("hello-pipeman", tmp_path / "out")
    written = Path(outputs["greeting"]["path"])
    assert written.name == "hello-pipeman.txt"

    def banner(text: str) -> str:
        return subprocess.run(["figlet", "--", text], capture_output=True, text=True, check=True).stdout

    original = (EXAMPLES / "hello-pipeman" / "input.txt").read_text()
    assert written.read_text() == original + banner("Hello") + banner("PIPEMAN")
    assert "|_|  |___|_|   |_____|_|  |_/_/   \\_\\_| \\_|" in written.read_text()


def test_cdr_demo_calibrates_and_summarises(tmp_path):
    outputs = run_example("cdr-demo", tmp_path / "out")
    gain = example_job("cdr-demo")["gain"]
    raw = [line.split(",") for line in (EXAMPLES / "cdr-demo" / "raw.csv").read_text().splitlines()[1:]]
    expected = [(sample, int(counts) * gain) for sample, counts in raw]

    calibrated = Path(outputs["calibrated"]["path"]).read_text().splitlines()
    assert calibrated[0] == "sample,radiance"
    rows = [line.split(",") for line in calibrated[1:]]
    assert [(s, pytest.approx(float(v))) for s, v in rows] == expected

    summary = dict(line.split(": ") for line in Path(outputs["summary"]["path"]).read_text().splitlines())
    values = [v for _, v in expected]
    assert int(summary["rows"]) == len(values) == 8
    assert float(summary["min"]) == pytest.approx(min(values))
    assert float(summary["max"]) == pytest.approx(max(values))
    assert float(summary["mean"]) == pytest.approx(sum(values) / len(values))


def test_scatter_gather_sums_the_squares(tmp_path):
    outputs = run_example("scatter-gather", tmp_path / "out")
    n = example_job("scatter-gather")["count"]
    total = sum(i * i for i in range(1, n + 1))
    assert outputs["sum"] == total == n * (n + 1) * (2 * n + 1) // 6
    lines = Path(outputs["total"]["path"]).read_text().splitlines()
    assert lines == [str(i * i) for i in range(1, n + 1)] + [f"sum: {total}"]


# --- pds-quicklook without pdr -------------------------------------------------------------

def test_quicklook_scripts_contain_no_cwl_expression_markers():
    # The scripts are staged with `entry: {$include: ...}`, and CWL evaluates an entry's text.
    for script in QUICKLOOK.glob("*.py"):
        text = script.read_text()
        assert "$(" not in text and "${" not in text, script.name


def test_quicklook_render_step_names_its_environment():
    tool = yaml.safe_load((QUICKLOOK / "render.cwl").read_text())
    assert tool["$namespaces"]["datalabs"] == "https://datalabs.dev/cwl#"
    assert {"class": "datalabs:Environment", "datalab": "psa-lab"} in tool["hints"]
    assert tool["outputs"]["png"]["type"] == "File?"


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_find_products_recognises_labels(tmp_path, monkeypatch):
    find = load_script("find_products")
    volume = tmp_path / "volume"
    _write(volume / "img" / "A.LBL", 'PDS_VERSION_ID = PDS3\n^IMAGE = "A.IMG"\nEND\n')
    _write(volume / "img" / "A.IMG", b"\x00\x01\x02binary data")  # the detached label's data
    _write(volume / "img" / "b.lbl", 'PDS_VERSION_ID = PDS3\n^TABLE = ("b.tab", 1)\nEND\n')
    _write(volume / "catalog" / "notes.lbl", "OBJECT = DATA_SET\nEND_OBJECT\nEND\n")  # no data pointer
    _write(volume / "attached" / "c.img", b"PDS_VERSION_ID = PDS3\r\nRECORD_TYPE = FIXED_LENGTH\r\nEND\r\n\x00\xff")
    _write(volume / "attached" / "D.QUB", b"CCSD3ZF0000100000001NJPL3IF0PDSX00000001 = SFDU_LABEL\r\n")
    _write(volume / "attached" / "raw.img", b"LBLSIZE=3144  FORMAT='BYTE'")  # VICAR, not PDS
    _write(volume / "pds4" / "e.xml", '<?xml version="1.0"?>\n<Product_Observational xmlns="x"/>\n')
    _write(volume / "pds4" / "f.lblx", '<?xml version="1.0"?>\n<Product_Ancillary xmlns="x"/>\n')
    _write(volume / "pds4" / "bundle.xml", '<?xml version="1.0"?>\n<Product_Bundle xmlns="x"/>\n')
    _write(volume / "pds4" / "collection.XML", '<?xml version="1.0"?>\n<Product_Collection xmlns="x"/>\n')
    _write(volume / "pds4" / "pom.xml", '<?xml version="1.0"?>\n<project/>\n')
    _write(volume / ".hidden" / "g.lbl", '^IMAGE = "g.img"\n')
    _write(volume / "img" / ".h.lbl", '^IMAGE = "h.img"\n')
    os.symlink(volume / "img" / "A.LBL", volume / "link.lbl")

    assert find.find_products(str(volume)) == [
        "attached/D.QUB", "attached/c.img", "img/A.LBL", "img/b.lbl", "pds4/e.xml", "pds4/f.lblx",
    ]

    monkeypatch.chdir(tmp_path)  # the script writes cwl.output.json in the working folder, as in the step
    assert find.main([str(volume), "--max", "2"]) == 0
    assert json.loads((tmp_path / "cwl.output.json").read_text()) == {
        "products": ["attached/D.QUB", "attached/c.img"]}


@pytest.mark.skipif(not TESTDATA_PDS3.is_dir(), reason="needs the shared PDS test data")
def test_find_products_on_real_pds3_data():
    found = set(load_script("find_products").find_products(str(TESTDATA_PDS3)))
    assert "cassini_iss/N1472853667_1.cropped.lbl" in found          # detached label
    assert "cassini_iss/N1472853667_1.cropped.img" not in found      # its data file (VICAR header)
    assert "mgs_moc/ab102401_cropped.img" in found                   # attached label
    assert "ody_themis/I00831002RDR_cropped.QUB" in found            # attached label, qube
    assert not any(p.startswith("ch1_m3/") and p.endswith(".IMG") for p in found)  # plain data files
    assert "messenger_mdis/MDIS_CDR_DS.CAT" not in found


class _Figures(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.captions, self._in_caption = [], [], False

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])
        self._in_caption = tag == "figcaption"

    def handle_endtag(self, tag):
        self._in_caption = False

    def handle_data(self, data):
        if self._in_caption:
            self.captions.append(data)


def test_contact_sheet_escapes_names_and_keeps_duplicates(tmp_path):
    sheet = load_script("contact_sheet")
    tricky = _write(tmp_path / "one" / 'a<b>&"c" d.png', b"png-1")
    same_a = _write(tmp_path / "one" / "same.png", b"png-2")
    same_b = _write(tmp_path / "two" / "same.png", b"png-3")
    out = tmp_path / "quicklooks"

    index = Path(sheet.build("Quicklooks of <volume> & co", [str(same_b), str(tricky), str(same_a)], str(out)))

    page = index.read_text()
    assert "<b>" not in page and "<volume>" not in page
    assert "Quicklooks of &lt;volume&gt; &amp; co" in page
    figures = _Figures()
    figures.feed(page)
    assert figures.captions == ['a<b>&"c" d', "same", "same"]
    assert figures.images == ["a%3Cb%3E%26%22c%22%20d.png", "same.png", "same-2.png"]
    assert page.count("<figure>") == 3
    assert sorted(p.name for p in out.iterdir()) == ["a<b>&\"c\" d.png", "index.html", "same-2.png", "same.png"]
    assert {(out / "same.png").read_bytes(), (out / "same-2.png").read_bytes()} == {b"png-2", b"png-3"}
    assert html.unescape(page).count('a<b>&"c" d') >= 2  # caption and alt text


def test_contact_sheet_without_images(tmp_path):
    sheet = load_script("contact_sheet")
    page = Path(sheet.build("Empty", [], str(tmp_path / "q"))).read_text()
    assert "No product with an image was found." in page and "<figure>" not in page


def test_quicklook_find_step_runs_on_the_sample(tmp_path):
    done = cwltool("--no-container", "--outdir", str(tmp_path / "out"), str(QUICKLOOK / "find-products.cwl"),
                   "--volume", str(QUICKLOOK / "sample"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {"products": ["N1472853667_1.cropped.lbl"]}


# --- pds-quicklook with pdr (only where pdr and matplotlib are importable) ------------------

def _gradient_product(folder: Path) -> Path:
    """A tiny PDS3 image (8 lines x 16 samples, 8-bit) whose values grow along each line."""
    lines, samples = 8, 16
    _write(folder / "GRADIENT.IMG", bytes((10 * s + r) for r in range(lines) for s in range(samples)))
    return _write(folder / "GRADIENT.LBL", "\r\n".join([
        "PDS_VERSION_ID = PDS3", "RECORD_TYPE = FIXED_LENGTH", f"RECORD_BYTES = {samples}",
        f"FILE_RECORDS = {lines}", '^IMAGE = "GRADIENT.IMG"', "OBJECT = IMAGE", f"  LINES = {lines}",
        f"  LINE_SAMPLES = {samples}", "  SAMPLE_TYPE = UNSIGNED_INTEGER", "  SAMPLE_BITS = 8",
        "END_OBJECT = IMAGE", "END", ""]))


def test_render_draws_the_image(tmp_path):
    pytest.importorskip("pdr")
    pytest.importorskip("matplotlib")
    import matplotlib.image

    _gradient_product(tmp_path / "volume" / "images")
    _write(tmp_path / "volume" / "table.lbl", "PDS_VERSION_ID = PDS3\r\nOBJECT = TABLE\r\nEND_OBJECT = TABLE\r\nEND\r\n")
    work = tmp_path / "work"
    work.mkdir()
    render = [sys.executable, str(QUICKLOOK / "render.py"), str(tmp_path / "volume")]

    done = subprocess.run([*render, "images/GRADIENT.LBL"], cwd=work, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    grey = matplotlib.image.imread(work / "GRADIENT.png")[..., 0]
    assert grey.shape == (8, 16)
    columns = grey.mean(axis=0)
    assert all(a < b for a, b in zip(columns, columns[1:]))  # brighter along each line, as the data
    assert columns[0] < 0.05 and columns[-1] > 0.95  # stretched over the full grey range

    done = subprocess.run([*render, "table.lbl"], cwd=work, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "table.lbl" in done.stderr
    assert sorted(p.name for p in work.iterdir()) == ["GRADIENT.png"]

    done = subprocess.run([*render, "../outside.lbl"], cwd=work, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "not inside the volume" in done.stderr


def test_quicklook_workflow_runs_on_the_sample(tmp_path):
    pytest.importorskip("pdr")
    pytest.importorskip("matplotlib")
    bin_dir = tmp_path / "bin"  # `python3` of the steps: this interpreter and its path, which has pdr
    bin_dir.mkdir()
    search_path = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    (bin_dir / "python3").write_text(f'#!/bin/sh\nPYTHONPATH="{search_path}" exec "{sys.executable}" "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = tmp_path / "out"
    done = cwltool("--no-container", "--outdir", str(out),
                   str(QUICKLOOK / "workflow.cwl"), str(QUICKLOOK / "example-job.yml"), cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in (out / "quicklooks").iterdir()) == ["N1472853667_1.cropped.png", "index.html"]
    figures = _Figures()
    figures.feed((out / "quicklooks" / "index.html").read_text())
    assert figures.captions == ["N1472853667_1.cropped"]
