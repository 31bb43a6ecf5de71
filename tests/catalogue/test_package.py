"""Datalab packages: ESA datalab-meta.yml shapes import unchanged; bad packages get file, line, field."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from datalabs.catalogue.meta import PackageInvalid
from datalabs.catalogue.package import extract_zip, load_package

ESA_FLAT = """title: OMEGA-style lab
alternateName: omega-lab
abstract: Load and plot spectral cubes.
contactPoint.email: someone@example.org
creator.name: Some One
version: 0.0.3
description: >
    A Jupyter datalab showing how to work with the instrument's cubes.
mission: Mars Express
instrument: OMEGA
distribution.license: None
citation: https://doi.org/10.0000/example
domain: https://example.org/lab
language: english
"""

ESA_NESTED = """title: Catalogue lab
alternateName: CatLab
abstract: |
  Explore a catalogue
distribution:
  license: Apache 2.0
contactPoint:
  email: team@example.org
  organisation-name: Example consortium
instrument: None
mission: Gaia
keywords: Gaia
thumbnailUrl: https://example.org/logo.svg
citation: None
version: 1.10
requiredDataset:
- Gaia
x-vendor-field:
  nested: kept
"""


def package(tmp_path: Path, meta: str, folder: str = "pkg", **files: str) -> Path:
    root = tmp_path / folder
    root.mkdir()
    (root / "datalab-meta.yml").write_text(meta)
    for name, text in files.items():
        (root / name.replace("__", "/")).parent.mkdir(parents=True, exist_ok=True)
        (root / name.replace("__", "/")).write_text(text)
    return root


def problems_of(excinfo) -> list[str]:
    return [str(p) for p in excinfo.value.problems]


def test_flat_dotted_esa_package_imports_unchanged(tmp_path):
    loaded = load_package(package(tmp_path, ESA_FLAT, **{"requirements.txt": "pandas\n",
                                                         "notebooks__intro.ipynb": "{}", "logo.png": "x"}))
    assert loaded.name == "omega-lab" and loaded.version == "0.0.3"
    assert loaded.meta.text("contactPoint.email") == "someone@example.org"
    assert loaded.meta.text("domain") == "https://example.org/lab"  # kept as written
    assert loaded.meta.values["distribution.license"] == "None"  # stated as in real ESA packages: accepted
    assert loaded.runtime.kind == "jupyterlab"  # no runtime section: a JupyterLab datalab
    assert loaded.requirements == "pandas\n"
    assert loaded.notebooks == ("notebooks/intro.ipynb",) and loaded.logo == "logo.png"


def test_nested_keys_equal_dotted_keys_and_unknown_keys_are_kept(tmp_path):
    loaded = load_package(package(tmp_path, ESA_NESTED))
    assert loaded.meta.text("distribution.license") == "Apache 2.0"
    assert loaded.meta.text("contactPoint.organisation-name") == "Example consortium"
    assert loaded.meta.values["x-vendor-field.nested"] == "kept"
    assert loaded.version == "1.10"  # text, not the float 1.1
    assert loaded.meta.text("instrument") is None and loaded.meta.text("citation") is None  # 'None' means none
    assert loaded.meta.texts("requiredDataset") == ["Gaia"] and loaded.meta.texts("keywords") == ["Gaia"]


@pytest.mark.parametrize("meta, expected", [
    ("title: T\nabstract: A\ndistribution.license: MIT\n", ["datalab-meta.yml: alternateName: is mandatory"]),
    ("title: T\nalternateName: ''\nabstract: A\ndistribution.license: MIT\n",
     ["datalab-meta.yml:2: alternateName: is mandatory and may not be empty"]),
    ("title: [a, b]\nalternateName: x\nabstract: A\ndistribution.license: MIT\n",
     ["datalab-meta.yml:1: title: must be a single text, not a list"]),
    ("title: T\nalternateName: x\nabstract: A\ndistribution:\n  license: MIT\ndistribution.license: GPL\n",
     ["datalab-meta.yml:6: distribution.license: given twice (first on line 5)"]),
    ("title: T\nalternateName: x\n  abstract: : broken\n", None),
    ("- just\n- a list\n", ["datalab-meta.yml:1: the file must be a mapping of 'key: value' lines"]),
    ("", ["datalab-meta.yml: the file is empty"]),
])
def test_bad_metadata_names_file_line_and_field(tmp_path, meta, expected):
    with pytest.raises(PackageInvalid) as excinfo:
        load_package(package(tmp_path, meta))
    if expected is None:  # unparseable YAML: the line and the parser's reason
        assert problems_of(excinfo)[0].startswith("datalab-meta.yml:3: not valid YAML")
    else:
        assert problems_of(excinfo) == expected
    assert excinfo.value.code == "invalid_package"


MINIMAL = "title: T\nalternateName: t\nabstract: A\ndistribution.license: MIT\n"


def test_runtime_section_for_web_and_desktop_tools(tmp_path):
    meta = MINIMAL + """runtime:
  kind: desktop
  command: topcat
  cpu: {default: 1, max: 2}
  memory: {default: 1G, max: 4G}
  environment: none
  host_packages: [topcat]
  image: example/topcat:4.8
  future_key: kept
