'use strict';
/**
 * One-click connect, the Code.js side: beginConnect gives the sidebar the connect page's address
 * (with a new nonce), finishConnect polls the server until the person chose a workspace in the
 * popup, then connects exactly like Connect to server… does.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const {createWorld, fakeServer, plain, ADDON_DIR} = require('../testlib/fakes');

const ROWS = [
  ['Name', 'Email', 'Status'],
  ['Ann Lee', 'ann@example.com', 'New'],
  ['Bob Roy', 'bob@example.com', 'Won'],
];

/** A world whose Code.js has the server address built in, as `flask addon build` writes it. */
function builtWorld(serverUrl, editorAddon) {
  const world = createWorld({sheets: {Leads: ROWS}, spreadsheetId: 'sheet-123'});
  const server = fakeServer(world);
  const ctx = world.load();
  ctx.LEADS_SYNC_BUILD.serverUrl = serverUrl;
  ctx.LEADS_SYNC_BUILD.editorAddon = !!editorAddon;
  return {world, server, ctx};
}

test('beginConnect gives the connect page of the built-in server with a new nonce each time', () => {
  const {world, ctx} = builtWorld('https://leads.example.com/');
  const first = plain(ctx.beginConnect());
  assert.equal(first.ok, true);
  const url = new URL(first.url);
  assert.equal(url.origin + url.pathname, 'https://leads.example.com/app/addon/connect');
  assert.match(url.searchParams.get('nonce'), /^[0-9a-f]{32}$/);
  assert.equal(url.searchParams.get('spreadsheet'), 'sheet-123');
  assert.equal(url.searchParams.get('sheet'), 'Leads');
  const second = new URL(ctx.beginConnect().url);
  assert.notEqual(second.searchParams.get('nonce'), url.searchParams.get('nonce'));
  assert.equal(world.fetch.requests.length, 0, 'nothing is sent before the popup');
  const kept = JSON.parse(world.userProperties.getProperty('connect_pending_sheet-123'));
  assert.equal(kept.nonce, second.searchParams.get('nonce'), 'only the latest nonce is kept');
});

test('finishConnect waits, then connects once the workspace is chosen in the popup', () => {
  const {world, server, ctx} = builtWorld('https://leads.example.com');
  const url = ctx.beginConnect().url;
  assert.deepEqual(plain(ctx.finishConnect()), {state: 'waiting'});
  assert.deepEqual(plain(ctx.finishConnect()), {state: 'waiting'});
  assert.equal(ctx.getConfig_(), null);
  server.approve(url);
  const done = plain(ctx.finishConnect());
  assert.equal(done.state, 'connected');
  assert.match(done.message, /Connected to the workspace \u201cPipeline\u201d.*2 row\(s\) sent/);
  const nonce = new URL(url).searchParams.get('nonce');
  assert.deepEqual(server.polls.at(-1), {nonce, spreadsheet_id: 'sheet-123', sheet: 'Leads'});
  const cfg = plain(ctx.getConfig_());
  assert.equal(cfg.workspaceId, server.workspaceId);
  assert.equal(cfg.serverUrl, 'https://leads.example.com');
  assert.deepEqual(world.scriptApp.getProjectTriggers().map((t) => t.getHandlerFunction()).sort(), ['handleChange', 'handleEdit']);
  assert.equal(server.events.length, 1, 'the first sync was sent');
  assert.equal(world.userProperties.getProperty('connect_pending_sheet-123'), null, 'the nonce is used up');
  assert.deepEqual(plain(ctx.finishConnect()), {state: 'none'});
  const shown = JSON.stringify([done, world.ui.alerts, world.logs]);
  assert.ok(!shown.includes(server.secret), 'the secret is never shown');
});

