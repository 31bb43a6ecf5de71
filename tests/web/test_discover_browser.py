"""The discovery page in a real headless Chromium, against a real uvicorn server: suggestions while typing (keyboard
and mouse), a search, a facet checkbox that narrows at once, the sort menu, "Open in datalab" with its dialog
leading to the launch form with the volume checked, and a result opened."""

from __future__ import annotations

import re


from tests.archive.conftest import scan_volume  # noqa: F401 - a fixture of the world
from tests.discovery.conftest import world  # noqa: F401 - the fixture
from tests.web.test_discover_pages import cheap_passwords, new_user  # noqa: F401 - fixtures (users who log in)
from tests.web.test_browser import browser, log_in, pytestmark  # noqa: F401 - the fixture and the marks


def test_search_narrow_and_open_from_the_page(browser, live_server, world):  # noqa: F811
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.set_default_timeout(20_000)
    try:
        log_in(page, live_server, "alice", "/discover")
        expect(page.get_by_role("heading", level=1)).to_have_text("Discover")
        count = page.locator("#result-count")
        expect(count).to_contain_text("10 results")  # alice: team mars's draft datalab and embargoed volume too
        hits = page.locator("article.discover-hit")

        # suggestions while typing: a facet value and asset titles; Escape closes the list
        box = page.get_by_role("combobox", name="Search")
        box.press_sequentially("insi", delay=40)
        suggestions = page.get_by_role("listbox", name="Suggestions")
        expect(suggestions).to_be_visible()
        expect(suggestions.get_by_role("option").first).to_be_visible()
        expect(suggestions).to_contain_text("InSight RAD")
        expect(box).to_have_attribute("aria-expanded", "true")
        box.press("Escape")
        expect(suggestions).to_be_hidden()
        expect(box).to_have_attribute("aria-expanded", "false")

        # a mission suggestion adds its filter (keyboard: down to it, Enter)
        box.fill("")
        box.press_sequentially("mess", delay=40)
        option = suggestions.get_by_role("option").filter(has_text="MESSENGER").filter(has_text="mission")
        expect(option).to_be_visible()
        options = suggestions.get_by_role("option")
        index = [o.text_content() for o in options.all()].index(option.text_content())
        for _ in range(index + 1):
            box.press("ArrowDown")
        expect(option).to_have_attribute("aria-selected", "true")
        box.press("Enter")
        page.wait_for_url(re.compile(r".*/discover\?.*facet=mission%3AMESSENGER"))
        expect(page.get_by_role("checkbox", name=re.compile(r"^MESSENGER"))).to_be_checked()
        expect(count).to_contain_text("3 results")  # the volume mdis and its two data sets
        expect(box).to_have_value("")

        # unchecking the filter searches again at once (no Apply button with the script)
        expect(page.locator("#discover-apply")).to_be_hidden()
        page.get_by_role("checkbox", name=re.compile(r"^MESSENGER")).uncheck()
        expect(count).to_contain_text("10 results")

        # a search, then a facet checkbox narrows it (the count changes), and the sort menu applies at once
        box.fill("insight")
        box.press("Enter")
        page.wait_for_url(re.compile(r".*/discover\?q=insight.*"))
        expect(count).to_contain_text("4 results")
        expect(hits.first.locator("mark").first).to_be_visible()
        page.get_by_role("checkbox", name=re.compile(r"^Data set")).check()
        page.wait_for_url(re.compile(r".*facet=asset_type%3Adataset.*"))
        expect(count).to_contain_text("3 results")
        page.get_by_label("Sort by").select_option("title")
        page.wait_for_url(re.compile(r".*sort=title.*"))
        titles = page.locator("a.hit-title").all_text_contents()
        assert titles == sorted(titles, key=str.lower) and len(titles) == 3
        expect(page.get_by_role("checkbox", name=re.compile(r"^Data set"))).to_be_checked()

        # an asset suggestion opens the asset's page (the mouse)
        box.fill("")
        box.press_sequentially("planetary arch", delay=40)
        lab = suggestions.get_by_role("option").filter(has_text="Planetary archive lab")
        expect(lab).to_be_visible()
        lab.click()
        page.wait_for_url(f"{live_server}/datalabs/psa-lab")

        # "Open in datalab": the dialog lists alice's datalabs, each opening its launch form with the volume checked
        page.goto(f"{live_server}/discover?facet=asset_type:volume")
        card = page.locator('article[data-key="volume:insight"]')
        card.get_by_role("button", name=re.compile(r"^Open in datalab")).click()
        dialog = page.locator("#open-dialog")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_role("heading")).to_contain_text("insight")
        expect(dialog.get_by_role("link", name="Secret comet lab")).to_be_visible()
        dialog.get_by_role("link", name="Planetary archive lab").click()
        page.wait_for_url(f"{live_server}/datalabs/psa-lab/launch?volume=insight")
        expect(page.locator('input[name="volumes"][value="insight"]')).to_be_checked()
        expect(page.locator('input[name="volumes"][value="mdis"]')).not_to_be_checked()

        # a result's title opens its page
        page.goto(f"{live_server}/discover?q=simple")
        page.get_by_role("link", name="Simple echo", exact=True).click()
        page.wait_for_url(f"{live_server}/pipelines/simple")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Simple echo")
    finally:
        page.close()
