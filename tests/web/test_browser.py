"""The file browser in a real headless Chromium (Debian's), against a real uvicorn server."""

from __future__ import annotations

import os

import pytest

from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.live,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium (scripts/setup installs it)"),
]


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def log_in(page, live_server: str, name: str, target: str) -> None:
    """Log in through the login form and land on ``target``."""
    page.goto(f"{live_server}/login?next={target}")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server}{target}")


def test_upload_list_download_and_log_out(browser, live_server, make_user, tmp_path):
    from playwright.sync_api import expect

    make_user("alice", teams={"rosetta": True})
    page = browser.new_page(accept_downloads=True, viewport={"width": 1200, "height": 800})
    page.set_default_timeout(15_000)

    log_in(page, live_server, "alice", "/browse/my_workspace")
    expect(page.get_by_role("heading", level=1)).to_have_text("my_workspace")

    content = b"datalabs upload test\n" + bytes(range(256)) * 64
    upload = tmp_path / "spectrum data.bin"
    upload.write_bytes(content)
    page.get_by_label("Upload files to this folder").set_input_files(str(upload))
    row = page.locator('#listing tr[data-name="spectrum data.bin"]')
    expect(row).to_be_visible()
    expect(page.locator("#upload-list li").first).to_contain_text("done")
    expect(row).to_contain_text("16.0 KiB")

    # Uploading the same name again is refused with the API's message, and can overwrite.
    upload.write_bytes(content + b"more")
    page.get_by_label("Upload files to this folder").set_input_files(str(upload))
    expect(page.locator("#upload-list [role=alert]")).to_contain_text("already exists")
    page.get_by_role("button", name="Overwrite spectrum data.bin").click()
    expect(page.locator("#upload-list li").first).to_contain_text("done")
    content += b"more"

    page.get_by_role("button", name="New folder").click()
    page.get_by_label("Folder name").fill("results")
    page.get_by_role("button", name="Create").click()
    expect(page.locator('#listing tr[data-name="results"]')).to_be_visible()
    page.screenshot(path=str(tmp_path / "file-browser.png"), full_page=True)

    with page.expect_download() as info:
        row.get_by_role("link", name="Download").click()
    download = info.value
    assert download.suggested_filename == "spectrum data.bin"
    assert open(download.path(), "rb").read() == content

    page.get_by_role("button", name="Rename or move spectrum data.bin").click()
    page.get_by_label("New path").fill("my_workspace/results/spectrum.bin")
    page.get_by_role("button", name="Save").click()
    expect(row).to_have_count(0)
    page.locator('#listing a:has-text("results")').click()
    page.wait_for_url("**/browse/my_workspace/results")
    moved = page.locator('#listing tr[data-name="spectrum.bin"]')
    expect(moved).to_be_visible()
    page.get_by_role("button", name="Delete spectrum.bin").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Delete").click()
    expect(moved).to_have_count(0)
    expect(page.locator("#listing")).to_contain_text("This folder is empty")

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    page.goto(f"{live_server}/browse/my_workspace")
    assert page.url.startswith(f"{live_server}/login?next=")
    expect(page.get_by_role("heading", name="Log in to datalabs")).to_be_visible()


def test_pages_fit_a_phone_screen(browser, live_server, make_user, make_volume, token_for, tmp_path):
    make_user("alice", teams={"rosetta": True})
    token_for("alice")
    make_volume("pds", title="PDS samples", files={"data/readme.txt": "hello"})
    page = browser.new_page(viewport={"width": 375, "height": 740})
    page.set_default_timeout(15_000)
    log_in(page, live_server, "alice", "/browse/data/pds/data")
    page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    for path in ["/browse/data/pds/data", "/", "/volumes", "/browse/my_workspace", "/account", "/teams/rosetta"]:
        page.goto(live_server + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} scrolls sideways at phone width ({width}px)"


def test_drop_upload_and_quota_error(browser, live_server, make_user, session_factory):
    from playwright.sync_api import expect

    from datalabs.accounts.service import AccountService

    make_user("alice")
    with session_factory() as session:
        AccountService(session).set_user_quota("alice", 1000)
    page = browser.new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_server, "alice", "/browse/my_workspace")

    page.evaluate("""() => {
        const data = new DataTransfer();
        data.items.add(new File(["dropped content"], "dropped.txt", {type: "text/plain"}));
        const target = document.getElementById("browser");
        for (const type of ["dragenter", "dragover", "drop"]) {
            target.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
        }
    }""")
    expect(page.locator('#listing tr[data-name="dropped.txt"]')).to_be_visible()
    expect(page.locator("#usage")).to_contain_text("15 B of 1000 B")

    page.get_by_label("Upload files to this folder").set_input_files(
        [{"name": "big.bin", "mimeType": "application/octet-stream", "buffer": b"x" * 5000}])
    alert = page.locator("#upload-list [role=alert]")
    expect(alert).to_contain_text("not enough room")
    expect(page.locator('#listing tr[data-name="big.bin"]')).to_have_count(0)


