"""The pipeline catalogue over HTTP and through `datalabs pipeline ...`: import (upload, zip, text, git),
visibility, review, withdraw, official, sorting, and errors that say where the problem is."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile

import pytest
from click.testing import CliRunner

from datalabs.cli import main

API = "/api/v1/pipelines"


def tool_cwl(tool_id: str = "echo", label: str = "Echo a message", keywords: str = "[text]") -> str:
    return f"""\
cwlVersion: v1.2
class: CommandLineTool
id: {tool_id}
label: {label}
doc: Prints its message.
$namespaces: {{s: "https://schema.org/"}}
s:keywords: {keywords}
baseCommand: echo
inputs:
  message:
    type: string
    inputBinding: {{position: 1}}
outputs:
  out: stdout
"""


WORKFLOW = """\
cwlVersion: v1.2
class: Workflow
label: Echo twice
inputs:
  message: string
outputs:
  printed:
    type: File
    outputSource: second/out
steps:
  first:
    run: tool.cwl
    in: {message: message}
    out: [out]
  second:
    run: tool.cwl
    in: {message: message}
    out: [out]
"""

USES_CATALOGUE = """\
cwlVersion: v1.2
class: Workflow
inputs:
  message: string
outputs:
  printed:
    type: File
    outputSource: say/out
steps:
  say:
    run: catalogue:echo
    in: {message: message}
    out: [out]
