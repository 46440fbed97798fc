"""App factory, configuration, health probes and error answers."""

from __future__ import annotations

import pytest

from server import ConfigError, create_app
from server.config import normalise_database_url


def test_health_and_ready(client):
    assert client.get("/health").get_json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.get_json()["database"] == "ok"
    # No sync worker has beaten yet, so not ready (tests/metrics/test_ready.py covers the rest).
    assert ready.status_code == 503 and "worker" in ready.get_json()["reason"]


def test_unknown_route_and_method_answer_json(client):
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.is_json and missing.get_json()["error"]["code"] == 404
    wrong_method = client.delete("/health")
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["error"]["code"] == 405
    assert "GET" in wrong_method.headers["Allow"]


def test_oversized_body_is_refused(sqlite_url):
    from tests.conftest import make_app

    app = make_app(sqlite_url, MAX_CONTENT_LENGTH=1024)

    @app.post("/echo-size")
    def echo_size():  # type: ignore[no-untyped-def]
        from flask import request

        return {"size": len(request.get_data())}

    response = app.test_client().post("/echo-size", data=b"x" * 4096)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == 413


@pytest.mark.parametrize(
    "given, expected",
    [
        ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_url_normalisation(given, expected):
    assert normalise_database_url(given) == expected


def test_bad_database_url_fails_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as not_a_url:
        create_app({"SQLALCHEMY_DATABASE_URI": "definitely not a url"})
    assert "DATABASE_URL" in not_a_url.value.message and "\n" not in str(not_a_url.value)
    with pytest.raises(ConfigError) as unsupported:
        create_app({"SQLALCHEMY_DATABASE_URI": "mysql://u@h/db"})
    assert "only sqlite and postgresql" in unsupported.value.message
    with pytest.raises(ConfigError) as unreachable:
        create_app({"SQLALCHEMY_DATABASE_URI": "postgresql://nobody@127.0.0.1:1/none"})
    assert "cannot connect to DATABASE_URL" in unreachable.value.message
    assert "\n" not in str(unreachable.value)


def test_production_refuses_default_secret_key(monkeypatch, sqlite_url):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError) as err:
        create_app({"SQLALCHEMY_DATABASE_URI": sqlite_url})
    assert "SECRET_KEY" in str(err.value)
    with pytest.raises(ConfigError) as err:
        create_app({"SQLALCHEMY_DATABASE_URI": sqlite_url, "SECRET_KEY": "x" * 40})
    assert "TOKEN_ENCRYPTION_KEY" in str(err.value)


def test_production_starts_with_real_secrets(monkeypatch, sqlite_url):
    from server.crypto import generate_key

    monkeypatch.setenv("APP_ENV", "production")
    app = create_app({"SQLALCHEMY_DATABASE_URI": sqlite_url, "SECRET_KEY": "x" * 40,
                      "TOKEN_ENCRYPTION_KEY": generate_key()})
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_environment_configures_provider_urls(monkeypatch, sqlite_url):
    monkeypatch.setenv("TRELLO_API_BASE_URL", "http://127.0.0.1:9/1/")
    monkeypatch.setenv("GOOGLE_SHEETS_API_BASE_URL", "http://127.0.0.1:9/v4")
    app = create_app({"SQLALCHEMY_DATABASE_URI": sqlite_url})
    assert app.config["TRELLO_API_BASE_URL"] == "http://127.0.0.1:9/1"
    assert app.config["GOOGLE_SHEETS_API_BASE_URL"] == "http://127.0.0.1:9/v4"
