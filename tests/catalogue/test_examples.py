"""The shipped catalogue (examples/datalabs): every package loads and is what the catalogue says it is."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from datalabs.catalogue.package import load_package

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "datalabs"
EXPECTED_KINDS = {"jupyterlab": "jupyterlab", "psa-lab": "jupyterlab", "topcat": "desktop", "aladin": "desktop"}
PSA_PACKAGES = ("pdr", "pds4_tools", "astropy", "pandas", "matplotlib", "pyvo")


def test_the_catalogue_has_the_expected_packages() -> None:
    assert sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()) == sorted(EXPECTED_KINDS)


@pytest.mark.parametrize("folder", sorted(EXPECTED_KINDS))
def test_every_example_loads_with_its_kind_readme_and_logo(folder: str) -> None:
    package = load_package(EXAMPLES / folder)
    assert package.name == folder
    assert package.runtime.kind == EXPECTED_KINDS[folder]
    assert package.readme and "/media/data/" in package.readme and "my_workspace" in package.readme
    assert package.logo == "logo.svg"
    logo = (EXAMPLES / folder / "logo.svg").read_text(encoding="utf-8")
    assert logo.lstrip().startswith("<svg") and logo.rstrip().endswith("</svg>")
    assert 'xmlns="http://www.w3.org/2000/svg"' in logo


@pytest.mark.parametrize("folder", ["topcat", "aladin"])
def test_desktop_examples_run_a_host_program_without_a_python_environment(folder: str) -> None:
    runtime = load_package(EXAMPLES / folder).runtime
    assert runtime.command == (folder,)
    assert runtime.host_packages == (folder,)
    assert runtime.environment is None
    assert runtime.cpu_max == 2 and runtime.memory_max == 4 * 1024**3


def test_plain_jupyterlab_adds_no_requirements() -> None:
    package = load_package(EXAMPLES / "jupyterlab")
    assert not (package.requirements or "").strip()
    assert "runtime" not in package.meta.sections


def test_psa_lab_pins_its_six_packages() -> None:
    requirements = load_package(EXAMPLES / "psa-lab").requirements or ""
    pins = {}
    for line in requirements.splitlines():
        line = line.split("#")[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9][0-9A-Za-z.]*)", line)
            assert match, f"not an exact pin: {line!r}"
            pins[match[1].lower().replace("-", "_")] = match[2]
    assert set(PSA_PACKAGES) <= set(pins)


def test_psa_lab_notebook_is_nbformat_4_and_reads_with_pdr() -> None:
    package = load_package(EXAMPLES / "psa-lab")
    assert "notebooks/read-a-pds-label.ipynb" in package.notebooks
    notebook = json.loads((EXAMPLES / "psa-lab" / "notebooks" / "read-a-pds-label.ipynb").read_text(encoding="utf-8"))
    assert notebook["nbformat"] == 4
    code = ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert any(re.search(r"^import pdr$", source, re.MULTILINE) for source in code)
    assert any("pdr.read(" in source for source in code)
    assert all(cell.get("outputs", []) == [] and cell.get("execution_count") is None
               for cell in notebook["cells"] if cell["cell_type"] == "code"), "no stored outputs"