"""


@pytest.fixture
def people(new_user):
    new_user("dev", role="developer")
    new_user("dev2", role="developer")
    new_user("mike", teams={"astro": False})
    new_user("oscar")
    new_user("mod", role="moderator")
    new_user("root", role="admin")


def upload(client, headers, filename: str, content: str | bytes, **form):
    body = content.encode() if isinstance(content, str) else content
    return client.post(API, files={"file": (filename, body)}, data=form, headers=headers)


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, text in files.items():
            bundle.writestr(name, text)
    return buffer.getvalue()


def names(client, headers=None, **params) -> list[str]:
    response = client.get(API, params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    return [row["name"] for row in response.json()]


def publish(client, auth, name: str, version: str = "1.0", developer: str = "dev") -> None:
    assert client.post(f"{API}/{name}/versions/{version}/submit", headers=auth(developer)).status_code == 200
    assert client.post(f"{API}/{name}/versions/{version}/publish", headers=auth("mod")).status_code == 200


def test_upload_review_and_publish(client, people, auth):
    response = upload(client, auth("dev"), "echo.cwl", tool_cwl())
    assert response.status_code == 201, response.text
    version = response.json()
    assert (version["name"], version["version"], version["state"], version["cwl_class"]) == \
        ("echo", "1.0", "draft", "CommandLineTool")
    assert version["title"] == "Echo a message" and version["tags"] == ["text"] and version["source"] == "echo.cwl"
    assert version["inputs"][0]["id"] == "message" and version["graph"]["steps"][0]["id"] == "echo"
    assert names(client) == [] and names(client, auth("oscar")) == []  # a draft is private
    assert names(client, auth("mod")) == ["echo"]
    assert client.get(f"{API}/echo").status_code == 404
    base = f"{API}/echo/versions/1.0"
    assert client.post(f"{base}/submit", headers=auth("dev2")).status_code == 404
    assert client.post(f"{base}/submit", headers=auth("dev")).json()["state"] == "submitted"
    assert client.post(f"{base}/publish", headers=auth("dev")).status_code == 403
    assert client.post(f"{base}/publish", headers=auth("mod")).json()["state"] == "published"
    listed = client.get(API).json()
    assert [(p["name"], p["kind"], p["state"], p["owner"]) for p in listed] == [("echo", "step", "published", "dev")]
    shown = client.get(f"{API}/echo").json()
    assert [v["version"] for v in shown["versions"]] == ["1.0"]
    source = client.get(f"{base}/source")
    assert source.headers["content-type"].startswith("text/plain") and source.text == tool_cwl()
    detail = client.get(base).json()
    assert detail["source_text"] == tool_cwl() and detail["packed"]["cwlVersion"] == "v1.2"
    if shutil.which("dot"):
        svg = client.get(f"{base}/graph.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml") and "echo" in svg.text
        assert svg.text.startswith("<svg")


def test_team_members_see_team_drafts(client, people, auth, new_user):
    new_user("tdev", role="developer", teams={"astro": False})
    assert upload(client, auth("tdev"), "echo.cwl", tool_cwl("teamecho"), team="astro").status_code == 201
    assert names(client, auth("mike")) == ["teamecho"]
    assert names(client, auth("oscar")) == []
    assert upload(client, auth("dev"), "x.cwl", tool_cwl("x"), team="astro").status_code == 404  # not dev's team


def test_the_editor_import_and_invalid_cwl_say_where(client, people, auth):
    response = client.post(f"{API}/text", json={"text": tool_cwl("typed"), "filename": "typed.cwl",
                                                "version": "0.1", "tags": ["mine"]}, headers=auth("dev"))
    assert response.status_code == 201, response.text
    assert (response.json()["source_kind"], response.json()["tags"], response.json()["version"]) == \
        ("editor", ["mine"], "0.1")
    bad = tool_cwl("typed").replace("baseCommand:", "baseComand:")
    refused = client.post(f"{API}/text", json={"text": bad, "filename": "typed.cwl"}, headers=auth("dev"))
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_cwl" and error["field"] == "baseComand"
    assert "typed.cwl:8:1" in error["message"]
    assert error["problems"] == [{"file": "typed.cwl", "line": 8, "field": "baseComand", "message": error["message"]}]
    missing_class = client.post(f"{API}/text", json={"text": "cwlVersion: v1.2\ninputs: []\noutputs: []\n"},
                                headers=auth("dev"))
    assert missing_class.status_code == 422 and missing_class.json()["error"]["field"] == "class"
    not_cwl = upload(client, auth("dev"), "notes.txt", "hello")
    assert not_cwl.status_code == 422
    assert client.post(f"{API}/text", json={"text": tool_cwl()}, headers=auth("oscar")).status_code == 403
    assert client.post(f"{API}/text", json={"text": tool_cwl()}).status_code == 401


def test_a_zipped_folder_with_its_meta_file(client, people, auth):
    package = zipped({"echo-many/tool.cwl": tool_cwl(), "echo-many/workflow.cwl": WORKFLOW,
                      "echo-many/datalabs-pipeline.yml": "main: workflow.cwl\nname: echo-twice\nversion: '2.0'\n"
                                                         "tags: [demo, text]\n"})
    response = upload(client, auth("dev"), "echo-many.zip", package)
    assert response.status_code == 201, response.text
    version = response.json()
    assert (version["name"], version["version"], version["cwl_class"], version["tags"]) == \
        ("echo-twice", "2.0", "Workflow", ["demo", "text"])
    assert version["source_kind"] == "folder" and version["title"] == "Echo twice"
    assert sorted(s["id"] for s in version["graph"]["steps"]) == ["first", "second"]
    assert {"from": "step:second/out", "to": "output:printed"} in version["graph"]["edges"]
    ambiguous = zipped({"a.cwl": tool_cwl("a"), "b.cwl": tool_cwl("b")})
    refused = upload(client, auth("dev"), "ab.zip", ambiguous)
    assert refused.status_code == 422 and "several .cwl files" in refused.json()["error"]["message"]
    assert upload(client, auth("dev"), "ab.zip", ambiguous, main="b.cwl").json()["name"] == "b"


def test_git_import_from_a_local_repository(client, people, auth, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "main.cwl").write_text(WORKFLOW)
    (repo / "tool.cwl").write_text(tool_cwl())
    for command in (["git", "init", "-q"], ["git", "add", "."],
                    ["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "x"]):
        subprocess.run(command, cwd=repo, check=True, capture_output=True)
    refused = client.post(f"{API}/git", json={"git": f"file://{repo}"}, headers=auth("dev"))
    assert refused.status_code == 422 and "https://" in refused.json()["error"]["message"]
    response = client.post(f"{API}/git", json={"git": f"file://{repo}", "name": "from-git", "official": True},
                           headers=auth("root"))
    assert response.status_code == 201, response.text
    assert (response.json()["source_kind"], response.json()["cwl_class"]) == ("git", "Workflow")
    assert client.get(f"{API}/from-git", headers=auth("root")).json()["official"] is True


def test_catalogue_steps_resolve_to_what_the_importer_may_run(client, people, auth):
    upload(client, auth("dev"), "echo.cwl", tool_cwl())
    refused = client.post(f"{API}/text", json={"text": USES_CATALOGUE, "filename": "uses.cwl"}, headers=auth("dev2"))
    assert refused.status_code == 422  # dev's draft is not dev2's to use
    error = refused.json()["error"]
    assert "uses.cwl:11:10" in error["message"] and "step 'say'" in error["message"] and error["field"] == "run"
    own = client.post(f"{API}/text", json={"text": USES_CATALOGUE.replace("catalogue:echo", "catalogue:echo@1.0"),
                                           "name": "mine"}, headers=auth("dev"))
    assert own.status_code == 201 and own.json()["uses"] == ["echo@1.0"]  # one's own draft, named
    publish(client, auth, "echo")
    used = client.post(f"{API}/text", json={"text": USES_CATALOGUE, "name": "uses-echo"}, headers=auth("dev2"))
    assert used.status_code == 201, used.text
    assert used.json()["uses"] == ["echo@1.0"] and "catalogue:" not in json.dumps(used.json()["packed"])


def test_versions_drafts_are_replaced_and_published_ones_never_change(client, people, auth):
    assert upload(client, auth("dev"), "echo.cwl", tool_cwl()).status_code == 201
    again = upload(client, auth("dev"), "echo.cwl", tool_cwl(label="Better echo"))
    assert again.status_code == 201 and again.json()["title"] == "Better echo"
    assert len(client.get(f"{API}/echo", headers=auth("dev")).json()["versions"]) == 1
    assert upload(client, auth("dev2"), "echo.cwl", tool_cwl()).json()["error"]["code"] == "name_taken"
    publish(client, auth, "echo")
    frozen = upload(client, auth("dev"), "echo.cwl", tool_cwl(label="Changed"))
    assert frozen.status_code == 409 and frozen.json()["error"]["code"] == "version_frozen"
    newer = upload(client, auth("dev"), "echo.cwl", tool_cwl(label="Changed"), version="1.1")
    assert newer.status_code == 201 and newer.json()["state"] == "draft"
    shown = client.get(f"{API}/echo").json()
    assert shown["version"] == "1.0" and [v["version"] for v in shown["versions"]] == ["1.0"]  # anonymous
    assert upload(client, auth("dev"), "echo.cwl", tool_cwl(), version="../x").status_code == 422
    assert upload(client, auth("dev"), "echo.cwl", tool_cwl(), name="Bad Name").status_code == 422


def test_reject_needs_a_reason_and_a_rejected_version_can_be_reimported(client, people, auth):
    upload(client, auth("dev"), "echo.cwl", tool_cwl())
    base = f"{API}/echo/versions/1.0"
    client.post(f"{base}/submit", headers=auth("dev"))
    assert client.post(f"{base}/reject", json={"reason": " "}, headers=auth("mod")).status_code == 422
    assert client.post(f"{base}/reject", json={"reason": "no"}, headers=auth("dev")).status_code == 403
    rejected = client.post(f"{base}/reject", json={"reason": "add a doc"}, headers=auth("mod")).json()
    assert (rejected["state"], rejected["rejection_reason"], rejected["reviewed_by"]) == ("rejected", "add a doc", "mod")
    assert client.post(f"{base}/publish", headers=auth("mod")).status_code == 409
    again = upload(client, auth("dev"), "echo.cwl", tool_cwl())
    assert again.status_code == 201 and (again.json()["state"], again.json()["rejection_reason"]) == ("draft", "")


def test_withdraw_and_official(client, people, auth):
    upload(client, auth("dev"), "echo.cwl", tool_cwl())
    publish(client, auth, "echo")
    assert client.patch(f"{API}/echo", json={"withdrawn": True}, headers=auth("oscar")).status_code == 403
    assert client.patch(f"{API}/echo", json={"withdrawn": True}, headers=auth("dev")).json()["withdrawn"] is True
    assert names(client) == [] and client.get(f"{API}/echo").status_code == 404
    assert names(client, auth("dev")) == ["echo"]
    assert client.patch(f"{API}/echo", json={"withdrawn": False}, headers=auth("mod")).status_code == 200
    assert names(client) == ["echo"]
    for who in ("dev", "mod"):
        assert client.patch(f"{API}/echo", json={"official": True}, headers=auth(who)).status_code == 403
    assert client.patch(f"{API}/echo", json={"official": True}, headers=auth("root")).json()["official"] is True
    refused = upload(client, auth("dev"), "other.cwl", tool_cwl("other"), official="true")
    assert refused.status_code == 403


def test_listing_filters_and_sorts_by_last_modified(client, people, auth):
    for name in ("alpha", "beta", "gamma"):
        assert upload(client, auth("dev"), f"{name}.cwl", tool_cwl(name, keywords=f"[{name}, common]")).status_code == 201
    assert names(client, auth("dev")) == ["gamma", "beta", "alpha"]
    assert names(client, auth("dev"), sort="name") == ["alpha", "beta", "gamma"]
    client.post(f"{API}/alpha/versions/1.0/submit", headers=auth("dev"))
    assert names(client, auth("dev"))[0] == "alpha"
    assert names(client, auth("dev"), tag="beta") == ["beta"]
    assert names(client, auth("dev"), text="GAMMA") == ["gamma"]
    assert names(client, auth("dev"), kind="pipeline") == []
    assert client.get(API, params={"sort": "size"}).status_code == 422


# -- the command line -------------------------------------------------------------------------

def run(live_server, token, *args):
    return CliRunner().invoke(main, ["pipeline", *args, "--url", live_server, "--token", token])


def test_cli_import_list_show(live_server, new_user, token_for, tmp_path):
    new_user("dev", role="developer")
    dev = token_for("dev")
    (tmp_path / "echo.cwl").write_text(tool_cwl())
    imported = run(live_server, dev, "import", str(tmp_path / "echo.cwl"), "--tag", "a", "--tag", "b", "--json")
    assert imported.exit_code == 0, imported.output
    assert (json.loads(imported.output)["name"], json.loads(imported.output)["tags"]) == ("echo", ["a", "b"])
    folder = tmp_path / "twice"
    folder.mkdir()
    (folder / "tool.cwl").write_text(tool_cwl())
    (folder / "workflow.cwl").write_text(WORKFLOW)
    as_folder = run(live_server, dev, "import", str(folder), "--main", "workflow.cwl", "--name", "twice",
                    "--version", "3.0")
    assert as_folder.exit_code == 0 and "twice 3.0: Echo twice (Workflow, draft)" in as_folder.output
    listed = json.loads(run(live_server, dev, "list", "--kind", "pipeline", "--json").output)
    assert [row["name"] for row in listed] == ["twice"]
    shown = run(live_server, dev, "show", "echo")
    assert shown.exit_code == 0 and "Echo a message" in shown.output and "message" in shown.output
    source = run(live_server, dev, "show", "echo", "--source")
    assert source.output == tool_cwl()
    bad = tmp_path / "bad.cwl"
    bad.write_text(tool_cwl().replace("baseCommand", "baseComand"))
    refused = run(live_server, dev, "import", str(bad))
    assert refused.exit_code != 0 and "bad.cwl:8:1" in refused.output
    missing = run(live_server, dev, "import", str(tmp_path / "nothing"))
    assert missing.exit_code != 0 and "neither a file, a folder nor a git URL" in missing.output
