"""``flask addon build``: a complete Apps Script project with this deployment's address built in,
which Node loads with the add-on's test fakes (``apps_script/testlib/load_built.js``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from server.addon.build import (
    BuildError,
    BuildOptions,
    build,
    code_js,
    normalise_server_url,
)

ADDON_DIR = Path(__file__).resolve().parents[2] / "apps_script"
SERVER = "https://leads.example.com/tools"


def _run_cli(app, *args: str):
    return app.test_cli_runner().invoke(args=["addon", "build", *args])


def test_the_build_command_writes_a_complete_project(app, tmp_path):
    out = tmp_path / "addon"
    result = _run_cli(app, "--out", str(out), "--server-url", SERVER + "/", "--script-id", "1" + "A" * 56)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [".clasp.json", "Code.js", "Sidebar.html", "appsscript.json"]
    manifest = json.loads((out / "appsscript.json").read_text())
    source = json.loads((ADDON_DIR / "appsscript.json").read_text())
    assert manifest["urlFetchWhitelist"] == [SERVER + "/"]
    assert manifest["oauthScopes"] == source["oauthScopes"]
    assert manifest["runtimeVersion"] == "V8"
    assert json.loads((out / ".clasp.json").read_text()) == {"scriptId": "1" + "A" * 56, "rootDir": "."}
    code = (out / "Code.js").read_text()
    assert 'var LEADS_SYNC_BUILD = {"serverUrl": "https://leads.example.com/tools", "editorAddon": true};' in code
    assert "YOUR-SERVER" not in (out / "appsscript.json").read_text()
    assert (out / "Sidebar.html").read_bytes() == (ADDON_DIR / "Sidebar.html").read_bytes()
    assert "clasp push" in result.output


def test_the_build_defaults_to_public_base_url_and_a_script_id_placeholder(sqlite_url, tmp_path):
    from tests.conftest import make_app

    app = make_app(sqlite_url, PUBLIC_BASE_URL="https://sync.example.org")
    out = tmp_path / "addon"
    result = _run_cli(app, "--out", str(out), "--bound")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "appsscript.json").read_text())["urlFetchWhitelist"] == ["https://sync.example.org/"]
    assert json.loads((out / ".clasp.json").read_text())["scriptId"] == "PASTE-THE-SCRIPT-ID-HERE"
    assert '"editorAddon": false' in (out / "Code.js").read_text()


@pytest.mark.parametrize("url", ["http://127.0.0.1:5000", "leads.example.com", "https://x.example.com/?a=1",
                                 "https://user:pw@x.example.com", ""])
def test_addresses_apps_script_cannot_fetch_are_refused(app, tmp_path, url):
    result = _run_cli(app, "--out", str(tmp_path / "out"), "--server-url", url)
    assert result.exit_code != 0
    assert "server address" in result.output
    assert not (tmp_path / "out").exists(), "nothing is written"


def test_a_bad_script_id_is_refused(app, tmp_path):
    result = _run_cli(app, "--out", str(tmp_path / "out"), "--server-url", SERVER, "--script-id", "not an id")
    assert result.exit_code != 0 and "Script ID" in result.output


def test_code_js_must_carry_the_build_line_once():
    with pytest.raises(BuildError):
        code_js("var x = 1;", SERVER, True)
    assert normalise_server_url("https://a.example.com///") == "https://a.example.com"


def test_node_loads_the_built_code_with_its_constants(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the add-on's tests need Node 20 (see apps_script/README.md)")
    build(BuildOptions(server_url=SERVER, out_dir=tmp_path))
    result = subprocess.run([node, str(ADDON_DIR / "testlib" / "load_built.js"), str(tmp_path)],
                            check=False, capture_output=True, text=True, timeout=60, cwd=ADDON_DIR)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["build"] == {"serverUrl": SERVER, "editorAddon": True}
    assert report["connect"]["ok"] is True
    assert report["connect"]["url"].startswith(SERVER + "/app/addon/connect?nonce=")
    assert "spreadsheet=sheet-built&sheet=Leads" in report["connect"]["url"]
    assert report["menu"] == {"name": "Add-on", "items": ["Open sidebar", "Connect to server\u2026", "Sync now",
                                                          "Disconnect"]}
    assert report["sidebar_title"] == "Leads Sync"
