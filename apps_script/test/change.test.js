'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const {connectedWorld, plain} = require('../testlib/fakes');

const ID = /^L-[0-9a-f]{12}$/;
const ROWS = [
  ['Name', 'Email', 'Status'],
  ['Ann Lee', 'ann@example.com', 'New'],
  ['Bob Roy', 'bob@example.com', 'Contacted'],
  ['Cy Dee', 'cy@example.com', 'New'],
  ['Dot Eng', 'dot@example.com', 'Won'],
];

test('removed rows are found from the id snapshot and sent as removed', () => {
  const {world, server, ctx, sheet} = connectedWorld(ROWS);
  const bob = sheet.display(3, 4);
  const dot = sheet.display(5, 4);
  sheet.deleteRow(5);
  sheet.deleteRow(3);
  ctx.handleChange({changeType: 'REMOVE_ROW', source: world.spreadsheet});
  assert.equal(server.events.length, 1);
  const event = server.events[0];
  assert.deepEqual(event.rows, []);
  assert.deepEqual(plain(event.removed), [{lead_id: bob, row: 3}, {lead_id: dot, row: 5}]);
  // the snapshot moved on: the same change again sends nothing
  ctx.handleChange({changeType: 'REMOVE_ROW'});
  assert.equal(server.events.length, 1);
});

test('inserting blank rows or sorting sends nothing; ids follow their rows', () => {
  const {world, server, ctx, sheet} = connectedWorld(ROWS);
  sheet.insertRowsBefore(3, 2);
  ctx.handleChange({changeType: 'INSERT_ROW'});
  // a sort: rows swap places with their ids
  const two = sheet.grid[1];
  sheet.grid[1] = sheet.grid[5];
  sheet.grid[5] = two;
  ctx.handleChange({changeType: 'OTHER'});
  assert.equal(server.events.length, 0);
});

test('rows that appeared without an edit trigger get ids and are sent whole on a change', () => {
  const {world, server, ctx, sheet} = connectedWorld(ROWS);
  sheet.insertRowBefore(3);
  sheet.set(3, 1, 'Eve Fox');   // e.g. written by another script: no edit trigger
  sheet.set(3, 3, 'New');
  ctx.handleChange({changeType: 'INSERT_ROW'});
  const id = sheet.display(3, 4);
  assert.match(id, ID);
  assert.equal(server.events.length, 1);
  assert.deepEqual(plain(server.events[0].rows.map((r) => [r.lead_id, r.row, r.changed])), [[id, 3, null]]);
  assert.deepEqual(server.events[0].removed, []);
});

test('EDIT, FORMAT and column changes are left to handleEdit', () => {
  const {world, ctx} = connectedWorld(ROWS);
  for (const changeType of ['EDIT', 'FORMAT', 'INSERT_COLUMN', 'REMOVE_COLUMN', undefined]) {
    ctx.handleChange({changeType});
  }
  assert.equal(world.fetch.requests.length, 0);
});

test('a long id snapshot is chunked below the 9 kB property limit and still finds removals', () => {
  const rows = [['Name', 'Status']];
  for (let i = 0; i < 3000; i++) rows.push(['Lead ' + i, 'New']);
  const {world, server, ctx, sheet} = connectedWorld(rows);
  const props = world.documentProperties.getProperties();
  const chunks = Number(props.snapshot_chunks);
  assert.ok(chunks >= 5, `${chunks} chunks`);
  for (let i = 0; i < chunks; i++) assert.ok(props['snapshot_' + i].length <= 8000);
  const gone = [2, 1500, 3001].map((r) => sheet.display(r, 3));
  sheet.deleteRow(3001);
  sheet.deleteRow(1500);
  sheet.deleteRow(2);
  ctx.handleChange({changeType: 'REMOVE_ROW'});
  assert.deepEqual(plain(server.events[0].removed.map((r) => r.lead_id)), gone);
  // clearing almost everything shrinks the snapshot and drops the old chunks
  sheet.deleteRows(3, sheet.getLastRow() - 2);
  ctx.handleChange({changeType: 'REMOVE_ROW'});
  const after = world.documentProperties.getProperties();
  assert.equal(after.snapshot_chunks, '1');
  assert.equal(Object.keys(after).filter((k) => /^snapshot_\d+$/.test(k)).length, 1);
  assert.equal(server.events[1].removed.length, 2996);
});

test('work is capped well below the 6-minute limit of a run', () => {
  const rows = [['Name', 'Status']];
  for (let i = 0; i < 1200; i++) rows.push(['Lead ' + i, 'New']);
  const {world, server, ctx} = connectedWorld(rows);
  // every delivery takes 100 s: after two of them the 3-minute budget for new work is spent
  world.fetch.handler = ((inner) => (request) => { world.clock.advance(100000); return inner(request); })(world.fetch.handler);
  ctx.handleEdit(world.userEdit('Leads', 2, 2, Array.from({length: 1200}, () => ['Won'])));
  assert.deepEqual(server.events.map((e) => e.rows.length), [500, 500]);
  assert.match(ctx.getSelectedLead().errors[0].message, /6-minute limit.*200 row\(s\) not sent.*Sync now/);
  // retries stop at the budget too: a failing delivery is not retried past it
  world.fetch.requests.length = 0;
  world.fetch.handler = () => { world.clock.advance(200000); return {code: 503, body: 'busy'}; };
  ctx.handleEdit(world.userEdit('Leads', 2, 2, [['Lost']]));
  assert.equal(world.fetch.requests.length, 1);
  assert.match(ctx.getSelectedLead().errors[0].message, /HTTP 503.*will retry/);
});
