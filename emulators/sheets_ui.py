"""Small self-contained HTML pages for the Sheets emulator (local demo; no external assets)."""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import quote

_STYLE = """
body{font:14px system-ui,sans-serif;margin:16px;color:#202124}
h1{font-size:18px;margin:0 0 8px}
a{color:#1a73e8}
.muted{color:#5f6368;font-size:12px}
table.grid{border-collapse:collapse;margin-top:8px}
.grid td,.grid th{border:1px solid #dadce0;padding:2px 6px;min-width:70px;height:20px;
  white-space:pre;max-width:260px;overflow:hidden;text-overflow:ellipsis}
.grid th{background:#f1f3f4;font-weight:500;color:#5f6368}
.grid th.rn{min-width:40px}
.grid tr.header td{font-weight:600;background:#e8f0fe}
.grid td:focus{outline:2px solid #1a73e8;background:#fff}
button{font-size:12px;cursor:pointer}
.sort button{padding:0 3px;margin-left:2px}
form.append{margin-top:12px;display:flex;flex-wrap:wrap;gap:6px;align-items:end}
form.append label{display:flex;flex-direction:column;font-size:12px}
.layout{display:flex;gap:12px;align-items:flex-start}
.layout .sheet{flex:1 1 auto;min-width:0;overflow:auto}
.grid tr.selected th.rn{background:#c2dbff}
aside.sidebar{flex:0 0 300px;border:1px solid #dadce0;border-radius:8px;background:#fff;
  display:flex;flex-direction:column}
aside.sidebar header{display:flex;justify-content:space-between;align-items:center;padding:6px 10px;
  border-bottom:1px solid #dadce0;font-weight:500}
aside.sidebar iframe{border:0;width:300px;height:560px}
aside.sidebar[hidden]{display:none}
.toolbar{margin:6px 0;display:flex;gap:8px;align-items:center}
"""

_SCRIPT = r"""
const SS = __SS__, SHEET = __SHEET__;
const grid = document.getElementById('grid');
const statusEl = document.getElementById('status');
let editing = null, shape = '', headers = [], selectedRow = 1;
// The active range's row, as Apps Script's getActiveRange() gives it to the add-on's sidebar.
window.leadsSheetSelection = () => selectedRow;
function select(row){
  selectedRow = row;
  for(const tr of grid.rows){ tr.classList.toggle('selected', +tr.dataset.row === row); }
}
function colName(i){let s='';i++;
  while(i){const r=(i-1)%26;s=String.fromCharCode(65+r)+s;i=Math.floor((i-1)/26);}return s;}
async function post(path, body){
  const r = await fetch('/_emulator/' + path, {method:'POST', headers:{'Content-Type':'application/json'},
    body: JSON.stringify(Object.assign({spreadsheet_id: SS, sheet: SHEET}, body))});
  if(!r.ok){ alert(path + ' failed: ' + await r.text()); }
  refresh(true);
  return r;
}
function cellEl(td, r, c){
  td.contentEditable = 'true'; td.dataset.row = r; td.dataset.col = c;
  td.addEventListener('focus', () => { editing = td; td.dataset.orig = td.textContent; select(r); });
  td.addEventListener('keydown', e => {
    if(e.key === 'Enter' && !e.shiftKey){ e.preventDefault(); td.blur(); }
    if(e.key === 'Escape'){ td.textContent = td.dataset.orig; td.blur(); }
  });
  td.addEventListener('blur', () => {
    editing = null;
    if(td.textContent !== td.dataset.orig){
      const cols = {}; cols[colName(+td.dataset.col)] = td.textContent;
      post('user/edit', {row: +td.dataset.row, values: {}, columns: cols});
    }
  });
}
function build(values, nrows, ncols){
  grid.innerHTML = '';
  const head = grid.insertRow(); const corner = document.createElement('th'); corner.className='rn';
  head.appendChild(corner);
  for(let c = 0; c < ncols; c++){
    const th = document.createElement('th'); th.className = 'sort';
    th.appendChild(document.createTextNode(colName(c)));
    const name = headers[c];
    if(name){
      for(const [label, rev] of [['\u25B2', false], ['\u25BC', true]]){
        const b = document.createElement('button'); b.textContent = label; b.title = 'sort by ' + name;
        b.onclick = () => post('user/sort', {header: name, reverse: rev}); th.appendChild(b);
      }
    }
    head.appendChild(th);
  }
  for(let r = 0; r < nrows; r++){
    const tr = grid.insertRow(); if(r === 0) tr.className = 'header'; tr.dataset.row = r + 1;
    if(r + 1 === selectedRow) tr.classList.add('selected');
    const th = document.createElement('th'); th.className = 'rn'; th.textContent = r + 1;
    if(r > 0){ const del = document.createElement('button'); del.textContent = '\u2715';
      del.title = 'delete row ' + (r + 1); del.onclick = () => post('user/delete', {row: r + 1});
      th.appendChild(del); }
    tr.appendChild(th);
    for(let c = 0; c < ncols; c++){ const td = tr.insertCell(); cellEl(td, r + 1, c); }
  }
}
function fill(values, nrows, ncols){
  for(let r = 0; r < nrows; r++){
    const tr = grid.rows[r + 1];
    for(let c = 0; c < ncols; c++){
      const td = tr.cells[c + 1]; if(td === editing) continue;
      const v = (values[r] || [])[c]; const text = v === undefined ? '' : String(v);
      if(td.textContent !== text) td.textContent = text;
    }
  }
}
function buildAppendForm(){
  const form = document.getElementById('append'); form.innerHTML = '';
  headers.forEach(h => { if(!h) return; const l = document.createElement('label'); l.textContent = h;
    const i = document.createElement('input'); i.name = h; l.appendChild(i); form.appendChild(l); });
  const b = document.createElement('button'); b.textContent = 'Append row'; form.appendChild(b);
}
async function refresh(force){
  let data;
  try {
    const r = await fetch('/_emulator/state?max_rows=500&spreadsheet_id=' + encodeURIComponent(SS) +
                          '&sheet=' + encodeURIComponent(SHEET));
    data = await r.json();
  } catch(e) { statusEl.textContent = 'emulator unreachable'; return; }
  const sheet = data.spreadsheets[0].sheets[0];
  const values = sheet.values;
  const nrows = Math.max(values.length + 3, 10);
  const ncols = Math.max(...values.map(r => r.length), 1) + 1;
  const newHeaders = (values[0] || []).map(String);
  const newShape = nrows + 'x' + ncols + '|' + newHeaders.join('\u0001');
  if(newShape !== shape){
    if(editing && !force) { return; }
    headers = newHeaders; shape = newShape; build(values, nrows, ncols); buildAppendForm();
  }
  fill(values, nrows, ncols);
  const addon = sheet.addon;
  statusEl.textContent = (addon ? 'add-on installed \u2192 ' + addon.webhook_url + ' (id column "' +
    addon.lead_id_header + '")' : 'no add-on installed') + ' \u00b7 deliveries: ' + data.addon_deliveries +
    (sheet.truncated ? ' \u00b7 showing the first 500 rows' : '');
}
document.getElementById('append').addEventListener('submit', e => {
  e.preventDefault(); const vals = {};
  for(const i of e.target.querySelectorAll('input')){ if(i.value !== '') vals[i.name] = i.value; i.value = ''; }
  post('user/append', {values: vals});
});
const sidebar = document.getElementById('sidebar');
function toggleSidebar(open){
  sidebar.hidden = !open;
  const frame = sidebar.querySelector('iframe');
  if(open && !frame.src) frame.src = '/_emulator/sidebar/' + encodeURIComponent(SS) + '/' + encodeURIComponent(SHEET);
}
document.getElementById('open-sidebar').onclick = () => toggleSidebar(true);
document.getElementById('connect-server').onclick = async () => {
  let offered = '';
  try { offered = (await (await fetch('/_emulator/sidebar/config')).json()).server_url || ''; } catch(e) {}
  const server = prompt('Connect to Leads Sync (1 of 2)\nThe address of your Leads Sync server', offered);
  if(server === null) return;
  const code = prompt('Connect to Leads Sync (2 of 2)\nThe one-time connect code shown on the dashboard');
  if(code === null) return;
  const r = await fetch('/_emulator/sidebar/connect', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({spreadsheet_id: SS, sheet: SHEET, server_url: server, code})});
  const answer = await r.json().catch(() => ({message: 'The add-on is not available here.'}));
  alert(answer.message || answer.error); refresh(true);
};
document.getElementById('close-sidebar').onclick = () => toggleSidebar(false);
if(new URLSearchParams(location.search).get('sidebar') === '1') toggleSidebar(true);
refresh(true); setInterval(() => refresh(false), 1000);
"""


