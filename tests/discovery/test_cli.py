"""`datalabs discover QUERY` against a real server over HTTP, as the token's user."""

from __future__ import annotations

import json

from click.testing import CliRunner

from datalabs.cli import main


def run(live_server, token, *args):
    return CliRunner().invoke(main, ["discover", *args, "--url", live_server, "--token", token])


def test_discover_searches_with_facets_as_the_user(world, live_server, token_for):
    shown = run(live_server, token_for("bob"), "insight", "collection", "--facet", "mission:InSight")
    assert shown.exit_code == 0, shown.output
    assert "3 found" in shown.output and "Mission: InSight (3)" in shown.output
    listed = json.loads(run(live_server, token_for("bob"), "insight", "collection", "--json").output)
    assert "InSight RAD Raw Data Collection" in [r["title"] for r in listed["results"]]
    data = json.loads(run(live_server, token_for("bob"), "mercury", "--json").output)
    assert data["total"] == 0  # the embargoed MESSENGER volume is not bob's
    alice = json.loads(run(live_server, token_for("alice"), "mercury", "--type", "dataset", "--json").output)
    assert {r["key"] for r in alice["results"]} == {"dataset:mdis:MESS-E/V/H-MDIS-4-CDR-CALDATA-V1.0",
                                                     "dataset:mdis:MESS-E/V/H-MDIS-2-EDR-RAWDATA-V1.0"}


def test_discover_reports_a_bad_query_clearly(world, live_server, token_for):
    result = run(live_server, token_for("bob"), '"unclosed', "phrase")
    assert result.exit_code != 0 and "never closed" in result.output
    unknown = run(live_server, token_for("bob"), "x", "--facet", "colour:red")
    assert unknown.exit_code != 0 and "unknown facet 'colour'" in unknown.output
