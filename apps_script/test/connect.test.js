'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {createWorld, fakeServer, connect, plain, hmacHex} = require('../testlib/fakes');

const ID = /^L-[0-9a-f]{12}$/;

function leadsWorld(rows) {
  const world = createWorld({sheets: {Leads: rows, Notes: [['Anything']]}, spreadsheetId: 'sheet-123'});
  const server = fakeServer(world);
  const ctx = world.load();
  return {world, server, ctx, sheet: world.sheet('Leads')};
}

const ROWS = [
  ['Name', 'Email', 'Status'],
  ['Ann Lee', 'ann@example.com', 'New'],
  ['', '', ''],
  ['Bob Roy', 'bob@example.com', 'Won'],
];

test('onOpen adds the Leads Sync menu', () => {
  const {world, ctx} = leadsWorld(ROWS);
  ctx.onOpen({authMode: 'NONE'});
  assert.equal(world.ui.menus.length, 1);
  const menu = world.ui.menus[0];
  assert.equal(menu.name, 'Leads Sync');
  const items = menu.items.filter((i) => !i.separator).map((i) => [i.caption, i.functionName]);
  assert.deepEqual(items, [['Open sidebar', 'showSidebar'], ['Connect to server\u2026', 'connectToServer'],
    ['Sync now', 'syncNowFromMenu'], ['Disconnect', 'disconnectFromMenu']]);
  for (const item of items) assert.equal(typeof ctx[item[1]], 'function', item[1] + ' exists');
  ctx.onInstall({});
  assert.equal(world.ui.menus.length, 2);
});

test('connect stores the settings, installs exactly two triggers and never shows the secret', () => {
  const {world, server, ctx} = leadsWorld(ROWS);
  connect(world, server);
  const props = world.documentProperties.getProperties();
  assert.equal(props.server_url, 'https://leads.example.com');   // trailing slash dropped
  assert.equal(props.workspace_id, server.workspaceId);
  assert.equal(props.secret, server.secret);
  assert.equal(props.sheet, 'Leads');
  assert.equal(props.lead_id_column, 'Lead ID');
  const connectCall = world.fetch.requests[0];
  assert.equal(connectCall.url, 'https://leads.example.com/api/addon/connect');
  assert.equal(connectCall.method, 'post');
  assert.equal(connectCall.contentType, 'application/json');
  assert.deepEqual(JSON.parse(connectCall.payload), {code: 'ABCD-EFGH-JKMN', spreadsheet_id: 'sheet-123', sheet: 'Leads'});
  const triggers = world.scriptApp.getProjectTriggers().map((t) => [t.getHandlerFunction(), t.getEventType(), t.getTriggerSourceId()]);
  assert.deepEqual(triggers.sort(), [['handleChange', 'ON_CHANGE', 'sheet-123'], ['handleEdit', 'ON_EDIT', 'sheet-123']]);
  const shown = JSON.stringify([world.ui.alerts, world.ui.prompts, world.spreadsheet.toasts, world.logs, world.consoleErrors]);
  assert.ok(!shown.includes(server.secret), 'the secret is never shown');
  assert.match(world.ui.alerts.at(-1).message, /Connected to the workspace \u201cPipeline\u201d/);
});

test('connecting again replaces our triggers (no duplicates) and leaves other triggers alone', () => {
  const {world, server, ctx} = leadsWorld(ROWS);
  // someone else's trigger in this spreadsheet, and ours in another spreadsheet
  world.scriptApp.newTrigger('myOwnThing').forSpreadsheet(world.spreadsheet).onEdit().create();
  world.scriptApp.newTrigger('handleEdit').forSpreadsheet('other-spreadsheet').onEdit().create();
  connect(world, server);
  const first = world.scriptApp.getUserTriggers(world.spreadsheet).map((t) => t.getUniqueId());
  connect(world, server);
  connect(world, server);
  const ours = world.scriptApp.getUserTriggers(world.spreadsheet).filter((t) => ['handleEdit', 'handleChange'].includes(t.getHandlerFunction()));
  assert.equal(ours.length, 2);
  assert.deepEqual(ours.map((t) => t.getHandlerFunction()).sort(), ['handleChange', 'handleEdit']);
  assert.ok(ours.every((t) => !first.includes(t.getUniqueId())), 'replaced, not kept');
  const handlers = world.scriptApp.getProjectTriggers().map((t) => t.getHandlerFunction() + '@' + t.getTriggerSourceId()).sort();
  assert.deepEqual(handlers, ['handleChange@sheet-123', 'handleEdit@other-spreadsheet', 'handleEdit@sheet-123', 'myOwnThing@sheet-123']);
});

test('connect creates a protected Lead ID column at the end of row 1 and fills ids of non-blank rows', () => {
  const {world, server, sheet} = leadsWorld(ROWS);
  connect(world, server);
  assert.deepEqual(sheet.headers(), ['Name', 'Email', 'Status', 'Lead ID']);
  const ids = [2, 3, 4].map((r) => sheet.display(r, 4));
  assert.match(ids[0], ID);
  assert.equal(ids[1], '', 'blank row gets no id');
  assert.match(ids[2], ID);
  assert.notEqual(ids[0], ids[2]);
  assert.equal(sheet.protections.length, 1);
  const protection = sheet.protections[0];
  assert.equal(protection.getDescription(), 'Leads Sync ids');
  assert.equal(protection.isWarningOnly(), true);
  assert.equal(protection.getRange().getA1Notation(), 'D:D');
  // connecting again: same column, same ids, still one protection
  connect(world, server);
  assert.deepEqual(sheet.headers(), ['Name', 'Email', 'Status', 'Lead ID']);
  assert.deepEqual([2, 3, 4].map((r) => sheet.display(r, 4)), ids);
  assert.equal(sheet.protections.length, 1);
});

