'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {connectedWorld, plain, requestHmacHex} = require('../testlib/fakes');

const ROWS = [['Name', 'Email', 'Status'], ['Ann Lee', 'ann@example.com', 'New'], ['Bob', 'bob@example.com', 'Won']];

function apiCalls(world) {
  return world.fetch.requests.filter((r) => r.url.includes('/api/addon/'));
}

// --------------------------------------------------------------------------- nonces

test('every API request carries a new nonce, inside its signature', () => {
  const {world, server, ctx, sheet} = connectedWorld(ROWS);
  const leadId = sheet.display(2, 4);
  ctx.getCardForLead(leadId);
  ctx.getCardForLead(leadId);
  ctx.createCardNow(leadId);
  ctx.syncNow();
  const calls = apiCalls(world);
  assert.equal(calls.length, 4);
  const nonces = calls.map((r) => r.headers['X-Nonce']);
  for (const nonce of nonces) assert.match(nonce, /^[0-9a-f]{32}$/);
  assert.equal(new Set(nonces).size, nonces.length, 'never the same nonce twice');
  for (const r of calls) {
    assert.equal(r.headers['X-Signature'], requestHmacHex(server.secret, r.headers['X-Timestamp'], r.headers['X-Nonce'],
      r.method, new URL(r.url).pathname, r.payload === undefined ? '' : r.payload));
  }
  assert.deepEqual(calls.map((r) => r.status), [200, 200, 202, 202], 'the server accepted each nonce once');
});

test('a retried API request is signed again with a new nonce', () => {
  const {world, ctx} = connectedWorld(ROWS);
  world.fetch.respond({code: 503, body: ''});
  assert.equal(ctx.syncNow().ok, true);
  const [first, retry] = apiCalls(world);
  assert.notEqual(first.headers['X-Nonce'], retry.headers['X-Nonce']);
  assert.equal(retry.status, 202);
});

test('webhook deliveries carry no nonce (their event id is stored once)', () => {
  const {world, ctx} = connectedWorld(ROWS);
  ctx.handleEdit(world.userEdit('Leads', 2, 3, [['Won']]));
  const [post] = world.fetch.requests.filter((r) => r.url.includes('/webhooks/sheets/'));
  assert.equal(post.headers['X-Nonce'], undefined);
  assert.ok(JSON.parse(post.payload).event_id);
});

test('the fake server, like the real one, refuses a replayed API request', () => {
  const {world, server, ctx} = connectedWorld(ROWS);
  ctx.syncNow();
  const [sent] = apiCalls(world);
  const replay = world.fetch.handler(Object.assign({}, sent));
  assert.equal(replay.code, 409);
  assert.equal(server.calls.filter((c) => c.path === '/api/addon/sync').length, 1);
});

// --------------------------------------------------------------------------- a rotated secret

test('during the grace period the add-on keeps working and the sidebar asks for a reconnect soon', () => {
  const {world, server, ctx, sheet} = connectedWorld(ROWS);
  server.rotate();
  ctx.handleEdit(world.userEdit('Leads', 2, 3, [['Won']]));
  assert.equal(server.events.length, 1, 'the old secret still delivers');
  assert.equal(ctx.getCardForLead(sheet.display(2, 4)).ok, true);
  const selected = plain(ctx.getSelectedLead());
  assert.equal(selected.reconnect.refused, false);
  assert.match(selected.reconnect.message, /secret was changed on the dashboard/);
  assert.match(selected.reconnect.message, /new connect code/);
  assert.deepEqual(selected.errors, []);
});

test('after the grace period the add-on says in plain words to reconnect, in the sidebar and the menu', () => {
  const {world, server, ctx} = connectedWorld(ROWS);
  server.rotate();
  server.endGrace();
  ctx.handleEdit(world.userEdit('Leads', 2, 3, [['Won']]));
  assert.equal(server.events.length, 0);
  const selected = plain(ctx.getSelectedLead());
  assert.equal(selected.reconnect.refused, true);
  assert.match(selected.reconnect.message, /refuses this spreadsheet\u2019s edits/);
  assert.match(selected.reconnect.message, /Connect to server/);
  assert.match(selected.reconnect.message, /nothing is lost/);
  // Sync now from the menu says so too
  ctx.syncNowFromMenu();
  assert.match(world.spreadsheet.toasts.at(-1).message, /secret was changed on the dashboard/);
  // the menu's connect item says a reconnect is needed (on the next opening of the spreadsheet)
  ctx.onOpen({authMode: 'LIMITED'});
  const items = world.ui.menus.at(-1).items.filter((i) => !i.separator).map((i) => i.caption);
  assert.ok(items.includes('Connect to server\u2026 (reconnect needed)'), JSON.stringify(items));
  // a later success with the old secret (impossible, but) never turns "refused" back into "soon"
  ctx.noteReconnect_(false);
  assert.equal(ctx.getSelectedLead().reconnect.refused, true);
});

test('connecting again with the new code clears the notice and sends every row again', () => {
  const {world, server, ctx} = connectedWorld(ROWS);
  server.rotate();
  server.endGrace();
  ctx.handleEdit(world.userEdit('Leads', 2, 3, [['Won']]));
  assert.ok(ctx.getSelectedLead().reconnect);
  world.ui.answers.push({button: 'OK', text: server.url}, {button: 'OK', text: 'ABCD-EFGH-JKMN'});
  ctx.connectToServer();
  assert.equal(world.documentProperties.getProperty('secret'), server.secret);
  assert.equal(ctx.getSelectedLead().reconnect, null);
  assert.deepEqual(server.events.at(-1).rows.map((r) => r.values.Status), ['Won', 'Won'], 'the edit arrives');
  ctx.onOpen({authMode: 'LIMITED'});
  const items = world.ui.menus.at(-1).items.filter((i) => !i.separator).map((i) => i.caption);
  assert.ok(items.includes('Connect to server\u2026'));
});

test('the sidebar shows the reconnect notice', () => {
  const fs = require('node:fs');
  const path = require('node:path');
  const html = fs.readFileSync(path.join(__dirname, '..', 'Sidebar.html'), 'utf8');
  assert.match(html, /id="reconnect"/);
  assert.match(html, /renderReconnect\(selection\.connected \? selection\.reconnect : null\)/);
});
