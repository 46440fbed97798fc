'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const {connectedWorld, createWorld, hmacHex, plain, requestHmacHex, signedBytes, targetOf} = require('../testlib/fakes');

const VECTORS = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'tests', 'vectors', 'addon_signatures.json'), 'utf8'));
const ROWS = [['Name', 'Status'], ['Ann', 'New'], ['Bob', 'New']];

function webhookPosts(world) {
  return world.fetch.requests.filter((r) => r.url.includes('/webhooks/sheets/'));
}

test('webhook signatures equal the shared test vectors (computed by the Python server)', () => {
  const ctx = createWorld().load();
  assert.ok(VECTORS.webhook.length >= 5);
  for (const v of VECTORS.webhook) {
    assert.equal(ctx.sign_(v.secret, v.timestamp, v.body), v.signature, JSON.stringify(v).slice(0, 80));
  }
});

test('add-on API signatures and targets equal the shared test vectors', () => {
  const ctx = createWorld().load();
  assert.ok(VECTORS.request.length >= 8);
  for (const v of VECTORS.request) {
    const label = v.method + ' ' + v.path;
    assert.equal(ctx.signedTarget_(v.path), v.target, label);
    assert.equal(targetOf('https://x.example.com/leads' + v.path, 'https://x.example.com/leads'), v.target, label);
    assert.equal(ctx.signRequest_(v.secret, v.timestamp, v.nonce, v.method, v.target, v.body), v.signature, label);
    assert.equal(ctx.signRequest_(v.secret, v.timestamp, v.nonce, v.method.toLowerCase(), v.target, v.body), v.signature, label);
    assert.equal(requestHmacHex(v.secret, v.timestamp, v.nonce, v.method, v.target, v.body), v.signature, label);
  }
});

test('an API signature covers the nonce, the method, the path and the query', () => {
  const ctx = createWorld().load();
  const secret = 'k';
  const nonce = '0123456789abcdef0123456789abcdef';
  const base = ctx.signRequest_(secret, '1700000000', nonce, 'get', '/api/addon/leads/L-a', '');
  const others = [
    ctx.signRequest_(secret, '1700000000', '1123456789abcdef0123456789abcdef', 'get', '/api/addon/leads/L-a', ''),
    ctx.signRequest_(secret, '1700000000', nonce, 'post', '/api/addon/leads/L-a', ''),
    ctx.signRequest_(secret, '1700000000', nonce, 'get', '/api/addon/leads/L-b', ''),
    ctx.signRequest_(secret, '1700000000', nonce, 'get', '/api/addon/leads/L-a?x=1', ''),
    ctx.signRequest_(secret, '1700000000', nonce, 'post', '/api/addon/sync', ''),
    ctx.sign_(secret, '1700000000', ''),
  ];
  assert.equal(new Set([base, ...others]).size, others.length + 1);
});

test('signed bytes from computeHmacSha256Signature become lowercase hex', () => {
  const ctx = createWorld().load();
  const bytes = signedBytes(Buffer.from([0, 1, 15, 16, 127, 128, 200, 255]));
  assert.deepEqual(bytes, [0, 1, 15, 16, 127, -128, -56, -1]);
  assert.equal(ctx.bytesToHex_(bytes), '00010f107f80c8ff');
});

test('every request is signed afresh with the workspace secret', () => {
  const {world, server, ctx} = connectedWorld(ROWS);
  ctx.handleEdit(world.userEdit('Leads', 2, 2, [['Won']]));
  const [post] = webhookPosts(world);
  assert.equal(post.headers['X-Workspace'], server.workspaceId);
  assert.equal(post.headers['X-Signature'], hmacHex(server.secret, post.headers['X-Timestamp'], post.payload));
  assert.ok(Math.abs(Number(post.headers['X-Timestamp']) - Date.now() / 1000) < 5);
});

test('API calls behind a server address with a path prefix sign the path after that address', () => {
  const card = {id: 'c1', name: 'Ann', url: 'https://trello.com/c/abc'};
  const {world, server, ctx, sheet} = connectedWorld(ROWS, {server: {url: 'https://example.com/tools/leads', cards: {}}});
  const leadId = sheet.display(2, 3);
  server.cards[leadId] = card;
  assert.equal(ctx.getCardForLead(leadId).linked, true);
  assert.equal(ctx.createCardNow(leadId).ok, true);
  assert.equal(ctx.syncNow().ok, true);
  ctx.handleEdit(world.userEdit('Leads', 2, 2, [['Won']]));
  const urls = world.fetch.requests.map((r) => r.method + ' ' + r.url);
  assert.deepEqual(urls, [
    'get https://example.com/tools/leads/api/addon/leads/' + leadId,
    'post https://example.com/tools/leads/api/addon/leads/' + leadId + '/card',
    'post https://example.com/tools/leads/api/addon/sync',
    'post https://example.com/tools/leads/webhooks/sheets/' + server.workspaceId,
  ]);
  const [get] = world.fetch.requests;
  assert.equal(get.headers['X-Signature'], requestHmacHex(server.secret, get.headers['X-Timestamp'],
    get.headers['X-Nonce'], 'GET', '/api/addon/leads/' + leadId, ''));
  assert.equal(server.events.length, 1);
});