def index_page(spreadsheets: list[dict[str, Any]]) -> str:
    """``/_emulator/ui``: every spreadsheet and its sheets, with links."""
    items = []
    for ss in spreadsheets:
        links = " · ".join(
            f'<a href="/_emulator/ui/spreadsheets/{quote(ss["spreadsheet_id"])}/'
            f'{quote(sh["title"], safe="")}">{html.escape(sh["title"])}</a>'
            for sh in ss["sheets"])
        items.append(f"<li><b>{html.escape(ss['title'])}</b> <span class=muted>"
                     f"{html.escape(ss['spreadsheet_id'])}</span><br>{links}</li>")
    body = "<ul>" + "".join(items) + "</ul>" if items else "<p>No spreadsheets yet.</p>"
    return (f"<!doctype html><html><head><meta charset=utf-8><title>Sheets emulator</title>"
            f"<style>{_STYLE}</style></head><body><h1>Sheets emulator</h1>{body}</body></html>")


def sheet_page(spreadsheet_id: str, title: str, sheet: str) -> str:
    """``/_emulator/ui/spreadsheets/<id>/<sheet>``: an editable grid refreshed every second."""
    script = (_SCRIPT.replace("__SS__", json.dumps(spreadsheet_id))
              .replace("__SHEET__", json.dumps(sheet)).replace("</", "<\\/"))
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(sheet)} – {html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{html.escape(title)} / {html.escape(sheet)}</h1>"
        '<div class=muted><a href="/_emulator/ui">all spreadsheets</a> · '
        "edit a cell and press Enter; edits go through the simulated add-on like a person's "
        '· <span id=status></span></div>'
        '<div class=toolbar><button type=button id=open-sidebar>Extensions › Leads Sync › '
        'Open sidebar</button><button type=button id=connect-server>Extensions › Leads Sync › '
        'Connect to server…</button></div>'
        '<div class=layout><div class=sheet><table class=grid id=grid></table>'
        '<form class=append id=append></form></div>'
        '<aside class=sidebar id=sidebar hidden aria-label="Leads Sync sidebar"><header>Leads Sync'
        '<button type=button id=close-sidebar title="Close the sidebar">✕</button></header>'
        '<iframe title="Leads Sync sidebar"></iframe></aside></div>'
        f"<script>{script}</script></body></html>")
