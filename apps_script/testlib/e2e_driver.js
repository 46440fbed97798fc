'use strict';
/**
 * End-to-end driver: runs the real Code.js against a real Leads Sync server.
 *
 *   node testlib/e2e_driver.js '{"server_url": "http://127.0.0.1:PORT", "code": "ABCD-EFGH-JKMN",
 *                                "spreadsheet_id": "...", "sheet": "Leads"}'
 *
 * Connects through the menu (prompts answered), pastes over three rows, deletes a row, looks up
 * a card, asks for a card and for a sync; prints a JSON report on stdout. tests/addon/test_e2e.py
 * starts the server, runs this and checks what the server stored.
 *
 * With "one_click": true (and "addon_dir": a `flask addon build` output) it connects the way the
 * sidebar's Connect to Leads Sync button does instead: prints one line `CONNECT_URL <url>` (the page
 * the popup would open), waits for a line on stdin (the test chose the workspace on that page), polls
 * finishConnect, then makes one edit; the JSON report is the last line (tests/addon/test_one_click_e2e.py).
 */
const fs = require('node:fs');
const {createWorld, plain} = require('./fakes');
const {useRealHttp} = require('./real_fetch');

/** Block until a line arrives on stdin (the driver is synchronous, like Apps Script). */
function readLine() {
  const buffer = Buffer.alloc(1);
  let line = '';
  for (;;) {
    let n;
    try { n = fs.readSync(0, buffer, 0, 1, null); } catch (err) { if (err.code === 'EAGAIN') continue; throw err; }
    if (n === 0 || buffer[0] === 10) return line;
    line += buffer.toString('utf8');
  }
}

function oneClick(options) {
  const sheetName = options.sheet || 'Leads';
  const sheets = {};
  sheets[sheetName] = [
    ['Name', 'Email', 'Status', 'Lead ID'],
    ['Ann Lee', 'ann@example.com', 'New', 'L-e2e000000001'],
    ['Bob Roy', 'bob@example.com', 'New', ''],
  ];
  const world = createWorld({spreadsheetId: options.spreadsheet_id, sheets, addonDir: options.addon_dir});
  useRealHttp(world);
  const ctx = world.load();
  const report = {build: plain(ctx.LEADS_SYNC_BUILD)};
  const begun = plain(ctx.beginConnect());
  report.begin_ok = begun.ok;
  report.before_approval = plain(ctx.finishConnect());
  process.stdout.write('CONNECT_URL ' + begun.url + '\n');
  readLine();   // the person chose the workspace in the popup
  report.finish = plain(ctx.finishConnect());
  report.after = plain(ctx.finishConnect());
  world.fetch.requests.length = 0;
  ctx.handleEdit(world.userEdit(sheetName, 2, 3, [['Won']]));
  report.edit_requests = world.fetch.requests.map((r) => ({method: r.method, url: r.url, status: r.status}));
  report.errors = plain(ctx.getSelectedLead().errors);
  process.stdout.write(JSON.stringify(report) + '\n');
}

function main() {
  const options = JSON.parse(process.argv[2]);
  if (options.one_click) return oneClick(options);
  const sheetName = options.sheet || 'Leads';
  const sheets = {};
  sheets[sheetName] = [
    ['Name', 'Email', 'Status', 'Notes', 'Lead ID'],
    ['Ann Lee', 'ann@example.com', 'New', '', 'L-e2e000000001'],
    ['Bob Roy', 'bob@example.com', 'New', '', 'L-e2e000000002'],
    ['Cy Dee', 'cy@example.com', 'New', '', ''],
    ['', '', '', '', ''],
  ];
  const world = createWorld({spreadsheetId: options.spreadsheet_id, sheets});
  useRealHttp(world);
  const ctx = world.load();
  const sheet = world.sheet(sheetName);
  const report = {steps: []};
  function step(name) {
    report.steps.push({name, requests: world.fetch.requests.map((r) => ({method: r.method, url: r.url, status: r.status}))});
    world.fetch.requests.length = 0;
  }

  // 1. Connect through the menu.
  world.ui.answers.push({button: 'OK', text: options.server_url}, {button: 'OK', text: options.code});
  ctx.connectToServer();
  report.connect_message = world.ui.alerts.at(-1).message;
  report.properties = world.documentProperties.getProperties();
  delete report.properties.secret;
  report.triggers = world.scriptApp.getProjectTriggers().map((t) => t.getHandlerFunction()).sort();
  report.ids_after_connect = [2, 3, 4].map((r) => sheet.display(r, 5));
  step('connect');

  // 2. A paste over three rows (Status and Notes).
  ctx.handleEdit(world.userEdit(sheetName, 2, 3, [
    ['Contacted', 'Zoë said “call Tuesday” — €5k'],
    ['Won', 'signed'],
    ['Lost', ''],
  ]));
  step('paste');

  // 3. Bob's row is deleted.
  sheet.deleteRow(3);
  ctx.handleChange({changeType: 'REMOVE_ROW', source: world.spreadsheet});
  step('remove');

  // 4. The sidebar's calls.
  sheet.setActiveSelection('A2');
  report.selected = plain(ctx.getSelectedLead());
  report.card = plain(ctx.getCardForLead('L-e2e000000001'));
  report.create = plain(ctx.createCardNow('L-e2e000000001'));
  report.sync = plain(ctx.syncNow());
  step('sidebar');

  report.errors = plain(ctx.getSelectedLead().errors);
  process.stdout.write(JSON.stringify(report));
}

main();
