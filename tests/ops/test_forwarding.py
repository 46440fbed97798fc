"""Forwarding headers (``X-Forwarded-Proto``, ``SCRIPT_NAME``) are believed only from the proxies named
in ``FORWARDED_ALLOW_IPS`` (loopback by default), and a ``SCRIPT_NAME`` header from anyone else neither
moves the routing nor makes a 500."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from gunicorn.config import Config

from tests.conftest import make_app
from tests.ops.test_deploy import free_port, stop, wait_for

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "gunicorn.conf.py"
VENV_BIN = Path(sys.executable).parent


def load_conf(monkeypatch, **env: str) -> dict:
    for name in ("FORWARDED_ALLOW_IPS", "SCRIPT_NAME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def gunicorn_config(settings: dict) -> Config:
    """What gunicorn makes of the file's settings (its own validators)."""
    config = Config()
    for name in ("forwarded_allow_ips", "forwarder_headers"):
        if name in settings:
            config.set(name, settings[name])
    return config


def test_the_default_trusts_only_loopback(monkeypatch):
    settings = load_conf(monkeypatch)
    assert settings["forwarded_allow_ips"] == "127.0.0.1,::1"
    config = gunicorn_config(settings)
    assert config.forwarded_allow_ips == ["127.0.0.1", "::1"]
    assert config.forwarder_headers == ["SCRIPT_NAME", "PATH_INFO"], "a trusted proxy may still set a prefix"


def test_a_named_proxy_is_trusted_for_both_kinds_of_header(monkeypatch):
    settings = load_conf(monkeypatch, FORWARDED_ALLOW_IPS="10.0.0.5, 172.16.0.0/12")
    config = gunicorn_config(settings)
    assert config.forwarded_allow_ips == ["10.0.0.5", "172.16.0.0/12"]
    assert config.forwarder_headers == ["SCRIPT_NAME", "PATH_INFO"]


def test_trusting_everyone_still_takes_no_path_prefix_from_a_header(monkeypatch):
    """``*`` (Heroku's router) trusts the scheme headers the router sets, but any client could send a
    ``SCRIPT_NAME`` header through it: those are not taken then (use the SCRIPT_NAME variable)."""
    config = gunicorn_config(load_conf(monkeypatch, FORWARDED_ALLOW_IPS="*"))
    assert config.forwarded_allow_ips == ["*"]
    assert config.forwarder_headers == []


@pytest.fixture
def serve(tmp_path):
    """Start the Procfile's gunicorn on an SQLite database with ``FORWARDED_ALLOW_IPS`` set as asked."""
    from server.crypto import generate_key

    database = f"sqlite:///{tmp_path / 'app.db'}"
    app = make_app(database)   # migrated once here
    with app.app_context():
        from server.extensions import db

        db.engine.dispose()
    started: list[subprocess.Popen] = []

    def start(allow: str | None) -> str:
        port = free_port()
        env = {"PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", "LANG": "C.UTF-8",
               "HOME": os.environ.get("HOME", str(tmp_path)), "PORT": str(port), "DATABASE_URL": database,
               "APP_ENV": "production", "SECRET_KEY": "forwarding-test-secret-0123456789",
               "TOKEN_ENCRYPTION_KEY": generate_key(), "PUBLIC_BASE_URL": f"https://127.0.0.1:{port}",
               "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "2", "LOG_LEVEL": "WARNING",
               "INSTANCE_PATH": str(tmp_path / "instance")}
        if allow is not None:
            env["FORWARDED_ALLOW_IPS"] = allow
        log = tmp_path / f"web-{port}.log"
        proc = subprocess.Popen(["/bin/sh", "-c", 'exec gunicorn --config gunicorn.conf.py "server:create_app()"'],
                                cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        started.append(proc)
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: requests.get(base + "/health", timeout=2).status_code == 200, 30, "gunicorn",
                 {"web": (proc, log)})
        return base

    yield start
    for proc in started:
        stop(proc)


def test_an_untrusted_client_cannot_set_the_scheme_or_the_prefix(serve):
    base = serve("192.0.2.1")     # loopback is not the proxy: our own requests are "a client's"
    https = {"X-Forwarded-Proto": "https"}
    login = requests.get(base + "/app/login", headers=https, allow_redirects=False, timeout=5)
    assert login.status_code == 302 and login.headers["Location"].startswith("https://"), \
        "production redirects to HTTPS: the header was not believed"
    prefixed = {"SCRIPT_NAME": "/elsewhere"}
    assert requests.get(base + "/health", headers=prefixed, timeout=5).status_code == 200, "no 500"
    # had the prefix been taken this would be the /health probe (200); it is still a page to redirect
    moved = requests.get(base + "/elsewhere/health", headers=prefixed, allow_redirects=False, timeout=5)
    assert moved.status_code == 302, "routing did not move"
    assert requests.utils.urlparse(moved.headers["Location"]).path == "/elsewhere/health"


def test_a_trusted_proxy_sets_the_scheme_but_trusting_everyone_takes_no_prefix(serve):
    base = serve("*")
    login = requests.get(base + "/app/login", headers={"X-Forwarded-Proto": "https"}, allow_redirects=False,
                         timeout=5)
    assert login.status_code == 200, "the router's X-Forwarded-Proto is believed"
    prefixed = {"SCRIPT_NAME": "/elsewhere", "X-Forwarded-Proto": "https"}
    health = requests.get(base + "/health", headers=prefixed, timeout=5)
    assert health.status_code == 200, (health.status_code, health.text[:200])
    moved = requests.get(base + "/elsewhere/health", headers=prefixed, allow_redirects=False, timeout=5)
    assert moved.status_code == 404, "routing did not move"