test('an existing Lead ID column is used where it is; existing ids are kept, duplicates fixed', () => {
  const {world, server, sheet} = leadsWorld([
    ['Lead ID', 'Name', 'Status'],
    ['L-aaaaaaaaaaaa', 'Ann', 'New'],
    ['', 'Bob', 'New'],
    ['L-aaaaaaaaaaaa', 'Copy of Ann', 'New'],
  ]);
  connect(world, server);
  assert.deepEqual(sheet.headers(), ['Lead ID', 'Name', 'Status']);
  assert.equal(sheet.display(2, 1), 'L-aaaaaaaaaaaa');
  assert.match(sheet.display(3, 1), ID);
  assert.match(sheet.display(4, 1), ID);
  assert.notEqual(sheet.display(4, 1), 'L-aaaaaaaaaaaa');
  assert.equal(sheet.protections[0].getRange().getA1Notation(), 'A:A');
});

test('the first sync sends every data row in signed batches', () => {
  const rows = [['Name', 'Email', 'Status']];
  for (let i = 0; i < 1203; i++) rows.push(['Lead ' + i, `l${i}@example.com`, i % 2 ? 'New' : 'Won']);
  const {world, server, sheet} = leadsWorld(rows);
  connect(world, server);
  const posts = world.fetch.requests.filter((r) => r.url.includes('/webhooks/sheets/'));
  assert.equal(posts.length, 3, '500 + 500 + 203 rows');
  assert.deepEqual(server.events.map((e) => e.rows.length), [500, 500, 203]);
  for (const post of posts) {
    assert.equal(post.url, 'https://leads.example.com/webhooks/sheets/' + server.workspaceId);
    assert.equal(post.headers['X-Signature'], hmacHex(server.secret, post.headers['X-Timestamp'], post.payload));
    assert.equal(post.headers['X-Workspace'], server.workspaceId);
  }
  const all = server.events.flatMap((e) => e.rows);
  assert.equal(new Set(all.map((r) => r.lead_id)).size, 1203);
  assert.deepEqual(all[0].values, {Name: 'Lead 0', Email: 'l0@example.com', Status: 'Won', 'Lead ID': sheet.display(2, 4)});
  assert.equal(all[0].row, 2);
  assert.equal(all[0].changed, null, 'a first sync sends whole rows');
  assert.equal(new Set(server.events.map((e) => e.event_id)).size, 3);
  assert.match(world.ui.alerts.at(-1).message, /1203 row\(s\) sent/);
});

test('a wrong code changes nothing and says why', () => {
  const {world, server, ctx} = leadsWorld(ROWS);
  connect(world, server, 'WRONG-CODE');
  assert.equal(ctx.getConfig_(), null);
  assert.equal(world.scriptApp.getProjectTriggers().length, 0);
  assert.deepEqual(world.sheet('Leads').headers(), ['Name', 'Email', 'Status']);
  assert.match(world.ui.alerts.at(-1).message, /Could not connect: This connect code is not valid\. \(HTTP 404\)/);
  assert.equal(world.fetch.requests.length, 1, 'a 404 is not retried');
});

test('a bad server address or a cancelled prompt does nothing', () => {
  const {world, ctx} = leadsWorld(ROWS);
  world.ui.answers.push({button: 'OK', text: 'leads.example.com'});
  ctx.connectToServer();
  assert.match(world.ui.alerts.at(-1).message, /must start with https:\/\//);
  world.ui.answers.push({button: 'CANCEL', text: ''});
  ctx.connectToServer();
  assert.equal(world.fetch.requests.length, 0);
  assert.equal(ctx.getConfig_(), null);
});

test('a workspace for a tab the spreadsheet lacks is refused with the tab name', () => {
  const world = createWorld({sheets: {Leads: ROWS}});
  const server = fakeServer(world, {sheet: 'Pipeline 2024'});
  const ctx = world.load();
  connect(world, server);
  assert.equal(ctx.getConfig_(), null);
  assert.match(world.ui.alerts.at(-1).message, /tab \u201cPipeline 2024\u201d/);
});

test('disconnect removes our triggers and settings and tells the server', () => {
  const {world, server, ctx} = leadsWorld(ROWS);
  connect(world, server);
  world.scriptApp.newTrigger('myOwnThing').forSpreadsheet(world.spreadsheet).onEdit().create();
  ctx.disconnectFromMenu();
  assert.equal(world.ui.alerts.at(-2).title, 'Disconnect Leads Sync?');
  assert.deepEqual(world.scriptApp.getProjectTriggers().map((t) => t.getHandlerFunction()), ['myOwnThing']);
  assert.deepEqual(world.documentProperties.getKeys(), []);
  const told = server.calls.at(-1);
  assert.deepEqual(plain({method: told.method, path: told.path}), {method: 'post', path: '/api/addon/disconnect'});
  assert.deepEqual(world.sheet('Leads').headers(), ['Name', 'Email', 'Status', 'Lead ID'], 'ids stay');
  // edits no longer send anything
  world.fetch.requests.length = 0;
  ctx.handleEdit(world.userEdit('Leads', 2, 3, [['Lost']]));
  assert.equal(world.fetch.requests.length, 0);
});

test('showSidebar opens Sidebar.html titled Leads Sync', () => {
  const {world, ctx} = leadsWorld(ROWS);
  ctx.showSidebar();
  assert.equal(world.ui.sidebars.length, 1);
  assert.equal(world.ui.sidebars[0].getTitle(), 'Leads Sync');
  assert.match(world.ui.sidebars[0].getContent(), /google\.script\.run/);
});