test('a 500 is retried with backoff, then succeeds', () => {
  const {world, server, ctx} = connectedWorld(ROWS);
  world.fetch.respond({code: 500, body: 'oops'});
  ctx.handleEdit(world.userEdit('Leads', 2, 2, [['Won']]));
  const posts = webhookPosts(world);
  assert.equal(posts.length, 2);
  assert.equal(posts[0].payload, posts[1].payload, 'same event, same event id');
  assert.deepEqual(world.sleeps, [1000]);
  assert.equal(server.events.length, 1);
  assert.deepEqual(plain(ctx.getSelectedLead().errors), []);
});

test('exceptions, 429 (with Retry-After) and 503 are retried 3 times', () => {
  const {world, server, ctx} = connectedWorld(ROWS);
  world.fetch.respond({throw: 'Address unavailable'}, {code: 429, body: 'slow down', headers: {'Retry-After': '5'}}, {code: 503, body: ''});
  ctx.handleEdit(world.userEdit('Leads', 2, 2, [['Won']]));
  assert.equal(webhookPosts(world).length, 4);
  assert.deepEqual(world.sleeps, [1000, 5000, 7000]);
  assert.equal(server.events.length, 1);
});

test('exhausted retries are logged for the sidebar and the delivery is kept for the next run', () => {
  const {world, server, ctx} = connectedWorld(ROWS);
  world.fetch.respond(...Array.from({length: 4}, () => ({code: 502, body: '<html>Bad gateway</html>'})));
  ctx.handleEdit(world.userEdit('Leads', 2, 2, [['Won']]));
  assert.equal(webhookPosts(world).length, 4);
  assert.equal(server.events.length, 0);
  const [error] = plain(ctx.getSelectedLead().errors);
  assert.match(error.message, /Could not send row 2: the server answered HTTP 502: <html>Bad gateway<\/html> \(will retry/);
  assert.equal(error.code, 502);
  assert.equal(ctx.getSelectedLead().queued, 1);
  // the next edit delivers the kept event first, then its own
  ctx.handleEdit(world.userEdit('Leads', 3, 2, [['Lost']]));
  assert.deepEqual(server.events.map((e) => e.rows[0].values.Status), ['Won', 'Lost']);
  assert.equal(ctx.getSelectedLead().queued, 0);
});

test('a 4xx is not retried and is logged where the user sees it', () => {
  const {world, ctx} = connectedWorld(ROWS);
  world.fetch.respond({code: 400, body: {error: {code: 400, message: 'rows[0].row must be a positive integer'}}});
  ctx.handleEdit(world.userEdit('Leads', 2, 2, [['Won']]));
  assert.equal(webhookPosts(world).length, 1);
  assert.deepEqual(world.sleeps, []);
  const selected = ctx.getSelectedLead();
  assert.equal(selected.errors.length, 1);
  assert.equal(selected.errors[0].message, 'Could not send row 2: rows[0].row must be a positive integer (HTTP 400)');
  assert.equal(selected.errors[0].code, 400);
  assert.match(selected.errors[0].at, /^\d{4}-\d\d-\d\dT/);
  assert.equal(selected.queued, 0, 'a refused event is not kept');
});

test('a 401 (wrong secret) says so in plain words', () => {
  const {world, server, ctx} = connectedWorld(ROWS);
  server.secret = 'rotated';
  ctx.handleEdit(world.userEdit('Leads', 2, 2, [['Won']]));
  assert.match(ctx.getSelectedLead().errors[0].message, /signature does not match \(HTTP 401\)/);
});

test('only the last 20 errors are kept; clearErrors empties the list', () => {
  const {world, ctx} = connectedWorld(ROWS);
  world.fetch.handler = () => ({code: 403, body: {error: {code: 403, message: 'nope'}}});
  for (let i = 0; i < 25; i++) ctx.handleEdit(world.userEdit('Leads', 2, 2, [['S' + i]]));
  const errors = ctx.getSelectedLead().errors;
  assert.equal(errors.length, 20);
  assert.ok(world.documentProperties.getProperty('errors').length < 9 * 1024);
  ctx.clearErrors();
  assert.equal(ctx.getSelectedLead().errors.length, 0);
});

test('when the lock is busy the edit is queued, then sent with the next run', () => {
  const {world, server, ctx} = connectedWorld(ROWS);
  world.lock.busy = true;
  ctx.handleEdit(world.userEdit('Leads', 2, 2, [['Won']]));
  assert.deepEqual(world.lock.tries.at(-1), 10000);
  assert.equal(world.fetch.requests.length, 0);
  assert.equal(ctx.getSelectedLead().queued, 1);
  world.lock.busy = false;
  ctx.handleEdit(world.userEdit('Leads', 3, 1, [['Bob Roy']]));
  assert.equal(server.events.length, 1, 'one POST for both');
  assert.deepEqual(plain(server.events[0].rows.map((r) => [r.row, r.changed])), [[2, ['Status']], [3, ['Name']]]);
  assert.equal(ctx.getSelectedLead().queued, 0);
  assert.equal(world.lock.held, false, 'the lock is released');
});

test('the lock is released when a run throws', () => {
  const {world, ctx, sheet} = connectedWorld(ROWS);
  const event = world.userEdit('Leads', 2, 2, [['Won']]);
  sheet.getLastRow = () => { throw new Error('Exception: Service Spreadsheets timed out'); };
  assert.throws(() => ctx.handleEdit(event), /timed out/);
  assert.equal(world.lock.held, false);
});
