'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {connectedWorld, hmacHex, plain} = require('../testlib/fakes');

const ID = /^L-[0-9a-f]{12}$/;
const ROWS = [
  ['Name', 'Email', 'Status', 'Notes'],
  ['Ann Lee', 'ann@example.com', 'New', ''],
  ['Bob Roy', 'bob@example.com', 'Contacted', 'call back'],
  ['Cy Dee', 'cy@example.com', 'New', ''],
  ['', '', '', ''],
  ['Dot Eng', 'dot@example.com', 'Won', ''],
];

function webhookPosts(world) {
  return world.fetch.requests.filter((r) => r.url.includes('/webhooks/sheets/'));
}

test('a multi-row paste sends every row in ONE signed POST with the edited columns', () => {
  const {world, server, ctx, sheet} = connectedWorld(ROWS);
  const ids = [2, 3, 4, 6].map((r) => sheet.display(r, 5));
  // paste 6 rows x 2 columns (Email, Status) starting on the header row: header and blank row skipped
  const event = world.userEdit('Leads', 1, 2, [
    ['Email', 'Status'],
    ['ann@new.example.com', 'Contacted'],
    ['bob@example.com', 'Won'],
    ['cy@example.com', 'Lost'],
    ['', ''],
    ['dot@example.com', 'Won'],
  ]);
  assert.equal(event.value, undefined, 'a paste has no e.value');
  const before = Date.now();
  ctx.handleEdit(event);
  const posts = webhookPosts(world);
  assert.equal(posts.length, 1);
  const post = posts[0];
  assert.equal(post.method, 'post');
  assert.equal(post.contentType, 'application/json');
  assert.equal(post.params.muteHttpExceptions, true);
  assert.equal(post.url, 'https://leads.example.com/webhooks/sheets/' + server.workspaceId);
  assert.match(post.headers['X-Timestamp'], /^\d{10}$/);
  assert.equal(post.headers['X-Signature'], hmacHex(server.secret, post.headers['X-Timestamp'], post.payload));
  const body = JSON.parse(post.payload);
  assert.deepEqual(Object.keys(body).sort(), ['event_id', 'removed', 'rows', 'sent_at', 'sheet', 'spreadsheet_id']);
  assert.match(body.event_id, /^[0-9a-f]{32}$/);
  assert.equal(body.spreadsheet_id, 'sheet-123');
  assert.equal(body.sheet, 'Leads');
  assert.ok(body.sent_at >= before && body.sent_at <= Date.now() + 1000);
  assert.deepEqual(body.removed, []);
  assert.deepEqual(body.rows.map((r) => r.row), [2, 3, 4, 6]);
  assert.deepEqual(body.rows.map((r) => r.lead_id), ids);
  for (const row of body.rows) {
    assert.deepEqual(row.changed, ['Email', 'Status']);
    assert.equal(typeof row.edited_at, 'number');
  }
  assert.deepEqual(body.rows[0].values, {Name: 'Ann Lee', Email: 'ann@new.example.com', Status: 'Contacted', Notes: '', 'Lead ID': ids[0]});
  assert.equal(server.events.length, 1, 'the signature was accepted');
});

test('a single-cell edit sends that row with its one changed column', () => {
  const {world, server, ctx, sheet} = connectedWorld(ROWS);
  const event = world.userEdit('Leads', 3, 3, [['Won']]);
  assert.equal(event.value, 'Won');
  ctx.handleEdit(event);
  assert.equal(server.events.length, 1);
  const [row] = server.events[0].rows;
  assert.deepEqual(plain(row.changed), ['Status']);
  assert.equal(row.row, 3);
  assert.equal(row.lead_id, sheet.display(3, 5));
  assert.equal(row.values.Status, 'Won');
  assert.equal(row.values.Notes, 'call back');
});

test('a new row typed by a person gets an id in the Lead ID column and is sent whole', () => {
  const {world, server, ctx, sheet} = connectedWorld(ROWS);
  ctx.handleEdit(world.userEdit('Leads', 7, 1, [['Eve Fox']]));
  const id = sheet.display(7, 5);
  assert.match(id, ID);
  const [row] = server.events[0].rows;
  assert.equal(row.lead_id, id);
  assert.equal(row.changed, null);
  assert.deepEqual(row.values, {Name: 'Eve Fox', Email: '', Status: '', Notes: '', 'Lead ID': id});
  // the next edit of that row keeps the id
  ctx.handleEdit(world.userEdit('Leads', 7, 2, [['eve@example.com']]));
  assert.equal(server.events[1].rows[0].lead_id, id);
  assert.deepEqual(server.events[1].rows[0].changed, ['Email']);
});

test('displayed values are sent as strings, empty cells as ""', () => {
  const {world, server, ctx, sheet} = connectedWorld([['Name', 'Deal', 'Closed', 'Paid'], ['Ann', 1200.5, '', true]]);
  sheet.setFormatted(2, 2, 1200.5, '$1,200.50');
  ctx.handleEdit(world.userEdit('Leads', 2, 1, [['Ann Lee']]));
  const {values} = server.events[0].rows[0];
  assert.equal(values.Deal, '$1,200.50');
  assert.equal(values.Closed, '');
  assert.equal(values.Paid, 'TRUE');
  assert.ok(Object.values(values).every((v) => typeof v === 'string'));
});

