"""JSON-LD (schema.org + DCAT) of every asset and the DCAT catalogue feed, read back as RDF by rdflib as a
harvester would; the public feed never lists what is not public, whoever asks."""

from __future__ import annotations

import json

import pytest
from rdflib import RDF, Graph, Namespace, URIRef

from tests.discovery.test_search_api import INSIGHT_RAW, MDIS, keys, search

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
SDO = Namespace("https://schema.org/")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")


def graph_of(document: dict) -> Graph:
    return Graph().parse(data=json.dumps(document), format="json-ld")


@pytest.mark.parametrize("key, rdf_type", [(INSIGHT_RAW, DCAT.Dataset), ("volume:insight", DCAT.Dataset),
                                           ("datalab:psa-lab", SDO.SoftwareApplication),
                                           ("pipeline:simple", SDO.SoftwareSourceCode)])
def test_every_asset_has_json_ld(world, client, key, rdf_type):
    response = client.get(f"/api/v1/discover/assets/{key}", params={"format": "jsonld"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/ld+json")
    graph = graph_of(response.json())
    subject = URIRef(response.json()["@id"])
    assert (subject, RDF.type, rdf_type) in graph
    title = graph.value(subject, DCT.title)
    assert title is not None and title == graph.value(subject, SDO.name)
    assert graph.value(subject, SDO.url).startswith("http")
    negotiated = client.get(f"/api/v1/discover/assets/{key}", headers={"Accept": "application/ld+json"})
    assert negotiated.json() == response.json()
    plain = client.get(f"/api/v1/discover/assets/{key}").json()
    assert plain["key"] == key and "description" in plain


def test_a_data_set_says_what_it_is_about_and_where_it_belongs(world, client):
    document = client.get(f"/api/v1/discover/assets/{INSIGHT_RAW}", params={"format": "jsonld"}).json()
    graph = graph_of(document)
    subject = URIRef(document["@id"])
    about = {str(graph.value(node, SDO.name)) for node in graph.objects(subject, SDO.about)}
    assert {"InSight", "Mars"} <= about
    assert "/api/v1/discover/assets/volume:insight" in str(graph.value(subject, SDO.isPartOf))
    assert document["temporalCoverage"].count("/") == 1


def test_the_dcat_catalogue_pages_through_the_public_assets_only(world, client, auth):
    seen, url = [], "/api/v1/discover/catalog?per_page=2"
    pages = 0
    while url:
        response = client.get(url, headers=auth("root"))  # even an admin's harvest lists the public assets only
        assert response.status_code == 200 and response.headers["content-type"].startswith("application/ld+json")
        graph = graph_of(response.json())
        catalogue = URIRef(response.json()["@id"])
        assert (catalogue, RDF.type, DCAT.Catalog) in graph
        seen += [str(graph.value(node, DCT.title)) for node in graph.objects(catalogue, DCAT.dataset)]
        seen += [str(graph.value(node, DCT.title)) for node in graph.objects(catalogue, DCAT.resource)]
        view = graph.value(predicate=RDF.type, object=HYDRA.PartialCollectionView)
        assert int(graph.value(view, HYDRA.totalItems)) == 6
        following = graph.value(view, HYDRA.next)
        url = str(following).replace("http://testserver", "") if following else None
        pages += 1
    assert pages == 3 and len(seen) == len(set(seen)) == 6
    assert "Secret comet lab" not in seen and not any("MESSENGER" in title for title in seen)
    assert len(keys(search(client, per_page=100))) == 6


def test_hidden_assets_have_no_linked_data_for_those_who_may_not_see_them(world, client, auth):
    for key in (MDIS, "datalab:secret-lab"):
        assert client.get(f"/api/v1/discover/assets/{key}", params={"format": "jsonld"}).status_code == 404
        assert client.get(f"/api/v1/discover/assets/{key}", params={"format": "jsonld"},
                          headers=auth("alice")).status_code == 200
    assert client.get("/api/v1/discover/assets/datalab:psa-lab", params={"format": "xml"}).status_code == 422
    assert client.get("/api/v1/discover/catalog", params={"page": 0}).status_code == 422
