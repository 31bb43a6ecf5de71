"""GET /api/v1/discover: text search with ranking, phrases and prefixes, facets that narrow, sort, paging,
snippets, suggestions; what callers may not see is neither returned nor counted."""

from __future__ import annotations

import pytest

INSIGHT_RAW = "dataset:insight:urn:nasa:pds:insight_rad:data_raw"
INSIGHT_CAL = "dataset:insight:urn:nasa:pds:insight_rad:data_calibrated"
MDIS = "dataset:mdis:MESS-E/V/H-MDIS-4-CDR-CALDATA-V1.0"  # described by its catalogue file
MDIS_EDR = "dataset:mdis:MESS-E/V/H-MDIS-2-EDR-RAWDATA-V1.0"  # known from a product label only


def search(client, headers=None, **params):
    response = client.get("/api/v1/discover", params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def keys(body) -> list[str]:
    return [r["key"] for r in body["results"]]


def facet(body, name) -> dict[str, int]:
    return {v["value"]: v["count"] for f in body["facets"] if f["name"] == name for v in f["values"]}


def test_every_asset_is_indexed_with_the_discovery_vocabulary(world, client, auth):
    everything = search(client, auth("root"), per_page=100)
    assert set(keys(everything)) == {
        "volume:insight", "volume:mdis", INSIGHT_RAW, INSIGHT_CAL,
        "dataset:insight:urn:nasa:pds:insight_rad:data_derived", MDIS, MDIS_EDR,
        "datalab:psa-lab", "datalab:secret-lab", "pipeline:simple"}
    by_key = {r["key"]: r for r in everything["results"]}
    mdis = by_key[MDIS]  # described by its catalogue file (MDIS_CDR_DS.CAT)
    assert mdis["title"] == "MESSENGER MDIS CALIBRATED DATA RECORD V1.0"
    assert mdis["abstract"].startswith("Abstract ======== The Mercury Dual Imaging System")
    assert mdis["citation"].startswith("C. Hash, MESSENGER MDIS CALIBRATED")
    assert set(mdis["facets"]["instrument"]) >= {"MDIS-NAC", "MDIS-WAC"}
    assert "MERCURY" in mdis["facets"]["target"] and mdis["facets"]["mission"] == ["MESSENGER"]
    assert mdis["open"] is False and mdis["details"]["volume"] == "mdis"
    raw = by_key[INSIGHT_RAW]  # a PDS4 collection: its label's title
    assert raw["title"] == "InSight RAD Raw Data Collection" and raw["facets"]["target"] == ["Mars"]
    assert raw["details"]["products"] >= 2 and raw["details"]["datalabs_path"] == "/media/data/insight"
    assert raw["actions"] == [{"kind": "open_in_datalab", "label": "Open in datalab", "href": "/datalabs",
                               "volume": "insight"}]
    lab = by_key["datalab:psa-lab"]
    assert lab["facets"]["domain"] == ["Space Science"] and lab["facets"]["thematic_area"] == ["Planetary Science"]
    assert lab["audience"] == ["Researcher", "Student"] and lab["license"]
    assert lab["actions"][0]["href"] == "/datalabs/psa-lab/launch"
    assert by_key["pipeline:simple"]["actions"][0]["href"] == "/pipelines/simple/run"
    assert "example" in by_key["pipeline:simple"]["keywords"]


def test_words_are_ranked_and_highlighted(world, client):
    body = search(client, q="planetary archive lab")
    assert keys(body)[0] == "datalab:psa-lab"
    assert body["sort"] == "relevance" and body["results"][0]["score"] > 0
    assert "<mark>" in body["results"][0]["snippet"]
    stemmed = search(client, q="collections calibrate")  # porter stemming: collection, calibrated
    assert keys(stemmed)[0] == INSIGHT_CAL
    assert "<mark>calibrated</mark>" in stemmed["results"][0]["snippet"].lower()


def test_phrases_prefixes_or_and_exclusion(world, client):
    assert set(keys(search(client, q='"RAD raw data"'))) == {INSIGHT_RAW}
    assert set(keys(search(client, q='"raw RAD data"'))) == set()  # words in this order, next to each other
    assert INSIGHT_CAL in keys(search(client, q="calib*"))
    derived = "dataset:insight:urn:nasa:pds:insight_rad:data_derived"
    raw, derived_only = set(keys(search(client, q="raw collection"))), set(keys(search(client, q="derived collection")))
    either = set(keys(search(client, q="raw OR derived collection")))
    assert either == raw | derived_only and INSIGHT_RAW in either and derived in either
    assert set(keys(search(client, q="raw derived collection"))) == raw & derived_only
    without = set(keys(search(client, q="insight collection -raw")))
    assert without == set(keys(search(client, q="insight collection"))) - raw and without and INSIGHT_RAW not in without
    only_exclusion = set(keys(search(client, q="-insight", per_page=100)))
    assert "datalab:psa-lab" in only_exclusion and INSIGHT_RAW not in only_exclusion


def test_facets_count_and_narrow_as_filters_are_chosen(world, client):
    everything = search(client)
    types = facet(everything, "asset_type")
    assert types == {"dataset": 3, "volume": 1, "datalab": 1, "pipeline": 1}  # anonymous: the open ones
    assert facet(everything, "target") == {"Mars": 4}  # the volume and its three collections
    datasets = search(client, facet="asset_type:dataset")
    assert datasets["total"] == 3 and set(keys(datasets)) <= {k for k in keys(search(client, per_page=100))}
    assert facet(datasets, "asset_type") == types  # a facet is counted without its own filter
    assert facet(datasets, "mission") == {"InSight": 3}
    both = search(client, facet=["asset_type:dataset", "asset_type:datalab"])
    assert both["total"] == 4  # values of one facet are alternatives
    selected = {v["value"] for f in both["facets"] if f["name"] == "asset_type" for v in f["values"] if v["selected"]}
    assert selected == {"dataset", "datalab"}
    narrowed = search(client, q="collection", facet=["asset_type:dataset", "target:Mars", "mission:InSight"])
    assert narrowed["total"] == 3 and facet(narrowed, "domain") == {}
    nothing = search(client, facet=["mission:Nonexistent"])
    assert nothing["total"] == 0 and nothing["results"] == []
    chosen = [v for f in nothing["facets"] if f["name"] == "mission" for v in f["values"]]
    assert {"value": "Nonexistent", "count": 0, "selected": True} in chosen  # a chosen value stays listed


def test_sorts_and_pages(world, client):
    by_title = search(client, sort="title", per_page=100)
    titles = [r["title"].lower() for r in by_title["results"]]
    assert titles == sorted(titles) and by_title["sort"] == "title"
    first, second = search(client, per_page=2, page=1), search(client, per_page=2, page=2)
    assert first["pages"] == 3 and not set(keys(first)) & set(keys(second))
    past_the_end = search(client, per_page=2, page=50)
    assert past_the_end["results"] == [] and past_the_end["total"] == 6
    newest = search(client, sort="newest", per_page=100)
    dates = [r["date_created"] for r in newest["results"]]
    assert dates == sorted(dates, reverse=True)


def test_embargoed_and_unpublished_assets_appear_only_to_their_readers(world, client, auth):
    hidden = {"volume:mdis", MDIS, MDIS_EDR, "datalab:secret-lab"}
    for headers in ({}, auth("bob")):
        body = search(client, headers, per_page=100)
        assert not hidden & set(keys(body))
        assert body["total"] == 6
        assert facet(body, "mission") == {"InSight": 4}  # no MESSENGER: counts never reveal it
        assert "MESSENGER" not in str(body)
        assert search(client, headers, q="MESSENGER mercury")["total"] == 0
        assert search(client, headers, q="secret comet")["total"] == 0
        for key in hidden:
            assert client.get(f"/api/v1/discover/assets/{key}", headers=headers).status_code == 404
        suggested = client.get("/api/v1/discover/suggest", params={"q": "mes"}, headers=headers).json()
        assert "MESSENGER" not in str(suggested).upper()
    alice = search(client, auth("alice"), per_page=100)  # team mars: the embargo's team, the draft's team
    assert hidden <= set(keys(alice)) and facet(alice, "mission")["MESSENGER"] == 3
    assert {r["key"]: r["open"] for r in alice["results"]}["datalab:secret-lab"] is False
    moderator = set(keys(search(client, auth("mod"), per_page=100)))
    assert "datalab:secret-lab" in moderator and "volume:mdis" not in moderator  # drafts yes, embargo no
    assert hidden <= set(keys(search(client, auth("root"), per_page=100)))


def test_suggestions_while_typing(world, client, auth):
    found = client.get("/api/v1/discover/suggest", params={"q": "ins"}).json()
    assert {"text": "InSight", "facet": "mission", "count": 4} in [
        {k: s[k] for k in ("text", "facet", "count")} for s in found if s.get("facet")]
    titles = [s["text"] for s in client.get("/api/v1/discover/suggest", params={"q": "planetary arc"}).json()
              if s.get("asset")]
    assert titles == ["Planetary archive lab"]
    assert client.get("/api/v1/discover/suggest", params={"q": "x"}).json() == []  # one letter: nothing yet
    assert any(s.get("text") == "MESSENGER" for s in client.get("/api/v1/discover/suggest", params={"q": "MES"},
                                                              headers=auth("alice")).json())


@pytest.mark.parametrize("params, message", [
    ({"q": '"unbalanced'}, "never closed"),
    ({"q": "OR"}, "OR at position 1"),
    ({"q": "mars OR"}, "needs a word"),
    ({"q": "-"}, "must be followed"),
    ({"q": "x" * 501}, "at most 500"),
    ({"q": " ".join(["w"] * 40)}, "at most 32"),
    ({"q": "a*"}, "two letters"),
    ({"facet": "colour:red"}, "unknown facet 'colour'"),
    ({"facet": "mission"}, "is not FACET:VALUE"),
    ({"sort": "price"}, "unknown sort"),
    ({"page": 10**12}, "page must be between"),
])
def test_bad_searches_get_a_clear_error_never_a_500(client, params, message):
    response = client.get("/api/v1/discover", params=params)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]["message"]