def test_an_upload_over_quota_is_refused_with_the_quota_message(browser, live_server, make_user, settings, tmp_path):
    from playwright.sync_api import expect

    settings.user_quota = 10_000  # the live server reads the same settings object
    make_user("alice")
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.set_default_timeout(15_000)
    log_in(page, live_server, "alice", "/browse/my_workspace")

    sent = []
    page.on("request", lambda request: sent.append(request.method) if "/api/v1/content/" in request.url else None)
    big = tmp_path / "cube.fits"
    big.write_bytes(b"\0" * 50_000)
    page.get_by_label("Upload files to this folder").set_input_files(str(big))
    expect(page.locator("#upload-list [role=alert]")).to_contain_text("not enough room in my_workspace")
    assert sent == []  # refused in the page: a large body is never sent only to be cut off
    expect(page.locator('#listing tr[data-name="cube.fits"]')).to_have_count(0)
    assert not any((settings.workspaces_dir / "users" / "alice").iterdir())


def test_a_datalab_page_shows_its_build_log_and_status(browser, live_server, make_user, auth, settings):
    import io
    import zipfile

    import httpx
    from playwright.sync_api import expect

    settings.build_environments = True  # the live server shares this settings object
    make_user("alice", role="developer")
    meta = ("title: Six lab\nalternateName: sixlab\nabstract: A\ndistribution.license: MIT\nversion: 1.0\n"
            "runtime:\n  kind: web\n  command: [six-app, '{port}']\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("datalab-meta.yml", meta)
        bundle.writestr("requirements.txt", "six==1.16.0\n")
    imported = httpx.post(f"{live_server}/api/v1/datalabs/import/zip", content=buffer.getvalue(),
                          headers=auth("alice"), timeout=60)
    assert imported.status_code == 201, imported.text

    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.set_default_timeout(60_000)
    log_in(page, live_server, "alice", "/datalabs/sixlab")
    expect(page.locator("#build-status")).to_have_text("ready")
    page.get_by_text("Build log").click()
    expect(page.locator("#build-log")).to_contain_text("six")


def test_launch_a_datalab_follow_its_progress_and_open_it(browser, app, live_server, make_user, settings,
                                                          session_factory, tmp_path):
    from playwright.sync_api import expect

    from tests.sessions.conftest import publish_lab

    app.state.backend.behaviour, app.state.backend.delay = "slow", 1.5  # the fake datalab answers after 1.5 s
    publish_lab(settings, session_factory, tmp_path / "tiny-package")
    make_user("alice", teams={"rosetta": False})
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(20_000)
    log_in(page, live_server, "alice", "/datalabs/tiny")

    page.get_by_role("button", name="Launch").click()
    page.wait_for_url("**/datalabs/tiny/launch")
    expect(page.locator("#cpu-help")).to_contain_text("up to 2 CPUs")
    expect(page.locator("#session-count")).to_contain_text("You have 0 of 2 sessions running")
    expect(page.get_by_label("team_workspaces/rosetta")).to_be_checked()
    page.get_by_label("CPUs").fill("1")
    page.get_by_label("Memory").select_option(label="512.0 MiB")
    page.screenshot(path=str(tmp_path / "launch.png"), full_page=True)
    page.locator("#launch-submit").click()

    page.wait_for_url("**/sessions/s_*")
    session_id = page.url.rsplit("/", 1)[1]
    open_button = page.get_by_role("button", name="Open")
    expect(open_button).to_be_hidden()  # still starting when the page was made: what follows comes live
    expect(page.locator("#session-state")).to_have_text("running")
    expect(page.locator("#session-progress")).to_have_attribute("value", "100")
    expect(page.locator("#session-events li").first).to_contain_text("launch of tiny 1.0 accepted (1 CPU, 512.0 MiB)")
    expect(page.locator("#session-events li").last).to_contain_text("running")
    expect(open_button).to_be_visible()
    expect(page.locator("#session-started")).not_to_have_text("–")
    expect(page.locator("#session-log")).to_contain_text("fake start")
    page.screenshot(path=str(tmp_path / "session.png"), full_page=True)

    page.goto(f"{live_server}/sessions")
    expect(page.locator(f'tr[data-session="{session_id}"]')).to_contain_text("running")
    page.goto(f"{live_server}/sessions/{session_id}")
    page.get_by_role("button", name="Open").click()
    page.wait_for_url(f"**/datalabs/{session_id}/")
    expect(page.locator("body")).to_contain_text(f"fake datalab {session_id}")

    page.goto(f"{live_server}/sessions/{session_id}")
    page.get_by_role("button", name="Destroy").click()
    page.locator("#confirm-dialog").get_by_role("button", name="Destroy").click()
    expect(page.locator("#session-state")).to_have_text("stopped")
    expect(page.locator("#session-reason")).to_contain_text("destroyed by you")
