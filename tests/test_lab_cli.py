"""`datalabs lab ...` against a real server: import a folder, list, show, submit, publish, reject."""

import json
from pathlib import Path

from click.testing import CliRunner

from datalabs.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "datalabs"


def run(live_server, token, *args):
    return CliRunner().invoke(main, ["lab", *args, "--url", live_server, "--token", token])


def test_import_review_publish_round_trip(live_server, new_user, token_for):
    new_user("dev", role="developer")
    new_user("mod", role="moderator")
    dev, mod = token_for("dev"), token_for("mod")

    imported = run(live_server, dev, "import", str(EXAMPLES / "psa-lab"), "--json")
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output)["state"] == "draft"
    assert json.loads(run(live_server, mod, "list", "--json").output)[0]["name"] == "psa-lab"

    assert run(live_server, dev, "submit", "psa-lab", "1.0.0").exit_code == 0
    refused = run(live_server, dev, "publish", "psa-lab", "1.0.0")
    assert refused.exit_code != 0 and "only moderators" in refused.output
    rejected = run(live_server, mod, "reject", "psa-lab", "1.0.0", "--reason", "add a citation", "--json")
    assert json.loads(rejected.output)["rejection_reason"] == "add a citation"
    assert run(live_server, dev, "submit", "psa-lab", "1.0.0").exit_code == 0
    assert json.loads(run(live_server, mod, "publish", "psa-lab", "1.0.0", "--json").output)["state"] == "published"

    shown = json.loads(run(live_server, dev, "show", "psa-lab", "--json").output)
    assert shown["kind"] == "jupyterlab" and [v["state"] for v in shown["versions"]] == ["published"]
    listed = json.loads(run(live_server, dev, "list", "--mission", "nothing", "--json").output)
    assert listed == []


def test_bad_sources_and_packages_give_clear_messages(live_server, new_user, token_for, tmp_path):
    new_user("dev", role="developer")
    dev = token_for("dev")
    missing = run(live_server, dev, "import", str(tmp_path / "nope"))
    assert missing.exit_code != 0 and "neither a folder, a file nor a git URL" in missing.output
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "datalab-meta.yml").write_text("title: X\n")
    bad = run(live_server, dev, "import", str(tmp_path / "bad"))
    assert bad.exit_code != 0 and "datalab-meta.yml" in bad.output and "is mandatory" in bad.output
