"""A desktop datalab (TOPCAT under Xvfb, shown with noVNC) used in a real headless Chromium
through the platform's proxy, with the real local sandbox."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from datalabs.app import create_app
from tests.sessions.conftest import publish_lab
from tests.sessions.helpers import wait_for
from tests.sessions.test_local_sessions import stop_leftovers  # noqa: F401 - autouse cleanup
from tests.web.test_browser import CHROMIUM, browser, log_in  # noqa: F401 - the browser fixture

ROOT = Path(__file__).resolve().parents[2]
COUNT_COLOURS = """() => {
  const canvas = document.querySelector("canvas");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const seen = new Set();
  for (let i = 0; i < data.length; i += 4 * 97) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  return seen.size;
}"""

pytestmark = [
    pytest.mark.browser, pytest.mark.live,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
    pytest.mark.skipif(shutil.which("topcat") is None or shutil.which("Xvfb") is None,
                       reason="needs the Debian packages topcat, xvfb, x11vnc, novnc, websockify, openbox"),
]


@pytest.fixture
def app(settings):
    settings.backend = "local"
    return create_app(settings)


def test_topcat_shows_a_window_in_the_browser(app, live_server, browser, settings, session_factory, make_user,  # noqa: F811
                                            auth, tmp_path):
    make_user("alice")
    package = tmp_path / "topcat"
    shutil.copytree(ROOT / "examples" / "datalabs" / "topcat", package)
    publish_lab(settings, session_factory, package, "topcat", meta="keep")
    alice = auth("alice")
    with httpx.Client(base_url=live_server, timeout=30) as http:
        created = http.post("/api/v1/sessions", json={"datalab": "topcat", "memory": "1G"}, headers=alice)
        assert created.status_code == 201, created.text
        session_id = created.json()["id"]
        wait_for(http, session_id, alice, timeout=60)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(30_000)
    log_in(page, live_server, "alice", "/")
    page.goto(f"{live_server}/datalabs/{session_id}/")
    page.wait_for_url(lambda url: f"/datalabs/{session_id}/vnc.html?" in url)
    canvas = page.locator("canvas").first
    canvas.wait_for(state="visible")
    colours = 0
    for _ in range(60):  # the VNC picture arrives a moment after the canvas
        colours = page.evaluate(COUNT_COLOURS)
        if colours > 50:
            break
        page.wait_for_timeout(500)
    page.screenshot(path=str(tmp_path / "topcat.png"))
    assert colours > 50, f"the noVNC canvas looks blank ({colours} colours); see {tmp_path / 'topcat.png'}"
    # nobody else gets in
    assert httpx.get(f"{live_server}/datalabs/{session_id}/vnc.html", headers=auth("alice")).status_code == 200
    make_user("bob")
    assert httpx.get(f"{live_server}/datalabs/{session_id}/vnc.html", headers=auth("bob")).status_code == 404
