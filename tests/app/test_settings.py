"""One typed settings object: every variable read once from the environment, typed, with its default
written in one place; nothing else in ``server/`` reads a setting with a default of its own."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from server.config import ConfigError, Settings, load_config
from server.sync.settings import EngineSettings

ROOT = Path(__file__).resolve().parents[2]
KEYS = {f.metadata["key"] for f in dataclasses.fields(Settings)}
ENV_NAMES = {f.metadata["env"] for f in dataclasses.fields(Settings)}


def test_the_engine_takes_the_same_object():
    assert EngineSettings is Settings


def test_the_environment_is_read_typed():
    settings = Settings.from_env({
        "HTTP_TIMEOUT_S": "7.5", "WORKER_MAX_ATTEMPTS": "3", "TRELLO_TOKEN_LIMIT": "50/5", "RATE_LIMITS_ENABLED": "0",
        "METRICS_ENABLED": "1", "PUBLIC_BASE_URL": "https://leads.example.com/", "FORCE_HTTPS": "off",
        "POWERUP_FRAME_ANCESTORS": "https://trello.com/, https://x.example", "WORKER_CONCURRENCY": "3",
        "APP_ENV": "production", "LOG_LEVEL": "",
    })
    assert (settings.http_timeout_s, settings.max_attempts, settings.trello_token_limit) == (7.5, 3, (50, 5.0))
    assert settings.rate_limits_enabled is False and settings.metrics_enabled is True
    assert settings.public_base_url == "https://leads.example.com" and settings.force_https is False
    assert settings.powerup_frame_ancestors == ("https://trello.com", "https://x.example")
    assert settings.concurrency == 3 and settings.log_format == "json" and settings.log_level == "INFO"


def test_unset_variables_take_the_defaults():
    settings = Settings.from_env({})
    assert settings == dataclasses.replace(Settings(), log_format="console")
    assert settings.http_timeout_s == 20.0 and settings.force_https is None and settings.concurrency == 2
    assert Settings.from_config({"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://h/db"}).concurrency == 2


@pytest.mark.parametrize("name, value, message", [
    ("HTTP_TIMEOUT_S", "soon", "HTTP_TIMEOUT_S must be a number, got 'soon'"),
    ("TRELLO_KEY_LIMIT", "300", "TRELLO_KEY_LIMIT must be requests/seconds, like 100/10, got '300'"),
])
def test_a_value_that_cannot_be_read_is_one_line(name, value, message):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({name: value})
    assert error.value.message == message


def test_the_flask_config_holds_every_setting_typed_and_reads_back_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKER_LEASE_S", "5")
    monkeypatch.setenv("SHEETS_READ_LIMIT", "30/60")
    config = load_config(str(tmp_path), {"HTTP_TIMEOUT_S": 0.5, "RATE_LIMITS_ENABLED": False})
    assert KEYS <= set(config)
    assert (config["WORKER_LEASE_S"], config["SHEETS_READ_LIMIT"], config["HTTP_TIMEOUT_S"]) == (5.0, (30, 60.0), 0.5)
    settings = Settings.from_config(config)
    assert settings.as_config() == {key: config[key] for key in KEYS}
    assert settings.outbound_timeout_s(15.0) == 0.5 and Settings().outbound_timeout_s(15.0) == 15.0


def _defaults_and_environment_reads(path: Path, root: Path = ROOT) -> list[str]:
    """Reads of a setting outside the settings object: ``config.get("NAME", default)`` and
    ``os.environ.get("NAME")`` / ``os.environ["NAME"]`` / ``os.getenv("NAME")``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name, func = node.args[0].value, node.func
            if not isinstance(name, str) or not isinstance(func, ast.Attribute):
                continue
            environ = ast.unparse(func.value) in ("os.environ", "environ") or ast.unparse(func) == "os.getenv"
            if name in ENV_NAMES | KEYS and (environ or (func.attr == "get" and len(node.args) == 2)):
                found.append(f"{path.relative_to(root)}:{node.lineno} {ast.unparse(node)}")
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ" \
                and isinstance(node.slice, ast.Constant) and node.slice.value in ENV_NAMES:
            found.append(f"{path.relative_to(root)}:{node.lineno} {ast.unparse(node)}")
    return found


def test_no_module_reads_a_setting_with_a_default_of_its_own():
    modules = [path for path in sorted((ROOT / "server").rglob("*.py")) if path != ROOT / "server" / "config.py"]
    assert [read for path in modules for read in _defaults_and_environment_reads(path)] == []


def test_the_check_sees_both_kinds_of_read(tmp_path):
    module = tmp_path / "module.py"
    module.write_text("import os\n"
                      "a = config.get('HTTP_TIMEOUT_S', 20.0)\n"
                      "b = os.environ.get('FORCE_HTTPS')\n"
                      "c = config.get('HTTP_TIMEOUT_S')\n"
                      "d = os.environ['APP_ENV']\n"
                      "e = other.get('HTTP_TIMEOUT', 1)\n")
    assert [line.split(" ")[0] for line in _defaults_and_environment_reads(module, tmp_path)] == [
        "module.py:2", "module.py:3", "module.py:5"]
