"""The discovery page (GET /discover) without JavaScript: results and facet counts rendered by the server, filters
that narrow, sort and pages as plain links, a bad query shown with its reason (400, never a 500), what a caller
may not see never listed nor counted, and "Open in datalab" leading to a launch form with the volume checked."""

from __future__ import annotations

import html
import re

import pytest
from argon2 import PasswordHasher, profiles

from datalabs.accounts import secrets
from tests.archive.conftest import scan_volume  # noqa: F401 - a fixture of the world
from tests.discovery.conftest import world  # noqa: F401 - the fixture

INSIGHT_RAW = "dataset:insight:urn:nasa:pds:insight_rad:data_raw"
MDIS = "dataset:mdis:MESS-E/V/H-MDIS-4-CDR-CALDATA-V1.0"


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch):
    monkeypatch.setattr(secrets, "_hasher", PasswordHasher.from_parameters(profiles.CHEAPEST))


@pytest.fixture
def new_user(make_user):
    """The world's users, with the password of ``make_user`` so that they can log in through the form."""

    def make(name: str, role: str = "user", teams: dict | None = None) -> str:
        return make_user(name, role=role, teams=teams)

    return make


def keys(page: str) -> list[str]:
    return [html.unescape(k) for k in re.findall(r'<article class="discover-hit" data-key="([^"]+)"', page)]


def facet_counts(page: str, facet: str) -> dict[str, int]:
    block = re.search(rf'<fieldset class="facet" data-facet="{facet}">(.*?)</fieldset>', page, re.S)
    if block is None:
        return {}
    found = re.findall(r'value="[a-z_]+:([^"]*)"[^>]*>\s*<span class="facet-name">[^<]*</span>\s*'
                       r'<span class="facet-count">\((\d+)\)</span>', block.group(1))
    return {html.unescape(value): int(count) for value, count in found}


def checked(page: str) -> set[str]:
    return {html.unescape(v) for v in re.findall(r'name="facet" value="([^"]+)"[^>]*\bchecked\b', page)}


def result_count(page: str) -> int:
    return int(re.search(r'id="result-count"[^>]*>\s*(\d+) results?', page).group(1))


def test_the_page_renders_results_facets_and_actions(world, web):
    response = web().get("/discover")
    assert response.status_code == 200 and "Coming soon" not in response.text
    page = response.text
    assert set(keys(page)) == {"volume:insight", INSIGHT_RAW, "dataset:insight:urn:nasa:pds:insight_rad:data_calibrated",
                               "dataset:insight:urn:nasa:pds:insight_rad:data_derived", "datalab:psa-lab",
                               "pipeline:simple"}
    assert result_count(page) == 6
    assert facet_counts(page, "asset_type") == {"dataset": 3, "volume": 1, "datalab": 1, "pipeline": 1}
    assert facet_counts(page, "target") == {"Mars": 4}
    assert '<span class="facet-name">Data set</span>' in page  # asset types by their names
    # a card: type badge, title linking to the asset's page, chips, actions
    assert 'href="/datalabs/psa-lab" class="hit-title"' in page
    assert 'href="/datalabs/psa-lab/launch" role="button"' in page
    assert 'href="/pipelines/simple/run" role="button"' in page
    assert '<span class="chip chip-target" title="Target">Mars</span>' in page
    assert "Log in to open" in page  # anonymous visitors: no datalab to open a volume in
    assert 'id="open-dialog"' not in page
    # the search form works without JavaScript: a GET form, the sort menu, suggestions wired for the script
    assert '<form method="get" action="/discover" id="discover-form"' in page
    assert re.search(r'<option value="relevance" selected>', page)
    assert 'src="/static/discover.js"' in page


def titles(page: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r'class="hit-title">([^<]*)</a>', page)]


def test_text_search_highlights_and_sorts(world, web):
    http = web()
    page = http.get("/discover", params={"q": "calibrated collection"}).text
    assert keys(page)[0] == "dataset:insight:urn:nasa:pds:insight_rad:data_calibrated"
    assert re.search(r"<mark>calibrated</mark>", page, re.I)  # the snippet's HTML as the API made it (its text escaped)
    assert 'value="calibrated collection"' in page
    by_title = http.get("/discover", params={"sort": "title"}).text
    assert titles(by_title) == sorted(titles(by_title), key=str.lower)
    assert re.search(r'<option value="title" selected>', by_title)
    assert re.search(r'<option value="newest" selected>', http.get("/discover", params={"sort": "newest"}).text)


def test_html_in_a_query_is_text(world, web):
    page = web().get("/discover", params={"q": "<script>alert(1)</script>"})
    assert page.status_code in (200, 400)
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text


def test_paging_links_keep_the_search(world, web, monkeypatch):
    from datalabs.web import discover

    http = web("root")  # an admin: every asset, five data sets among them
    page = http.get("/discover", params={"facet": "asset_type:dataset", "sort": "title"}).text
    assert result_count(page) == 5 and 'rel="next"' not in page and "Page 1" not in page
    monkeypatch.setattr(discover, "PER_PAGE", 2)
    page1 = http.get("/discover", params={"facet": "asset_type:dataset", "sort": "title"}).text
    assert "Page 1 of 3" in page1 and 'rel="prev"' not in page1 and "showing 1–2" in page1
    nxt = html.unescape(re.search(r'<a href="([^"]+)" rel="next"', page1).group(1))
    assert nxt == "/discover?facet=asset_type%3Adataset&sort=title&page=2"
    page2 = http.get(nxt).text
    assert "Page 2 of 3" in page2 and 'rel="prev"' in page2 and "showing 3–4" in page2
    prev = html.unescape(re.search(r'<a href="([^"]+)" rel="prev"', page2).group(1))
    assert prev == "/discover?facet=asset_type%3Adataset&sort=title"
    page3 = http.get(html.unescape(re.search(r'<a href="([^"]+)" rel="next"', page2).group(1))).text
    assert 'rel="next"' not in page3 and result_count(page3) == 5
    seen = keys(page1) + keys(page2) + keys(page3)
    assert len(seen) == len(set(seen)) == 5
    beyond = http.get("/discover", params={"facet": "asset_type:dataset", "page": "9"})
    assert beyond.status_code == 200 and "No results on this page" in beyond.text


