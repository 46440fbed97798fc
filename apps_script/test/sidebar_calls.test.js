'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {connectedWorld, createWorld, hmacHex, plain, requestHmacHex} = require('../testlib/fakes');

const ROWS = [['Name', 'Email', 'Status'], ['Ann Lee', 'ann@example.com', 'New'], ['', '', ''], ['Bob', 'bob@example.com', 'Won']];

test('not connected: getSelectedLead says so and sidebar calls refuse politely', () => {
  const ctx = createWorld({sheets: {Leads: ROWS}}).load();
  assert.deepEqual(plain(ctx.getSelectedLead()), {connected: false, errors: []});
  assert.equal(ctx.getCardForLead('L-aaaaaaaaaaaa').ok, false);
  assert.equal(ctx.createCardNow('L-aaaaaaaaaaaa').ok, false);
  assert.match(ctx.syncNow().error, /Not connected/);
});

test('getSelectedLead follows the active row', () => {
  const {world, ctx, sheet} = connectedWorld(ROWS, {otherSheets: {Notes: [['x']]}});
  sheet.setActiveSelection('B2');
  const lead = plain(ctx.getSelectedLead());
  assert.equal(lead.connected, true);
  assert.equal(lead.onSheet, true);
  assert.equal(lead.row, 2);
  assert.equal(lead.leadId, sheet.display(2, 4));
  assert.equal(lead.blank, false);
  assert.deepEqual(lead.values, {Name: 'Ann Lee', Email: 'ann@example.com', Status: 'New'});
  assert.equal(lead.workspaceName, 'Pipeline');
  sheet.setActiveSelection('A1');
  assert.equal(ctx.getSelectedLead().header, true);
  sheet.setActiveSelection('C3');
  assert.equal(ctx.getSelectedLead().blank, true);
  world.spreadsheet.getSheetByName('Notes').setActiveSelection('A1');
  const elsewhere = ctx.getSelectedLead();
  assert.equal(elsewhere.onSheet, false);
  assert.equal(elsewhere.sheet, 'Leads');
});

test('getCardForLead is a GET of the empty body, signed with its method and path', () => {
  const card = {id: 'c1', name: 'Ann Lee', url: 'https://trello.com/c/abc', list: {id: 'l1', name: 'New'}, labels: [], members: []};
  const {world, server, ctx, sheet} = connectedWorld(ROWS, {server: {cards: {}}});
  const leadId = sheet.display(2, 4);
  server.cards[leadId] = card;
  const answer = plain(ctx.getCardForLead(leadId));
  assert.equal(answer.ok, true);
  assert.equal(answer.linked, true);
  assert.deepEqual(answer.card, card);
  const [get] = world.fetch.requests;
  assert.equal(get.method, 'get');
  assert.equal(get.url, 'https://leads.example.com/api/addon/leads/' + leadId);
  assert.equal(get.payload, undefined);
  assert.equal(get.headers['X-Signature'], requestHmacHex(server.secret, get.headers['X-Timestamp'],
    get.headers['X-Nonce'], 'GET', '/api/addon/leads/' + leadId, ''));
  assert.notEqual(get.headers['X-Signature'], hmacHex(server.secret, get.headers['X-Timestamp'], ''),
    'not the webhook form: a captured look-up must not open other calls');
  assert.equal(ctx.getCardForLead('L-000000000000').linked, false);
});

test('a lead id that needs escaping is sent encoded and signed decoded', () => {
  const {world, server, ctx} = connectedWorld(ROWS, {server: {cards: {}}});
  const leadId = 'L-caf\u00e9 #1?/x';
  server.cards[leadId] = {id: 'c9', name: 'Caf\u00e9'};
  const answer = plain(ctx.getCardForLead(leadId));
  assert.equal(answer.ok, true, JSON.stringify(answer));
  assert.equal(answer.lead_id, leadId);
  const [get] = world.fetch.requests;
  assert.equal(get.url, 'https://leads.example.com/api/addon/leads/L-caf%C3%A9%20%231%3F%2Fx');
  assert.equal(get.headers['X-Signature'], requestHmacHex(server.secret, get.headers['X-Timestamp'],
    get.headers['X-Nonce'], 'GET', '/api/addon/leads/' + leadId, ''));
});

test('createCardNow, syncNow and disconnect sign their own method and path', () => {
  const {world, server, ctx, sheet} = connectedWorld(ROWS);
  const leadId = sheet.display(2, 4);
  ctx.createCardNow(leadId);
  ctx.syncNow();
  ctx.disconnect();
  const signed = world.fetch.requests.map((r) => [r.method, new URL(r.url).pathname, r.payload,
    r.headers['X-Signature'] === requestHmacHex(server.secret, r.headers['X-Timestamp'], r.headers['X-Nonce'],
      r.method, new URL(r.url).pathname, r.payload)]);
  assert.deepEqual(plain(signed), [
    ['post', '/api/addon/leads/' + leadId + '/card', JSON.stringify({lead_id: leadId}), true],
    ['post', '/api/addon/sync', '{}', true],
    ['post', '/api/addon/disconnect', '{}', true],
  ]);
});

test('getCardForLead reports errors instead of throwing', () => {
  const {world, ctx} = connectedWorld(ROWS);
  world.fetch.respond({code: 404, body: {error: {code: 404, message: 'unknown workspace'}}});
  assert.deepEqual(plain(ctx.getCardForLead('L-000000000000')), {ok: false, error: 'unknown workspace (HTTP 404)', code: 404});
});

test('createCardNow and syncNow queue work on the server', () => {
  const {world, server, ctx, sheet} = connectedWorld(ROWS);
  const leadId = sheet.display(2, 4);
  assert.equal(ctx.createCardNow(leadId).ok, true);
  assert.equal(ctx.syncNow().ok, true);
  assert.deepEqual(plain(server.calls.map((c) => [c.method, c.path])), [
    ['post', '/api/addon/leads/' + leadId + '/card'],
    ['post', '/api/addon/sync'],
  ]);
  assert.deepEqual(JSON.parse(server.calls[0].body), {lead_id: leadId});
  ctx.syncNowFromMenu();
  assert.match(world.spreadsheet.toasts.at(-1).message, /Sync started/);
});

test('a failing Sync now is logged and reported', () => {
  const {world, ctx} = connectedWorld(ROWS);
  world.fetch.handler = () => ({code: 410, body: {error: {code: 410, message: 'this workspace is disconnected'}}});
  const answer = ctx.syncNow();
  assert.equal(answer.ok, false);
  assert.match(ctx.getSelectedLead().errors[0].message, /Sync now failed: this workspace is disconnected \(HTTP 410\)/);
});
