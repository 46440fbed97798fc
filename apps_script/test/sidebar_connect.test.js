'use strict';
/**
 * The sidebar's one-click connect flow in Node: Sidebar.html's own script (testlib/sidebar_dom.js)
 * calling the real Code.js (fakes) against the fake server. Timers run when the test says.
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const {createWorld, fakeServer} = require('../testlib/fakes');
const {loadSidebar} = require('../testlib/sidebar_dom');
const {ADDON_DIR} = require('../testlib/fakes');

const ROWS = [['Name', 'Email', 'Status'], ['Ann Lee', 'ann@example.com', 'New']];

function setUp(serverUrl) {
  const world = createWorld({sheets: {Leads: ROWS}, spreadsheetId: 'sheet-123'});
  const server = fakeServer(world);
  const ctx = world.load();
  ctx.LEADS_SYNC_BUILD.serverUrl = serverUrl === undefined ? 'https://leads.example.com' : serverUrl;
  const sidebar = loadSidebar(ctx, ADDON_DIR);
  sidebar.run();
  return {world, server, ctx, sidebar};
}

test('Connect to Leads Sync opens the connect page, waits, then shows the connection', () => {
  const {server, ctx, sidebar} = setUp();
  assert.equal(sidebar.body.getAttribute('data-state'), 'not-connected');
  assert.ok(sidebar.visible('not-connected'));
  sidebar.elements.connect.click();
  assert.equal(sidebar.elements.connect.disabled, true, 'no second connect while one waits');
  assert.equal(sidebar.popups.length, 1, 'the window opens inside the click, before any server call');
  sidebar.run();
  const popup = sidebar.popups[0];
  assert.match(popup.location.href, /^https:\/\/leads\.example\.com\/app\/addon\/connect\?nonce=[0-9a-f]{32}&spreadsheet=sheet-123&sheet=Leads$/);
  assert.match(sidebar.text('connect-status'), /Waiting for you to choose a workspace/);
  sidebar.run(2500);                      // one poll: nobody chose yet
  assert.match(sidebar.text('connect-status'), /Waiting/);
  assert.equal(ctx.getConfig_(), null);
  server.approve(popup.location.href);    // the person chose the workspace in the popup
  sidebar.run(2500);
  assert.match(sidebar.text('connect-status'), /Connected to the workspace \u201cPipeline\u201d/);
  assert.equal(sidebar.elements.connect.disabled, false);
  assert.equal(ctx.getConfig_().workspaceId, server.workspaceId);
  sidebar.run();                          // the sidebar reads the selection again
  assert.equal(sidebar.text('workspace-label'), 'Workspace: Pipeline');
  assert.ok(!sidebar.visible('not-connected'));
  assert.deepEqual(sidebar.calls.filter((c) => c !== 'getSelectedLead' && c !== 'getCardForLead'),
    ['beginConnect', 'finishConnect', 'finishConnect']);
});

test('a blocked popup leaves a link to open the connect page', () => {
  const {sidebar} = setUp();
  sidebar.blockPopups = true;
  sidebar.elements.connect.click();
  sidebar.run();
  assert.ok(sidebar.visible('connect-link'));
  assert.match(sidebar.elements['connect-link-a'].getAttribute('href'), /\/app\/addon\/connect\?nonce=/);
});

test('a refused connect shows the server\u2019s words and lets the person try again', () => {
  const {server, sidebar} = setUp();
  sidebar.elements.connect.click();
  sidebar.run();
  server.expired.add(new URL(sidebar.popups[0].location.href).searchParams.get('nonce'));
  sidebar.run(2500);
  assert.match(sidebar.text('connect-status'), /Could not connect: The connection was approved more than 10 minutes ago and has expired/);
  assert.equal(sidebar.elements['connect-status'].style.color, 'var(--red)');
  assert.equal(sidebar.elements.connect.disabled, false);
});

test('without a known server the button says to use the menu, and the window is closed again', () => {
  const {sidebar} = setUp('');
  sidebar.elements.connect.click();
  sidebar.run();
  assert.match(sidebar.text('connect-status'), /Connect to server\u2026/);
  assert.equal(sidebar.popups[0].closed, true);
});

test('a rotated secret shows the reconnect notice with its own Connect button', () => {
  const {world, server, ctx, sidebar} = setUp();
  world.ui.answers.push({button: 'OK', text: 'ABCD-EFGH-JKMN'});
  ctx.connectToServer();
  ctx.noteReconnect_(true);
  sidebar.window.leadsSidebar.poll();
  sidebar.run();
  assert.ok(sidebar.visible('reconnect'));
  assert.match(sidebar.text('reconnect-text'), /Choose Connect to Leads Sync in the sidebar/);
  sidebar.elements['reconnect-button'].click();
  sidebar.run();
  server.approve(sidebar.popups[0].location.href);
  sidebar.run(2500);
  assert.match(sidebar.text('reconnect-status'), /Connected to the workspace/);
});
