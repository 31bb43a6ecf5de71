"""User commands (`datalabs whoami`, `datalabs files ...`) against a real server over HTTP."""

import json

from click.testing import CliRunner

from datalabs.cli import main


def run(live_server, token, *args):
    return CliRunner().invoke(main, [*args, "--url", live_server, "--token", token])


def test_whoami_names_the_token_owner(live_server, make_user, token_for):
    make_user("amy", teams={"astro": True})
    result = run(live_server, token_for("amy"), "whoami", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["name"] == "amy" and data["teams"] == [{"team": "astro", "admin": True}]


def test_put_ls_get_mv_rm_round_trip(live_server, make_user, token_for, tmp_path):
    make_user("amy")
    token = token_for("amy")
    source = tmp_path / "spectrum.csv"
    source.write_bytes(b"wavelength,flux\n" + b"1,2\n" * 300_000)

    put = run(live_server, token, "files", "put", str(source), "my_workspace/")
    assert put.exit_code == 0, put.output
    listing = json.loads(run(live_server, token, "files", "ls", "my_workspace", "--json").output)
    assert [e["name"] for e in listing["entries"]] == ["spectrum.csv"]
    assert listing["entries"][0]["size"] == source.stat().st_size

    again = run(live_server, token, "files", "put", str(source), "my_workspace/spectrum.csv")
    assert again.exit_code != 0 and "already exists" in again.output

    assert run(live_server, token, "files", "mkdir", "my_workspace/results").exit_code == 0
    assert run(live_server, token, "files", "mv", "my_workspace/spectrum.csv",
               "my_workspace/results/s.csv").exit_code == 0
    target = tmp_path / "back.csv"
    get = run(live_server, token, "files", "get", "my_workspace/results/s.csv", str(target))
    assert get.exit_code == 0, get.output
    assert target.read_bytes() == source.read_bytes()
    assert not (tmp_path / "back.csv.part").exists()

    refused = run(live_server, token, "files", "rm", "my_workspace/results")
    assert refused.exit_code != 0 and "not empty" in refused.output
    assert run(live_server, token, "files", "rm", "-r", "my_workspace/results").exit_code == 0
    assert json.loads(run(live_server, token, "files", "ls", "my_workspace", "--json").output)["entries"] == []


def test_errors_are_clear_messages(live_server, make_user, token_for, tmp_path):
    make_user("amy")
    bad = run(live_server, "dlt_not-a-token", "whoami")
    assert bad.exit_code != 0 and "invalid API token" in bad.output
    missing = run(live_server, token_for("amy"), "files", "get", "my_workspace/nope.txt", str(tmp_path / "x"))
    assert missing.exit_code != 0 and "no such file or folder: my_workspace/nope.txt" in missing.output
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.part").exists()
    down = CliRunner().invoke(main, ["whoami", "--url", "http://127.0.0.1:9", "--token", "x"])
    assert down.exit_code != 0 and "cannot reach datalabs" in down.output
