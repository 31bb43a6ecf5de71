"""The reference pages in docs/ are generated from the code and must not drift from it."""

from pathlib import Path

import pytest

from datalabs import docs

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("name", ["settings.md", "api.md", "cli.md"])
def test_reference_page_is_up_to_date(name):
    generated = docs.pages()[name]
    assert (DOCS / name).read_text() == generated, f"docs/{name} is stale: run `datalabs docs`"


def test_every_api_route_and_setting_is_documented():
    api = (DOCS / "api.md").read_text()
    for path in ("/api/v1/content/{path}", "/api/v1/files/{path}", "/api/v1/tokens", "/api/v1/datasets"):
        assert f" {path}`" in api
    from datalabs.settings import Settings

    settings_page = (DOCS / "settings.md").read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no help text"
        assert f"`DATALABS_{name.upper()}`" in settings_page