@pytest.mark.parametrize("params, message", [
    ({"q": '"unclosed'}, "never closed"),
    ({"facet": "colour:red"}, "unknown facet"),
    ({"facet": "mission"}, "is not FACET:VALUE"),
    ({"sort": "price"}, "unknown sort"),
    ({"page": "99999999"}, "page must be between"),
    ({"page": "two"}, "whole number"),
])
def test_a_bad_query_shows_its_reason_with_400(world, web, params, message):
    response = web().get("/discover", params=params)
    assert response.status_code == 400, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    error = re.search(r'<p class="alert alert-error" role="alert" id="discover-error">(.*?)</p>', response.text, re.S)
    assert error and message in html.unescape(error.group(1))
    assert 'id="discover-q"' in response.text  # the form is there to try again


def test_what_a_caller_may_not_see_is_neither_listed_nor_counted(world, web):
    anonymous = web().get("/discover").text
    assert "secret-lab" not in anonymous and "Secret comet lab" not in anonymous
    assert "mdis" not in anonymous.lower() and "MESSENGER" not in anonymous and "Mercury" not in anonymous
    assert "MESSENGER" not in web().get("/discover", params={"q": "messenger mercury"}).text
    bob = web("bob").get("/discover").text
    assert "secret-lab" not in bob and "MESSENGER" not in bob
    alice = web("alice")  # team mars: its draft datalab and its embargoed volume
    page = alice.get("/discover").text
    assert {"datalab:secret-lab", "volume:mdis", MDIS} <= set(keys(page))
    assert facet_counts(page, "asset_type") == {"dataset": 5, "volume": 2, "datalab": 2, "pipeline": 1}
    assert "MESSENGER" in facet_counts(page, "mission")
    card = re.search(r'data-key="volume:mdis".*?</article>', page, re.S).group(0)
    assert '<span class="badge badge-embargo">embargoed</span>' in card
    lab = re.search(r'data-key="datalab:secret-lab".*?</article>', page, re.S).group(0)
    assert '<span class="badge badge-embargo">unpublished</span>' in lab
    open_card = re.search(r'data-key="volume:insight".*?</article>', page, re.S).group(0)
    assert "badge-embargo" not in open_card


def test_open_in_datalab_lists_the_callers_datalabs_and_prechecks_the_volume(world, web):
    alice = web("alice")
    page = alice.get("/discover", params={"facet": "asset_type:volume"}).text
    assert 'data-open-volume="insight"' in page and 'data-open-volume="mdis"' in page
    dialog = re.search(r'<dialog id="open-dialog".*?</dialog>', page, re.S).group(0)
    assert 'data-launch-href="/datalabs/psa-lab/launch"' in dialog
    assert 'data-launch-href="/datalabs/secret-lab/launch"' in dialog  # team mars's draft: alice sees it
    assert 'href="/datalabs/psa-lab/launch?volume=insight"' in page  # the links without JavaScript
    bob_page = web("bob").get("/discover", params={"facet": "asset_type:volume"}).text
    assert "secret-lab" not in bob_page and 'data-launch-href="/datalabs/psa-lab/launch"' in bob_page
    anonymous = web().get("/discover", params={"facet": "asset_type:volume"}).text
    assert "Log in to open" in anonymous and "data-open-volume" not in anonymous

    form = alice.get("/datalabs/psa-lab/launch", params={"volume": "insight"})
    assert form.status_code == 200
    assert re.search(r'<input type="checkbox" name="volumes" value="insight" checked>', form.text)
    assert re.search(r'<input type="checkbox" name="volumes" value="mdis">', form.text)
    both = alice.get("/datalabs/psa-lab/launch", params=[("volume", "insight"), ("volume", "mdis")]).text
    assert re.search(r'value="insight" checked>', both) and re.search(r'value="mdis" checked>', both)
    plain = alice.get("/datalabs/psa-lab/launch").text
    assert not re.search(r'name="volumes" value="[^"]+" checked', plain)
    # a volume the caller may not read checks nothing and is never named
    bobs = web("bob").get("/datalabs/psa-lab/launch", params={"volume": "mdis"})
    assert bobs.status_code == 200 and "mdis" not in bobs.text


def test_anonymous_visitors_log_in_when_anonymous_browse_is_off(world, settings):
    from datalabs.app import create_app
    from tests.conftest import in_process_client

    settings.anonymous_browse = False
    with in_process_client(create_app(settings)) as http:
        response = http.get("/discover?q=mars")
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


def test_the_navigation_links_to_discover(world, web):
    assert re.search(r'<a href="/discover" aria-current="page">Discover</a>', web("alice").get("/discover").text)
    assert re.search(r'<a href="/discover" aria-current="page">Discover</a>', web().get("/discover").text)
