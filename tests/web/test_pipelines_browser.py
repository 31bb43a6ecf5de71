"""A pipeline run from the web UI in a real headless Chromium, against a real uvicorn server whose
pipeline supervisor runs the run for real (cwltool in the bubblewrap sandbox)."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.pipelines.conftest import _stop_drivers, publish_pipeline
from tests.web.test_browser import browser, log_in, pytestmark as browser_marks  # noqa: F401 - the fixture

pytestmark = [*browser_marks,
              pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (scripts/setup installs it)")]

STAMP = """cwlVersion: v1.2
class: CommandLineTool
label: Stamp a table
doc: Writes the mode N times, then the table.
baseCommand: [sh, -c]
arguments:
  - 'seq "$1" | while read i; do echo "$2 $i"; done > stamped.txt; cat "$0" >> stamped.txt; echo "stamped $1 times ($2)" >&2'
  - $(inputs.table.path)
  - $(inputs.times)
  - $(inputs.mode)
inputs:
  table: {type: File, label: Table to stamp}
  times: {type: int, label: How many stamps}
  mode: {type: {type: enum, symbols: [fast, precise]}, label: Mode}
outputs:
  stamped: {type: File, outputBinding: {glob: stamped.txt}}
"""


def test_run_a_pipeline_from_its_form_and_follow_it(browser, app, live_server, make_user, settings,  # noqa: F811
                                                    session_factory, tmp_path):
    from playwright.sync_api import expect

    make_user("alice")
    workspace = settings.workspaces_dir / "users" / "alice"
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "table.csv").write_text("a,b\n1,2\n")
    publish_pipeline(settings, session_factory, "stamp", STAMP)
    app.state.pipeline_supervisor.start()  # (the server's lifespan started it already: start() is idempotent)
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(20_000)
    try:
        log_in(page, live_server, "alice", "/pipelines")
        page.get_by_role("link", name="Stamp a table").click()
        page.wait_for_url("**/pipelines/stamp")
        expect(page.get_by_role("heading", level=1)).to_have_text("Stamp a table")
        page.get_by_role("button", name="Run", exact=True).click()
        page.wait_for_url("**/pipelines/stamp/run")

        # a mistake first: the error is shown next to its field, and what was typed stays
        page.locator("#in-table").fill("my_workspace/missing.csv")
        page.locator("#in-times").fill("3")
        page.locator("#in-mode").select_option("precise")
        page.get_by_role("button", name="Start the run").click()
        expect(page.locator("#error-table")).to_contain_text("missing.csv")
        expect(page.locator("#in-times")).to_have_value("3")

        # the folder browser fills in the path
        page.get_by_role("button", name="Browse for Table to stamp").click()
        page.locator(".path-picker").get_by_role("button", name="table.csv").click()
        expect(page.locator("#in-table")).to_have_value("my_workspace/table.csv")
        # ... and an upload goes to my_workspace/uploads/ and fills in its path
        upload = tmp_path / "fresh table.csv"
        upload.write_text("x,y\n3,4\n")
        page.locator("#upload-table").set_input_files(str(upload))
        expect(page.locator("#in-table")).to_have_value("my_workspace/uploads/fresh table.csv")
        page.get_by_role("button", name="Start the run").click()
        page.wait_for_url("**/runs/r_*")

        expect(page.locator("#run-state")).to_have_text(re.compile("^(completed|failed|stopped)$"), timeout=120_000)
        assert page.locator("#run-state").text_content() == "completed", page.locator("#run-reason").text_content()
        step = page.locator("#run-steps tbody tr").first
        expect(step).to_contain_text("1 / 1 done")
        assert step.locator("progress").evaluate("bar => bar.value === bar.max")
        row = page.locator("#run-jobs tbody tr").first
        expect(row).to_contain_text("completed")
        expect(row.get_by_role("link", name="stamped.txt")).to_be_visible()  # an intermediate output
        row.get_by_role("button", name="Log").click()
        expect(page.locator("#run-log")).to_contain_text("stamped 3 times (precise)")
        expect(page.locator("#run-outputs")).to_contain_text("stamped.txt")
        expect(page.get_by_role("link", name="Download provenance")).to_be_visible()

        page.get_by_role("link", name="Runs", exact=True).click()
        page.wait_for_url("**/runs")
        expect(page.locator("#runs tbody tr").first).to_contain_text("completed")
        run_id = page.locator("#runs tbody tr").first.get_attribute("data-run")
        stamped = workspace / "pipelines" / run_id / "stamped.txt"
        assert stamped.read_text() == "precise 1\nprecise 2\nprecise 3\nx,y\n3,4\n"
    finally:
        page.close()
        app.state.pipeline_supervisor.shutdown()
        _stop_drivers(settings)