@pytest.mark.parametrize("q", ['AND', 'NOT', 'NEAR(a b)', '***', '"" ""', 'a:b', '^mars', '(((', 'mars)',
                               "col:umn", "'", '\\', "\u0000", "🚀", '"a" OR "b"', "{title}: x"])
def test_what_fts_would_choke_on_is_read_as_words(client, q):
    response = client.get("/api/v1/discover", params={"q": q})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        assert response.json()["error"]["field"] == "q"


def test_the_two_ways_of_counting_agree(world, session_factory, monkeypatch):
    """Searches with words (or two facet filters) count from the candidates' ids; the others in SQL. Both
    must give the same totals, pages and counts, whoever asks."""
    from datalabs.accounts.actor import Actor
    from datalabs.accounts.service import AccountService
    from datalabs.discovery import search as search_module
    from datalabs.discovery.search import DiscoverySearch, SearchRequest

    requests = [SearchRequest(q="collection", sort="title"), SearchRequest(q="insight OR mercury", sort="title"),
                SearchRequest(q="data -raw", sort="title", filters={"asset_type": ["dataset"]}),
                SearchRequest(q="collection", sort="title", filters={"asset_type": ["dataset", "volume"],
                                                                     "target": ["Mars", "MERCURY"]}),
                SearchRequest(sort="title", filters={"mission": ["InSight", "MESSENGER"], "target": ["Mars"]}),
                SearchRequest(sort="newest", filters={"asset_type": ["dataset"], "mission": ["MESSENGER"],
                                                      "instrument": ["MDIS-NAC"]}),
                SearchRequest(q="lab", sort="title", per_page=1, page=2),
                # narrowed by the text index (two or more filters on values it holds as words)
                SearchRequest(q="data OR collection", sort="title", filters={"mission": ["InSight", "MESSENGER"],
                                                                            "target": ["Mars"]}),
                SearchRequest(q="data OR collection OR insight -derived", sort="title",
                              filters={"mission": ["InSight"], "target": ["Mars", "MERCURY"],
                                       "instrument": ["RAD", "MDIS-NAC"], "asset_type": ["dataset"]})]

    def answer(db, actor, request):
        result = DiscoverySearch(db).search(actor, request)
        return (result.total, [h.asset.key for h in result.hits],
                {name: [(c.value, c.count, c.selected) for c in counts] for name, counts in result.facets.items()})

    with session_factory() as db:
        people = [None] + [Actor.of(AccountService(db).user(name)) for name in ("alice", "bob", "mod", "root")]
        driven = [answer(db, actor, request) for actor in people for request in requests]
        monkeypatch.setattr(search_module, "MAX_DRIVEN", -1)  # every search counted in SQL
        in_sql = [answer(db, actor, request) for actor in people for request in requests]
    assert driven == in_sql
    assert any(total for total, _, _ in driven) and any(total == 0 for total, _, _ in driven)