test('non-ASCII text travels as \\u escapes: the signed body is the sent body', () => {
  const {world, server, ctx} = connectedWorld(ROWS);
  ctx.handleEdit(world.userEdit('Leads', 2, 4, [['Zoë Åström — café €5 🚀']]));
  const post = webhookPosts(world)[0];
  assert.ok(/^[\x00-\x7f]*$/.test(post.payload), 'pure ASCII body');
  assert.equal(server.events[0].rows[0].values.Notes, 'Zoë Åström — café €5 🚀');
});

test('header-only and blank-row edits send nothing; other tabs are ignored', () => {
  const {world, ctx} = connectedWorld(ROWS, {otherSheets: {Notes: [['x']]}});
  ctx.handleEdit(world.userEdit('Leads', 1, 4, [['Notes']]));
  ctx.handleEdit(world.userEdit('Leads', 5, 4, [['']]));
  ctx.handleEdit(world.userEdit('Notes', 2, 1, [['hello']]));
  assert.equal(webhookPosts(world).length, 0);
});

test('edits of only the Lead ID column (such as the add-on writing ids) do not loop', () => {
  const {world, ctx, sheet} = connectedWorld(ROWS);
  const ids = [2, 3].map((r) => sheet.display(r, 5));
  // the add-on's own id write, were it to fire the trigger
  ctx.handleEdit(world.userEdit('Leads', 2, 5, [[ids[0]], [ids[1]]]));
  assert.equal(webhookPosts(world).length, 0);
  // a person typing over an id: the id is put back, nothing is sent
  ctx.handleEdit(world.userEdit('Leads', 3, 5, [['oops']]));
  assert.equal(sheet.display(3, 5), ids[1]);
  assert.equal(webhookPosts(world).length, 0);
});

test('a pasted copy of a row (with its id) gets its own id; a cleared id is restored', () => {
  const {world, server, ctx, sheet} = connectedWorld(ROWS);
  const annId = sheet.display(2, 5);
  ctx.handleEdit(world.userEdit('Leads', 7, 1, [['Ann Lee', 'ann@example.com', 'New', '', annId]]));
  const copyId = sheet.display(7, 5);
  assert.match(copyId, ID);
  assert.notEqual(copyId, annId);
  assert.equal(sheet.display(2, 5), annId);
  assert.equal(server.events[0].rows[0].lead_id, copyId);
  assert.deepEqual(server.events[0].removed, []);
  // a paste over a whole row that blanks its id cell gives the row its id back
  const bobId = sheet.display(3, 5);
  ctx.handleEdit(world.userEdit('Leads', 3, 1, [['Bob Roy', 'bob@x.example.com', 'Won', '', '']]));
  assert.equal(sheet.display(3, 5), bobId);
  assert.equal(server.events[1].rows[0].lead_id, bobId);
  assert.deepEqual(server.events[1].removed, []);
});

test('clearing a whole row (id included) reports the lead as removed', () => {
  const {world, server, ctx, sheet} = connectedWorld(ROWS);
  const bobId = sheet.display(3, 5);
  ctx.handleEdit(world.userEdit('Leads', 3, 1, [['', '', '', '', '']]));
  assert.equal(server.events.length, 1);
  assert.deepEqual(server.events[0].rows, []);
  assert.deepEqual(plain(server.events[0].removed), [{lead_id: bobId, row: 3}]);
});

test('a missing Lead ID header is reported, not guessed', () => {
  const {world, ctx, sheet} = connectedWorld(ROWS);
  sheet.set(1, 5, 'Something else');
  ctx.handleEdit(world.userEdit('Leads', 2, 3, [['Won']]));
  assert.equal(webhookPosts(world).length, 0);
  assert.match(ctx.getSelectedLead().errors[0].message, /\u201cLead ID\u201d column is missing/);
});

test('a single-cell edit says what the cell held before; a paste does not', () => {
  const {world, server, ctx} = connectedWorld(ROWS);
  ctx.handleEdit(world.userEdit('Leads', 3, 3, [['Won']]));
  assert.deepEqual(plain(server.events[0].rows[0].old), {Status: 'Contacted'});
  ctx.handleEdit(world.userEdit('Leads', 2, 4, [['first note']]));  // an empty cell before
  assert.deepEqual(plain(server.events[1].rows[0].old), {Notes: ''});
  ctx.handleEdit(world.userEdit('Leads', 2, 2, [['a@x.example', 'Qualified']]));
  assert.equal(server.events[2].rows[0].old, undefined, 'a range gives no previous values');
});

test('an edit is dated when its trigger fired, even when it waited for the lock', () => {
  const {world, server, ctx} = connectedWorld(ROWS);
  world.lock.held = true;  // another run of the trigger holds the document lock
  const queued = world.userEdit('Leads', 3, 3, [['Won']]);
  const firedAt = Date.now() + world.clock.offset;
  ctx.handleEdit(queued);
  assert.equal(server.events.length, 0, 'left for the next run');
  world.lock.held = false;
  world.clock.advance(60000);  // the next edit comes a minute later and sends both
  ctx.handleEdit(world.userEdit('Leads', 4, 4, [['later']]));
  const rows = Object.fromEntries(server.events[0].rows.map((r) => [r.row, r]));
  assert.ok(Math.abs(rows[3].edited_at - firedAt) < 1000, 'the queued edit keeps its own time');
  assert.ok(rows[4].edited_at >= firedAt + 60000);
});
