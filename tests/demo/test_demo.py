"""The README's run command: the demo starts everything, syncs both ways, and stops cleanly on Ctrl-C;
its page's security policy frames exactly the emulators; a taken port is one plain line."""

from __future__ import annotations

import http.cookiejar
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _json(url: str, body: dict | None = None):
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _wait(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_demo_runs_syncs_and_stops_cleanly(tmp_path):
    web, trello, sheets, google, mail = (_free_port() for _ in range(5))
    process = subprocess.Popen(
        [sys.executable, "-m", "demo", "--port", str(web), "--trello-port", str(trello),
         "--sheets-port", str(sheets), "--google-port", str(google), "--mail-port", str(mail)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={"PATH": "/usr/bin:/bin", "INSTANCE_PATH": str(tmp_path), "LOG_LEVEL": "WARNING"})
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        assert any("/demo" in line for line in lines), "".join(lines)
        trello_state = f"http://127.0.0.1:{trello}/_emulator/state"
        cards = _wait(lambda: len(_json(trello_state)["cards"]) == 3 and _json(trello_state)["cards"])
        lists = {lst["name"]: lst["id"] for lst in _json(trello_state)["lists"]}
        sheet = _json(f"http://127.0.0.1:{sheets}/_emulator/state")["spreadsheets"][0]
        sid = sheet["spreadsheet_id"]
        # a person edits the sheet: the card moves
        _json(f"http://127.0.0.1:{sheets}/_emulator/user/edit",
              {"spreadsheet_id": sid, "sheet": "Leads", "row": 2, "values": {"Status": "Qualified"}})
        ada = next(c for c in cards if c["name"] == "Ada Lovelace")
        _wait(lambda: next(c for c in _json(trello_state)["cards"] if c["id"] == ada["id"])["idList"] == lists["Qualified"])
        # a person moves a card: the row follows
        grace = next(c for c in cards if c["name"] == "Grace Hopper")
        board_id = _json(trello_state)["boards"][0]["id"]
        _json(f"http://127.0.0.1:{trello}/_emulator/ui/boards/{board_id}/action",
              {"op": "move", "idCard": grace["id"], "idList": lists["Closed"]})

        def grace_won():
            values = _json(f"http://127.0.0.1:{sheets}/_emulator/state")["spreadsheets"][0]["sheets"][0]["values"]
            return any(row[0] == "Grace Hopper" and row[4] == "Won" for row in values)

        _wait(grace_won)
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/demo", timeout=5) as page:
            assert b"Leads Sync demo" in page.read()
            policy = dict(part.strip().split(" ", 1) for part in page.headers["Content-Security-Policy"].split(";"))
        assert policy["frame-src"] == f"'self' http://127.0.0.1:{sheets} http://127.0.0.1:{trello}"
        assert policy["style-src"] == "'self'" and policy["script-src"] == "'self'"
        assert "unsafe-inline" not in page.headers["Content-Security-Policy"]
        # the dashboard's own pages keep the strict policy
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/app/login", timeout=5) as login:
            assert "frame-src" not in login.headers["Content-Security-Policy"]
        # the Power-Up pages load the emulator's client library and may be framed by the board
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/powerup/card-back.html", timeout=5) as card_back:
            assert f'src="http://127.0.0.1:{trello}/power-ups/power-up.min.js"'.encode() in card_back.read()
            assert f"frame-ancestors http://127.0.0.1:{trello} http://127.0.0.1:{web};" in \
                card_back.headers["Content-Security-Policy"]
        # the dashboard, signed in with the demo's dev sign-in, shows the demo workspace
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        form = browser.open(f"http://127.0.0.1:{web}/auth/dev-login", timeout=5).read().decode()
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
        data = urllib.parse.urlencode({"csrf_token": token, "email": "demo@example.com"}).encode()
        home = browser.open(f"http://127.0.0.1:{web}/auth/dev-login", data=data, timeout=5).read().decode()
        assert "Demo leads" in home
        assert "Create a synced sheet" in home  # the template is a spreadsheet of the emulator
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', home).group(1)
        copy = urllib.parse.urlencode({"csrf_token": token, "name": "Copied leads"}).encode()
        wizard = browser.open(f"http://127.0.0.1:{web}/app/sheets/new", data=copy, timeout=5).read().decode()
        assert "\u201cCopied leads\u201d is in your Google Drive" in wizard
        titles = [s["title"] for s in _json(f"http://127.0.0.1:{sheets}/_emulator/state")["spreadsheets"]]
        assert titles == ["Leads", "Leads template", "Copied leads"]
        # the board and its lists by name, not by id
        workspace_path = re.search(r'href="(/app/workspaces/[^"/?#]+)"', home).group(1)
        page = browser.open(f"http://127.0.0.1:{web}{workspace_path}", timeout=5).read().decode()
        assert f">{board_id}<" not in page and re.search(r">\s*Leads\s*</a>", page)
        assert "Won → Closed" in page and "Closed → Won" in page
        assert not any(list_id in page for list_id in lists.values())
    finally:
        process.send_signal(signal.SIGINT)
        try:
            assert process.wait(timeout=15) == 0
        finally:
            process.kill()


def _run_demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "demo", *args], check=False, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})


def test_a_taken_port_is_one_line_naming_it_and_its_option():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        free = [str(_free_port()) for _ in range(4)]
        web = _run_demo("--port", str(taken), "--trello-port", free[0], "--sheets-port", free[1],
                        "--google-port", free[2], "--mail-port", free[3])
        sheets = _run_demo("--port", free[0], "--trello-port", free[1], "--sheets-port", str(taken),
                           "--google-port", free[2], "--mail-port", free[3])
        mail = _run_demo("--port", free[0], "--trello-port", free[1], "--sheets-port", free[2],
                         "--google-port", free[3], "--mail-port", str(taken))
    assert web.returncode == 2 and web.stdout == ""
    assert web.stderr == (f"demo: port {taken} is already in use; stop what uses it or choose another port "
                          "with --port <port>\n")
    assert sheets.returncode == 2
    assert sheets.stderr.splitlines() == [
        f"demo: port {taken} is already in use; stop what uses it or choose another port with --sheets-port <port>"]
    assert mail.returncode == 2 and mail.stderr.splitlines() == [
        f"demo: port {taken} is already in use; stop what uses it or choose another port with --mail-port <port>"]


def test_keep_data_is_gone():
    """The emulators keep their data in memory: a kept database would point at boards that no longer exist."""
    result = _run_demo("--keep-data")
    assert result.returncode == 2 and "unrecognized arguments: --keep-data" in result.stderr
