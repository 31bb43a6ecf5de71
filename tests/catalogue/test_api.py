"""The catalogue over HTTP: import a zip, see problems with file/line/field, review, JSON-LD."""

from __future__ import annotations

import io
import zipfile

from tests.authz_scenario import lab_zip


def zipped(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, text in files.items():
            bundle.writestr(name, text)
    return buffer.getvalue()


def test_import_review_and_publish_over_the_api(client, new_user, auth):
    new_user("dev", role="developer")
    new_user("mod", role="moderator")
    response = client.post("/api/v1/datalabs/import/zip?filename=lab.zip", content=lab_zip("specview"),
                           headers=auth("dev"))
    assert response.status_code == 201, response.text
    assert (response.json()["state"], response.json()["source"]) == ("draft", "lab.zip")
    assert client.get("/api/v1/datalabs").json() == []  # a draft is private
    base = "/api/v1/datalabs/specview/versions/1.0"
    assert client.post(f"{base}/submit", headers=auth("dev")).json()["state"] == "submitted"
    assert client.post(f"{base}/publish", headers=auth("dev")).status_code == 403
    assert client.post(f"{base}/publish", headers=auth("mod")).json()["state"] == "published"
    listed = client.get("/api/v1/datalabs", params={"q": "specview"}).json()
    assert [(d["name"], d["state"], d["kind"]) for d in listed] == [("specview", "published", "jupyterlab")]
    jsonld = client.get("/api/v1/datalabs/specview/jsonld")
    assert jsonld.headers["content-type"].startswith("application/ld+json")
    assert jsonld.json()["@type"] == "SoftwareApplication" and jsonld.json()["softwareVersion"] == "1.0"


def test_an_invalid_package_lists_every_problem_and_changes_nothing(client, new_user, auth):
    new_user("dev", role="developer")
    bad = zipped({"datalab-meta.yml": "title: X\nalternateName: x\nofficial: true\nruntime:\n  kind: vm\n"})
    response = client.post("/api/v1/datalabs/import/zip", content=bad, headers=auth("dev"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_package"
    problems = {(p["line"], p["field"]) for p in error["problems"]}
    assert (None, "abstract") in problems and (None, "distribution.license") in problems
    assert (4, "runtime.kind") in problems
    assert all(p["file"] == "datalab-meta.yml" for p in error["problems"])
    assert client.get("/api/v1/datalabs", headers=auth("dev")).json() == []


def test_bad_uploads_and_platform_fields_are_refused(client, new_user, auth):
    new_user("dev", role="developer")
    assert client.post("/api/v1/datalabs/import/zip", content=b"", headers=auth("dev")).json()["error"]["code"] == "empty_body"
    not_zip = client.post("/api/v1/datalabs/import/zip", content=b"plain text", headers=auth("dev"))
    assert not_zip.status_code == 422 and "not a zip file" in not_zip.json()["error"]["message"]
    evil = client.post("/api/v1/datalabs/import/zip", content=zipped({"../x": "y"}), headers=auth("dev"))
    assert evil.status_code == 422 and "stay inside it" in evil.json()["error"]["message"]
    client.post("/api/v1/datalabs/import/zip", content=lab_zip("mylab"), headers=auth("dev"))
    edit = client.patch("/api/v1/datalabs/mylab/versions/1.0", json={"platform_version": "9"}, headers=auth("dev"))
    assert edit.status_code == 422 and edit.json()["error"]["code"] == "platform_field"
    official = client.patch("/api/v1/datalabs/mylab/versions/1.0", json={"official": True}, headers=auth("dev"))
    assert official.status_code == 403 and official.json()["error"]["code"] == "moderator_field"
    assert client.get("/api/v1/datalabs/mylab/versions/1.0", headers=auth("dev")).json()["platform_version"] != "9"


def test_import_builds_the_environment_and_its_log_streams_live(settings, live_server, new_user, auth):
    import httpx

    settings.build_environments = True  # the live server shares this settings object
    new_user("dev", role="developer")
    meta = ("title: Six\nalternateName: sixlab\nabstract: A\ndistribution.license: MIT\nversion: 1.0\n"
            "runtime:\n  kind: web\n  command: [six-app, '{port}']\n")
    package = zipped({"datalab-meta.yml": meta, "requirements.txt": "six==1.16.0\n"})
    with httpx.Client(base_url=live_server, headers=auth("dev"), timeout=120) as http:
        version = http.post("/api/v1/datalabs/import/zip", content=package).json()
        env_id = version["environment"]["id"]
        events = []
        with http.stream("GET", f"/api/v1/environments/{env_id}/log", params={"follow": "true"}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                events.append(line)
                if line.startswith("event: end"):
                    break
        assert any("six" in line for line in events if line.startswith("data: "))
        env = http.get(f"/api/v1/environments/{env_id}").json()
        assert env["status"] == "ready" and "six==1.16.0" in env["requirements"]
        again = http.post("/api/v1/datalabs/sixlab/versions/1.0/build").json()
        assert again["status"] == "ready"  # unchanged: nothing to build
    assert httpx.get(f"{live_server}/api/v1/environments/{env_id}").status_code == 404  # a draft's: private