test('a refused or expired connect says why in plain words and forgets the nonce', () => {
  const {world, server, ctx} = builtWorld('https://leads.example.com');
  const url = ctx.beginConnect().url;
  server.expired.add(new URL(url).searchParams.get('nonce'));
  const failed = plain(ctx.finishConnect());
  assert.equal(failed.state, 'failed');
  assert.match(failed.error, /Could not connect: The connection was approved more than 10 minutes ago and has expired\. \(HTTP 410\)/);
  assert.equal(ctx.getConfig_(), null);
  assert.deepEqual(plain(ctx.finishConnect()), {state: 'none'});
  // nobody chose a workspace for 15 minutes: the sidebar stops waiting
  ctx.beginConnect();
  world.clock.advance(15 * 60 * 1000 + 1);
  const late = plain(ctx.finishConnect());
  assert.equal(late.state, 'failed');
  assert.match(late.error, /expired\. Choose Connect to Leads Sync again/);
});

test('an unreachable server while waiting is not the end: the sidebar polls again', () => {
  const {world, server, ctx} = builtWorld('https://leads.example.com');
  const url = ctx.beginConnect().url;
  const handler = world.fetch.handler;
  world.fetch.handler = () => ({code: 503, body: {error: {code: 503, message: 'restarting'}}});
  const answer = plain(ctx.finishConnect());
  assert.equal(answer.state, 'waiting');
  assert.match(answer.problem, /503/);
  world.fetch.handler = handler;
  server.approve(url);
  assert.equal(plain(ctx.finishConnect()).state, 'connected');
});

test('without a built-in or earlier server address, beginConnect points to the menu', () => {
  const world = createWorld({sheets: {Leads: ROWS}});
  fakeServer(world);
  const ctx = world.load();
  const answer = plain(ctx.beginConnect());
  assert.equal(answer.ok, false);
  assert.match(answer.error, /Leads Sync \u203a Connect to server\u2026/);
  // after a connection by code, the address it used is the one for reconnecting
  world.ui.answers.push({button: 'OK', text: 'https://leads.example.com'}, {button: 'OK', text: 'ABCD-EFGH-JKMN'});
  ctx.connectToServer();
  assert.ok(ctx.getConfig_());
  assert.match(ctx.beginConnect().url, /^https:\/\/leads\.example\.com\/app\/addon\/connect\?nonce=/);
});

test('a built copy asks only for the code in Connect to server…, and an Editor add-on uses the add-on menu', () => {
  const {world, ctx} = builtWorld('https://leads.example.com', true);
  world.ui.answers.push({button: 'OK', text: 'ABCD-EFGH-JKMN'});
  ctx.connectToServer();
  assert.equal(world.ui.prompts.length, 1);
  assert.equal(world.ui.prompts[0].title, 'Connect to Leads Sync');
  assert.equal(plain(ctx.getConfig_()).serverUrl, 'https://leads.example.com');
  ctx.onOpen({authMode: 'LIMITED'});
  assert.equal(world.ui.menus.at(-1).name, 'Add-on');
  assert.deepEqual(world.ui.menus.at(-1).items.filter((i) => !i.separator).map((i) => i.functionName),
    ['showSidebar', 'connectToServer', 'syncNowFromMenu', 'disconnectFromMenu']);
});

test('the sidebar has the Connect to Leads Sync button and calls only functions Code.js defines', () => {
  const html = fs.readFileSync(path.join(ADDON_DIR, 'Sidebar.html'), 'utf8');
  assert.match(html, /<button id="connect"[^>]*>Connect to Leads Sync<\/button>/);
  assert.ok(!/Connect the Google Sheets add-on/.test(html), 'no control that does not exist is named');
  const world = createWorld({sheets: {Leads: ROWS}});
  const ctx = world.load();
  const called = new Set([...html.matchAll(/call\('([A-Za-z_]+)'/g)].map((m) => m[1]));
  for (const name of ['beginConnect', 'finishConnect']) assert.ok(called.has(name), name + ' is called');
  for (const name of called) assert.equal(typeof ctx[name], 'function', name + ' exists in Code.js');
  // the sidebar's script parses
  const script = html.slice(html.indexOf('<script>') + 8, html.lastIndexOf('</script>'));
  assert.doesNotThrow(() => new vm.Script(script));
});
