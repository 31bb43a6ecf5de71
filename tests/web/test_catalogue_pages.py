"""The datalab catalogue pages: search, import through the page, review, logo and README safety."""

from __future__ import annotations

import html
import io
import zipfile

from tests.authz_scenario import LAB_META

LOGO = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>'


def package(name: str, *, abstract: str = "A datalab.", extra_meta: str = "", files: dict | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("datalab-meta.yml", LAB_META.format(name=name, abstract=abstract) + extra_meta)
        for path, content in (files or {}).items():
            bundle.writestr(path, content)
    return buffer.getvalue()


def import_zip(http, csrf_of, data: bytes, filename: str = "lab.zip"):
    token = csrf_of(http.get("/datalabs"))
    return http.post("/datalabs/import/zip", data={"csrf_token": token},
                     files={"archive": (filename, data, "application/zip")})


def post(http, csrf_of, target: str, page: str, **form):
    return http.post(target, data={"csrf_token": csrf_of(http.get(page))} | form)


def publish(dev, mod, csrf_of, name: str):
    page = f"/datalabs/{name}"
    assert post(dev, csrf_of, f"{page}/versions/1.0/submit", page).status_code == 303
    assert post(mod, csrf_of, f"{page}/versions/1.0/publish", page).status_code == 303


def test_a_developer_imports_submits_and_a_moderator_publishes(web, make_user, csrf_of):
    make_user("dev", role="developer")
    make_user("mod", role="moderator")
    dev, mod, visitor = web("dev"), web("mod"), web()
    assert "Import a datalab" in dev.get("/datalabs").text
    assert "Import a datalab" not in visitor.get("/datalabs").text
    response = import_zip(dev, csrf_of, package("specview", extra_meta="mission: Rosetta\nfancyField: kept\n"))
    assert response.status_code == 303 and response.headers["location"] == "/datalabs/specview"
    page = dev.get("/datalabs/specview").text
    assert "specview" in page and "draft" in page and "fancyField" in page and "kept" in page
    assert 'href="/datalabs/specview/launch?version=1.0"' in page and "Submit for review" in page
    listed = dev.get("/datalabs").text
    assert "/datalabs/specview" in listed and "draft" in listed
    # a draft is private
    assert "/datalabs/specview" not in visitor.get("/datalabs").text
    assert visitor.get("/datalabs/specview").status_code == 404
    assert "/datalabs/specview" not in web().get("/datalabs?q=specview").text

    page_url = "/datalabs/specview"
    assert post(dev, csrf_of, f"{page_url}/versions/1.0/submit", page_url).status_code == 303
    assert "Publish" in mod.get(page_url).text
    # a developer cannot publish: the page says why, nothing changes
    refused = post(dev, csrf_of, f"{page_url}/versions/1.0/publish", page_url)
    assert refused.status_code == 403 and "only moderators" in refused.text
    assert "submitted" in dev.get(page_url).text
    assert post(mod, csrf_of, f"{page_url}/versions/1.0/publish", page_url).status_code == 303
    shown = visitor.get(page_url)
    assert shown.status_code == 200 and "published" in shown.text
    assert "/datalabs/specview" in visitor.get("/datalabs").text
    # official, withdraw and restore
    assert post(mod, csrf_of, f"{page_url}/official", page_url, official="true").status_code == 303
    assert "official" in visitor.get("/datalabs").text
    assert post(dev, csrf_of, f"{page_url}/official", page_url, official="false").status_code == 403
    assert post(dev, csrf_of, f"{page_url}/withdraw", page_url, withdrawn="true").status_code == 303
    assert visitor.get(page_url).status_code == 404
    assert post(mod, csrf_of, f"{page_url}/withdraw", page_url, withdrawn="false").status_code == 303
    assert visitor.get(page_url).status_code == 200


def test_search_and_filters(web, make_user, csrf_of):
    make_user("dev", role="developer")
    make_user("mod", role="moderator")
    dev, mod, visitor = web("dev"), web("mod"), web()
    import_zip(dev, csrf_of, package("cometlab", abstract="Comet dust.", extra_meta="mission: Rosetta\n"
                                     "instrument: OSIRIS\nkeywords: [comet, dust]\n"))
    import_zip(dev, csrf_of, package("marslab", abstract="Red planet.", extra_meta="mission: MEX\n"))
    publish(dev, mod, csrf_of, "cometlab")
    publish(dev, mod, csrf_of, "marslab")
    everything = visitor.get("/datalabs").text
    assert "/datalabs/cometlab" in everything and "/datalabs/marslab" in everything
    assert "comet" in everything and "dust" in everything  # keywords as tags
    by_text = visitor.get("/datalabs", params={"q": "red planet"}).text
    assert "/datalabs/marslab" in by_text and "/datalabs/cometlab" not in by_text
    by_mission = visitor.get("/datalabs", params={"mission": "rosetta"}).text
    assert "/datalabs/cometlab" in by_mission and "/datalabs/marslab" not in by_mission
    by_instrument = visitor.get("/datalabs", params={"instrument": "OSIRIS"}).text
    assert "/datalabs/cometlab" in by_instrument and "/datalabs/marslab" not in by_instrument
    by_kind = visitor.get("/datalabs", params={"kind": "desktop"}).text
    assert "/datalabs/cometlab" not in by_kind and "No datalab matches" in by_kind
    assert 'value="red planet"' in visitor.get("/datalabs", params={"q": "red planet"}).text


def test_a_bad_package_shows_every_problem_with_file_and_line(web, make_user, csrf_of):
    make_user("dev", role="developer")
    dev = web("dev")
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as bundle:
        bundle.writestr("datalab-meta.yml", "title: X\nalternateName: x\nofficial: true\nruntime:\n  kind: vm\n")
    response = import_zip(dev, csrf_of, bad.getvalue())
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    assert "datalab-meta.yml:4: runtime.kind:" in response.text
    assert "datalab-meta.yml: abstract:" in response.text
    assert "/datalabs/x" not in dev.get("/datalabs").text
    not_zip = import_zip(dev, csrf_of, b"plain text")
    assert not_zip.status_code == 422 and "not a zip file" in not_zip.text


def test_users_cannot_import_and_git_problems_are_shown(web, make_user, csrf_of):
    make_user("dev", role="developer")
    make_user("ursula")
    user = web("ursula")
    refused = import_zip(user, csrf_of, package("mine"))
    assert refused.status_code == 403 and "only developers" in refused.text
    assert user.get("/datalabs/mine").status_code == 404
    dev = web("dev")
    failed = post(dev, csrf_of, "/datalabs/import/git", "/datalabs", url="file:///etc")
    assert failed.status_code == 422 and 'role="alert"' in failed.text
    assert 'value="file:///etc"' in failed.text


def test_reject_shows_the_reason(web, make_user, csrf_of):
    make_user("dev", role="developer")
    make_user("mod", role="moderator")
    dev, mod = web("dev"), web("mod")
    import_zip(dev, csrf_of, package("halflab"))
    page = "/datalabs/halflab"
    post(dev, csrf_of, f"{page}/versions/1.0/submit", page)
    empty = post(mod, csrf_of, f"{page}/versions/1.0/reject", page, reason=" ")
    assert empty.status_code == 422 and "reason" in empty.text
    rejected = post(mod, csrf_of, f"{page}/versions/1.0/reject", page, reason="Needs a <b>licence</b> file")
    assert rejected.status_code == 303
    shown = dev.get(page).text
    assert "rejected" in shown and "Needs a &lt;b&gt;licence&lt;/b&gt; file" in shown
    assert "Submit for review" in shown  # rejected versions can be submitted again


def test_logo_is_served_with_a_strict_policy_and_the_readme_is_escaped(web, make_user, csrf_of):
    make_user("dev", role="developer")
    dev = web("dev")
    readme = ("# Hello\n<script>alert('x')</script>\n<img src=x onerror=alert(1)>\n\n"
              "Some *emphasis* and [a bad link](javascript:alert(1)).\n")
    import_zip(dev, csrf_of, package("pretty", files={"logo.svg": LOGO, "README.md": readme}))
    page = dev.get("/datalabs/pretty").text
    assert "<script>alert" not in page and "<img src=x" not in page
    assert html.escape("<script>alert('x')</script>", quote=False) in page.replace("&#39;", "'")
    assert "<h1>Hello</h1>" in page and "<em>emphasis</em>" in page  # rendered Markdown
    assert 'href="javascript:' not in page
    assert '/datalabs/pretty/logo' in page
    logo = dev.get("/datalabs/pretty/logo")
    assert logo.status_code == 200 and logo.content == LOGO
    assert logo.headers["content-type"].startswith("image/svg+xml")
    assert logo.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert logo.headers["x-content-type-options"] == "nosniff"
    assert web().get("/datalabs/pretty/logo").status_code == 404  # a draft: not for visitors
    import_zip(dev, csrf_of, package("plain"))
    assert dev.get("/datalabs/plain/logo").status_code == 404
    assert "/datalabs/plain/logo" not in dev.get("/datalabs/plain").text
