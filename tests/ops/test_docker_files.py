"""The Dockerfile, .dockerignore and docker-compose.yml, read as Docker would read them (no engine here)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
from pathlib import Path

import yaml
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("release", "web", "worker")


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, as Docker's parser reads them (continuations joined)."""
    parser = DockerfileParser(str(ROOT / "Dockerfile"))
    return [(step["instruction"], step["value"].strip()) for step in parser.structure
            if step["instruction"] != "COMMENT"]


def entrypoint_commands() -> set[str]:
    text = (ROOT / "docker" / "entrypoint.sh").read_text()
    return set(re.findall(r"^\s+([a-z]+)\)\s+exec ", text, re.MULTILINE))


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_image_is_slim_runs_as_a_user_and_starts_through_the_entrypoint():
    steps = dockerfile()
    froms = [args for word, args in steps if word == "FROM"]
    assert froms and all(f.split()[0] == "python:3.11-slim" for f in froms)
    final = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    last_stage = steps[final:]
    users = [i for i, (word, _) in enumerate(last_stage) if word == "USER"]
    assert users, "the final stage sets no USER"
    user = last_stage[users[-1]][1]
    assert user not in ("root", "0") and not user.startswith("0:")
    assert any(word == "RUN" and "useradd" in args and user in args for word, args in last_stage)
    # nothing runs as root after the switch
    assert not [w for w, _ in last_stage[users[-1]:] if w in ("RUN", "COPY", "ADD")]
    entrypoint = json.loads(next(args for word, args in last_stage if word == "ENTRYPOINT"))
    workdir = next(args for word, args in last_stage if word == "WORKDIR")
    assert entrypoint == [f"{workdir}/docker/entrypoint.sh"]
    assert ("COPY", f". {workdir}") in last_stage
    script = ROOT / "docker" / "entrypoint.sh"
    assert os.access(script, os.X_OK) and script.read_text().startswith("#!/bin/sh\n")
    assert json.loads(next(args for word, args in last_stage if word == "CMD")) == ["web"]
    # dependencies are installed from requirements.txt alone, before the code (a cached layer)
    first_stage = steps[:final]
    assert any(word == "COPY" and "requirements.txt" in args for word, args in first_stage)
    assert any(word == "RUN" and "pip install -r" in args for word, args in first_stage)
    env = " ".join(args for word, args in last_stage if word == "ENV")
    assert "PORT=5000" in env and ("EXPOSE", "5000") in last_stage
    assert "PROMETHEUS_MULTIPROC_DIR=" in env


def test_entrypoint_commands_are_the_procfiles():
    assert entrypoint_commands() == {"web", "worker", "release", "demo"}
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())
    script = (ROOT / "docker" / "entrypoint.sh").read_text()
    for name in ("web", "worker", "release"):
        line = next(x for x in script.splitlines() if x.strip().startswith(f"{name})"))
        words = shlex.split(line.split("exec ", 1)[1].split(";;")[0].replace('"$@"', ""))
        assert words == shlex.split(procfile[name]), name


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule for patterns without ``!``: a path is left out when it or a parent matches."""
    parts = path.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        for end in range(1, len(parts) + 1):
            prefix = "/".join(parts[:end])
            if fnmatch.fnmatchcase(prefix, pattern):
                return True
            if pattern.startswith("**/") and any(fnmatch.fnmatchcase("/".join(parts[start:end]), pattern[3:])
                                                 for start in range(end)):
                return True
    return False


def test_dockerignore_keeps_what_runs_and_drops_the_rest():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert not [p for p in patterns if p.startswith("!")]
    needed = ["requirements.txt", "gunicorn.conf.py", "docker/entrypoint.sh", "server/__init__.py",
              "server/templates/base.html", "server/static/app.css", "migrations/env.py",
              "migrations/versions/0001_initial_schema.py", "powerup_static", "emulators/trello.py",
              "demo/run.py", "demo/templates/demo/index.html"]
    for path in needed:
        assert (ROOT / path).exists(), path
        assert not _ignored(path, patterns), path
    for path in (".git/HEAD", ".venv/bin/python", ".env", "tests/conftest.py", "instance/app.db",
                 "server/__pycache__/x.pyc", "apps_script/node_modules/x", "test-artifacts/shot.png", "leads.db"):
        assert _ignored(path, patterns), path


def test_compose_runs_release_before_web_and_worker_on_postgres():
    spec = compose()
    services = spec["services"]
    assert set(services) == {"db", "release", "web", "worker", "demo"}
    db = services["db"]
    assert db["image"] == "postgres:15"
    data_volume = next(v.split(":")[0] for v in db["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert data_volume in spec["volumes"]  # a named volume: the data outlives the container
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])

    release = services["release"]
    assert release["command"] == ["release"] and release["restart"] == "no"
    assert release["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("web", "worker"):
        assert services[name]["depends_on"] == {"release": {"condition": "service_completed_successfully"}}
        assert services[name]["command"] == [name]
        assert services[name]["restart"] == "unless-stopped"
    assert "/health" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["web"]["ports"] == ["127.0.0.1:${WEB_PORT:-5000}:5000"]
    assert {s["command"][0] for s in services.values() if "command" in s} <= entrypoint_commands()
    assert services["demo"]["profiles"] == ["demo"] and services["demo"]["command"] == ["demo"]
    assert all(services[name]["init"] is True for name in APP_SERVICES)  # signals reach the process


def test_compose_environment_is_settings_the_app_reads():
    services = compose()["services"]
    code = "\n".join(p.read_text() for p in [*(ROOT / "server").rglob("*.py"), ROOT / "gunicorn.conf.py"])
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env == services["web"]["environment"]  # one environment for every process
        assert env["DATABASE_URL"].startswith("postgresql://") and "@db:5432/" in env["DATABASE_URL"]
        assert env["APP_ENV"] == "production"
        for key in env:
            assert re.search(rf"['\"]{key}['\"]", code), f"{key} is read nowhere"
        for key in ("SECRET_KEY", "TOKEN_ENCRYPTION_KEY", "PUBLIC_BASE_URL", "TRELLO_API_KEY", "TRELLO_API_SECRET",
                    "GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "METRICS_ENABLED", "METRICS_TOKEN"):
            assert env[key] == f"${{{key}:-}}" or env[key].startswith(f"${{{key}:-"), key


def test_web_and_worker_share_the_metrics_directory():
    spec = compose()
    services = spec["services"]
    mounts = {}
    for name in ("web", "worker"):
        directory = services[name]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        volume = next(v.split(":")[0] for v in services[name]["volumes"] if v.split(":")[1] == directory)
        mounts[name] = volume
    assert mounts["web"] == mounts["worker"] and mounts["web"] in spec["volumes"]
    assert services["release"]["volumes"] == []  # a one-shot process leaves no samples behind