"""
    runtime = load_package(package(tmp_path, meta)).runtime
    assert (runtime.kind, runtime.command, runtime.host_packages) == ("desktop", ("topcat",), ("topcat",))
    assert (runtime.cpu_default, runtime.cpu_max, runtime.memory_max) == (1.0, 2.0, 4 * 1024**3)
    assert runtime.environment is None and runtime.image == "example/topcat:4.8"
    assert runtime.extra == {"future_key": "kept"}
    web = MINIMAL + 'runtime:\n  kind: web\n  command: [app, --port, "{port}", --prefix, "{base_url}"]\n'
    runtime = load_package(package(tmp_path, web, folder="web")).runtime
    assert runtime.command_for(8888, "/datalabs/abc/") == ["app", "--port", "8888", "--prefix", "/datalabs/abc/"]


@pytest.mark.parametrize("runtime, message", [
    ("  kind: vm\n", "runtime.kind: must be one of jupyterlab, web, desktop, not 'vm'"),
    ("  kind: web\n", "runtime.command: is needed for a web datalab"),
    ("  kind: web\n  command: app --port 80\n", "runtime.command: must contain {port}"),
    ("  cpu: {default: 8, max: 2}\n", "runtime.cpu: 'default' is larger than 'max'"),
    ("  memory: {default: lots}\n", "runtime.memory: 'default' and 'max' must be sizes such as 2G"),
    ("  host_packages: ['rm -rf /']\n", "runtime.host_packages: must be a list of Debian package names"),
    ("  environment: env/missing.txt\n", "runtime.environment: names env/missing.txt, which is not in the package"),
    ("  health_path: status\n", "runtime.health_path: must be a path starting with '/'"),
])
def test_bad_runtime_sections_are_refused_with_the_field(tmp_path, runtime, message):
    with pytest.raises(PackageInvalid) as excinfo:
        load_package(package(tmp_path, MINIMAL + "runtime:\n" + runtime))
    assert any(message in p for p in problems_of(excinfo)), problems_of(excinfo)
    assert all(p.startswith("datalab-meta.yml:5:") for p in problems_of(excinfo))


def test_missing_meta_file_and_non_utf8(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackageInvalid, match="no datalab-meta.yml at the top of the package"):
        load_package(tmp_path / "empty")
    root = package(tmp_path, "")
    (root / "datalab-meta.yml").write_bytes(b"title: caf\xe9\n")
    with pytest.raises(PackageInvalid, match="not UTF-8"):
        load_package(root)


def zip_with(path: Path, entries: list[tuple[str, bytes]], link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in entries:
            bundle.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            bundle.writestr(info, "/etc/passwd")
    return path


def test_zip_with_one_top_folder_is_loaded_like_a_folder(tmp_path):
    archive = zip_with(tmp_path / "p.zip", [("lab/datalab-meta.yml", MINIMAL.encode()),
                                            ("lab/requirements.txt", b"numpy\n")])
    loaded = load_package(extract_zip(archive, tmp_path / "out"))
    assert loaded.name == "t" and loaded.requirements == "numpy\n"


@pytest.mark.parametrize("entries, link, message", [
    ([("../evil.txt", b"x")], None, "paths in the zip must stay inside it"),
    ([("/abs.txt", b"x")], None, "paths in the zip must stay inside it"),
    ([("datalab-meta.yml", MINIMAL.encode())], "lab/passwd", "links are not accepted"),
])
def test_unsafe_zips_are_refused_and_write_nothing(tmp_path, entries, link, message):
    archive = zip_with(tmp_path / "p.zip", entries, link)
    with pytest.raises(PackageInvalid, match=message):
        extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.txt").exists()


def test_a_file_that_is_not_a_zip(tmp_path):
    (tmp_path / "p.zip").write_bytes(b"not a zip")
    with pytest.raises(PackageInvalid, match="not a zip file"):
        extract_zip(tmp_path / "p.zip", tmp_path / "out")
