"""Settings: ``DATALABS_*`` environment variables override a TOML file, which overrides the
defaults; sizes are written for people; a broken file is a clear error; docs/settings.md is the
output of ``datalabs settings --markdown``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from datalabs.cli import main as cli
from datalabs.settings import Settings, settings_markdown
from datalabs.sizes import format_size, parse_size

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for key in list(os.environ):
        if key.startswith("DATALABS_"):
            monkeypatch.delenv(key)


def test_defaults(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert settings.user_quota == 10 * 1024**3
    assert settings.team_quota == 50 * 1024**3
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.anonymous_browse is True and settings.cookie_secure == "auto"
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path / 'datalabs.sqlite3'}"
    assert settings.workspaces_dir == tmp_path / "workspaces"
    assert settings.base_url == "http://127.0.0.1:8000"


def test_toml_in_the_data_dir_overrides_defaults(tmp_path):
    (tmp_path / "datalabs.toml").write_text('port = 9000\nuser_quota = "2G"\nanonymous_browse = false\n'
                                            'public_url = "https://lab.example.org/"\n')
    settings = Settings(data_dir=tmp_path)
    assert settings.port == 9000
    assert settings.user_quota == 2 * 1024**3
    assert settings.anonymous_browse is False
    assert settings.base_url == "https://lab.example.org"
    assert settings.team_quota == 50 * 1024**3  # untouched: the default


def test_environment_overrides_the_toml_file(tmp_path, monkeypatch):
    (tmp_path / "datalabs.toml").write_text('port = 9000\nuser_quota = "2G"\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("DATALABS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATALABS_PORT", "9100")
    monkeypatch.setenv("DATALABS_USER_QUOTA", "1M")
    settings = Settings()
    assert settings.data_dir == tmp_path
    assert settings.port == 9100
    assert settings.user_quota == 1024 * 1024
    assert settings.host == "0.0.0.0"  # only in the file


def test_explicit_values_override_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DATALABS_PORT", "9100")
    assert Settings(data_dir=tmp_path, port=9200).port == 9200  # e.g. `datalabs serve --port`


def test_config_file_named_by_the_environment(tmp_path, monkeypatch):
    config = tmp_path / "elsewhere.toml"
    config.write_text('log_level = "debug"\nteam_quota = "500M"\n')
    (tmp_path / "datalabs.toml").write_text('log_level = "error"\n')  # not read: the named file wins
    monkeypatch.setenv("DATALABS_CONFIG_FILE", str(config))
    settings = Settings(data_dir=tmp_path)
    assert settings.log_level == "debug"
    assert settings.team_quota == 500 * 1024**2


def test_invalid_toml_is_a_clear_error(tmp_path):
    (tmp_path / "datalabs.toml").write_text('port = 9000\nuser_quota = "2G\n')
    with pytest.raises(ValueError) as caught:
        Settings(data_dir=tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "datalabs.toml") in message
    assert "line 2" in message


def test_missing_config_file_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("DATALABS_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ValueError, match="nope.toml does not exist"):
        Settings(data_dir=tmp_path)


@pytest.mark.parametrize(("content", "name"), [
    ("colour = 'blue'\n", "colour"),
    ("port = 'eighty'\n", "port"),
    ("user_quota = 'lots'\n", "user_quota"),
    ("user_quota = true\n", "user_quota"),
    ("cookie_secure = 'sometimes'\n", "cookie_secure"),
    ("log_level = 'chatty'\n", "log_level"),
])
def test_invalid_values_in_the_file_name_the_setting(tmp_path, content, name):
    (tmp_path / "datalabs.toml").write_text(content)
    with pytest.raises(ValueError) as caught:
        Settings(data_dir=tmp_path)
    assert name in str(caught.value)


def test_invalid_environment_value_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("DATALABS_TEAM_QUOTA", "plenty")
    with pytest.raises(ValueError) as caught:
        Settings(data_dir=tmp_path)
    assert "team_quota" in str(caught.value) and "not a size" in str(caught.value)


def test_cli_reports_a_broken_file_without_a_traceback(tmp_path):
    (tmp_path / "datalabs.toml").write_text("[[[\n")
    result = CliRunner().invoke(cli, ["settings", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "invalid settings" in result.output and "datalabs.toml" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("text", "size"), [
    ("0", 0), ("1024", 1024), (4096, 4096), ("10K", 10 * 1024), ("500M", 500 * 1024**2), ("10G", 10 * 1024**3),
    ("10g", 10 * 1024**3), ("10GB", 10 * 1024**3), ("10GiB", 10 * 1024**3), (" 10 G ", 10 * 1024**3),
    ("1.5T", int(1.5 * 1024**4)), ("2P", 2 * 1024**5), ("7B", 7),
])
def test_sizes_parse(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "ten", "10X", "-1", -1, "1e9", "10 G B", "1,5G", "0x10", True, False,
                                  2**63, "8192P", "99999999999999999999"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_sizes_format():
    assert format_size(None) == "-"
    assert format_size(0) == "0 B"
    assert format_size(1023) == "1023 B"
    assert format_size(1536) == "1.5 KiB"
    assert format_size(10 * 1024**3) == "10.0 GiB"
    assert format_size(3 * 1024**5) == "3072.0 TiB"


def test_postgres_url_uses_psycopg(tmp_path):
    settings = Settings(data_dir=tmp_path, database_url="postgresql://u:p@h:5432/d")
    assert settings.sqlalchemy_url == "postgresql+psycopg://u:p@h:5432/d"


def test_secret_key_file_is_private_and_stable(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    key = settings.signing_key()
    assert len(key) >= 32
    key_file = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Settings(data_dir=tmp_path / "data").signing_key() == key
    assert Settings(data_dir=tmp_path / "data", secret_key="given").signing_key() == "given"


def test_every_setting_has_help_text():
    for name, field in Settings.model_fields.items():
        assert field.description and len(field.description) > 10, name


def test_docs_settings_page_is_up_to_date():
    result = CliRunner().invoke(cli, ["settings", "--markdown"])
    assert result.exit_code == 0
    page = (ROOT / "docs" / "settings.md").read_text()
    assert page == result.stdout, "docs/settings.md is stale: run `datalabs settings --markdown > docs/settings.md`"
    for name in Settings.model_fields:
        assert f"`DATALABS_{name.upper()}`" in page
    assert settings_markdown() == page
