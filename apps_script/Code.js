/**
 * Leads Sync — the Google Sheets side of the Sheets ⇄ Trello lead sync.
 *
 * Apps Script V8, plain JavaScript, no libraries. The same file runs in Node's test runner
 * against fakes of the Apps Script services (see test/ and testlib/).
 *
 * What it does
 * - Menu "Leads Sync": Open sidebar, Connect to server…, Sync now, Disconnect.
 * - One-click connect (the sidebar's "Connect to Leads Sync" button): beginConnect makes a nonce
 *   and the address of the server's connect page, which the sidebar opens in a popup; there the
 *   person picks their workspace, and finishConnect (polled by the sidebar) collects the
 *   credentials from <server>/api/addon/connect/poll. The server address comes from
 *   LEADS_SYNC_BUILD (baked in by `flask addon build`) or an earlier connection.
 * - Connect to server… (menu) trades a one-time code from the dashboard for the workspace id and its signing
 *   secret (kept in the document properties, never shown again). Either way it makes sure the sheet has a
 *   protected "Lead ID" column with a stable id on every data row, installs two installable
 *   triggers (edit and change) and sends every data row once (the first sync).
 * - handleEdit (installable on-edit trigger) sends every row of the edited range (pastes span
 *   many rows) in ONE signed POST to <server>/webhooks/sheets/<workspace>, with the headers of
 *   the edited columns in "changed". A simple onEdit trigger could not call UrlFetchApp.
 * - handleChange (installable on-change trigger: rows inserted/removed, sorts…) has no range:
 *   it compares the Lead ID column with a snapshot kept in the document properties to find the
 *   leads whose rows were removed, gives ids to new rows and sends both.
 * - Every request is signed: X-Timestamp = Unix seconds, X-Signature = lowercase hex of
 *   HMAC-SHA256 with key = the workspace secret over
 *     - deliveries to the sheets webhook: timestamp + "." + body (each carries an event id the
 *       server stores once, so a replay changes nothing);
 *     - calls to the add-on API (/api/addon/...), which include GETs with an empty body:
 *       timestamp + "\n" + nonce + "\n" + METHOD + "\n" + target + "\n" + body, where the nonce
 *       is new for every request (sent as X-Nonce; the server accepts it once, so a captured
 *       "Sync now" cannot be replayed), METHOD is upper case and target is the path relative to
 *       the server address (its own path prefix, if any, left out), percent-decoded, then "?" and
 *       the query string as sent if there is one. Signing the method and path means a captured
 *       signature opens no other call.
 *   The canonical forms are written down in server/sync/signatures.py. Bodies are pure ASCII JSON
 *   (non-ASCII characters are \u-escaped) so the signed bytes are the sent bytes.
 * - When the workspace's secret is rotated on the dashboard the server still takes the old one for
 *   a few minutes (answering X-Secret-Rotated: 1), then refuses it with reason "secret_rotated":
 *   the add-on remembers that, and the sidebar and the menu ask for a reconnect in plain words.
 * - Transient failures (exceptions, 429, 5xx) are retried 3 times with backoff; a delivery
 *   that still fails is kept in an outbox and retried on the next run (same event id, so the
 *   server stores it once). Permanent failures are logged where the user sees them: the last
 *   20 errors are kept in the document properties and shown in the sidebar.
 */

// The build command (`flask addon build`, server/addon/build.py) rewrites the next line with the
// deployment's address; in this source file it is empty (the menu then asks for the address).
var LEADS_SYNC_BUILD = {serverUrl: '', editorAddon: false};

var LEADS_SYNC = {
  MENU: 'Leads Sync',
  PROTECTION_DESCRIPTION: 'Leads Sync ids',
  HANDLERS: ['handleEdit', 'handleChange'],
  MAX_ERRORS: 20,
  MAX_ERROR_CHARS: 300,
  RETRIES: 3,                       // after the first attempt
  BACKOFF_MS: [1000, 3000, 7000],
  INTERACTIVE_RETRIES: 1,           // sidebar calls must stay snappy
  LOCK_WAIT_MS: 10000,
  BATCH_ROWS: 500,                  // rows per POST (the server takes at most 5000)
  MAX_BODY_CHARS: 1500000,          // the server refuses bodies over 2 MiB
  READ_CHUNK_ROWS: 2000,
  RUN_BUDGET_MS: 3 * 60 * 1000,     // no new work after 3 minutes (Apps Script stops a run at 6)
  SNAPSHOT_CHUNK_CHARS: 8000,       // a property value holds at most 9 kB
  MAX_PENDING: 200,
  MAX_OUTBOX: 40,
  OUTBOX_FLUSH_PER_RUN: 10,
  MAX_OUTBOX_BODY_CHARS: 8500,
  CONNECT_WAIT_MS: 15 * 60 * 1000   // how long a one-click connect waits for the popup
};

var PROP = {
  SERVER_URL: 'server_url',
  WORKSPACE_ID: 'workspace_id',
  WORKSPACE_NAME: 'workspace_name',
  SECRET: 'secret',
  SHEET: 'sheet',
  SPREADSHEET_ID: 'spreadsheet_id',
  LEAD_ID_COLUMN: 'lead_id_column',
  HEADER_ROW: 'header_row',
  CONNECTED_AT: 'connected_at',
  ERRORS: 'errors',
  SNAPSHOT_COUNT: 'snapshot_chunks',
  SNAPSHOT_PREFIX: 'snapshot_',
  PENDING_PREFIX: 'pending_',
  OUTBOX_PREFIX: 'outbox_',
  RECONNECT: 'reconnect',
  CONNECT_PENDING_PREFIX: 'connect_pending_'   // user properties: one pending one-click connect per spreadsheet
};

var RECONNECT_SOON = 'The workspace\u2019s secret was changed on the dashboard; this spreadsheet\u2019s old one stops ' +
  'working in a few minutes. Choose Connect to Leads Sync in the sidebar (or Leads Sync \u203a ' +
  'Connect to server\u2026 with a new connect code from the workspace\u2019s owner).';
var RECONNECT_NOW = 'The workspace\u2019s secret was changed on the dashboard, so the server refuses this ' +
  'spreadsheet\u2019s edits. Choose Connect to Leads Sync in the sidebar (or Leads Sync \u203a ' +
  'Connect to server\u2026 with a new connect code from the workspace\u2019s owner); every row is sent again, so ' +
  'nothing is lost.';

// --------------------------------------------------------------------------- menu and sidebar

function onOpen(e) {
  var ui = SpreadsheetApp.getUi();
  // A published Editor add-on's menu lives under Extensions (createAddonMenu); a bound script's is its own.
  (LEADS_SYNC_BUILD.editorAddon ? ui.createAddonMenu() : ui.createMenu(LEADS_SYNC.MENU))
    .addItem('Open sidebar', 'showSidebar')
    .addItem(readReconnect_(true) ? 'Connect to server\u2026 (reconnect needed)' : 'Connect to server\u2026', 'connectToServer')
    .addItem('Sync now', 'syncNowFromMenu')
    .addSeparator()
    .addItem('Disconnect', 'disconnectFromMenu')
    .addToUi();
}

function onInstall(e) {
  onOpen(e);
}

function showSidebar() {
  var html = HtmlService.createHtmlOutputFromFile('Sidebar').setTitle('Leads Sync');
  SpreadsheetApp.getUi().showSidebar(html);
}

// --------------------------------------------------------------------------- configuration

function getConfig_() {
  var p = PropertiesService.getDocumentProperties().getProperties();
  if (!p[PROP.SERVER_URL] || !p[PROP.WORKSPACE_ID] || !p[PROP.SECRET] || !p[PROP.SHEET]) return null;
  var serverUrl = p[PROP.SERVER_URL];
  return {
    serverUrl: serverUrl,
    workspaceId: p[PROP.WORKSPACE_ID],
    workspaceName: p[PROP.WORKSPACE_NAME] || '',
    secret: p[PROP.SECRET],
    sheet: p[PROP.SHEET],
    spreadsheetId: p[PROP.SPREADSHEET_ID] || SpreadsheetApp.getActiveSpreadsheet().getId(),
    leadIdColumn: p[PROP.LEAD_ID_COLUMN] || 'Lead ID',
    headerRow: Number(p[PROP.HEADER_ROW]) || 1,
    webhookUrl: serverUrl + '/webhooks/sheets/' + encodeURIComponent(p[PROP.WORKSPACE_ID])
  };
}

/** "https://x.example.com/" → "https://x.example.com"; anything that is not http(s) → "". */
function normaliseServerUrl_(text) {
  var url = String(text || '').trim().replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s\/?#]+(\/[^\s?#]*)?$/i.test(url)) return '';
  return url;
}

// --------------------------------------------------------------------------- connect / disconnect

/** Menu: Connect to server… (asks for the server address and the one-time code). */
function connectToServer() {
  var ui = SpreadsheetApp.getUi();
  var props = PropertiesService.getDocumentProperties();
  var baked = normaliseServerUrl_(LEADS_SYNC_BUILD.serverUrl);
  if (baked) return askCodeAndConnect_(ui, baked);
  var current = props.getProperty(PROP.SERVER_URL) || '';
  var first = ui.prompt('Connect to Leads Sync (1 of 2)',
    'The address of your Leads Sync server, for example https://leads.example.com' +
    (current ? '\n(leave empty to keep ' + current + ')' : ''), ui.ButtonSet.OK_CANCEL);
  if (first.getSelectedButton() !== ui.Button.OK) return;
  var serverUrl = normaliseServerUrl_(first.getResponseText() || current);
  if (!serverUrl) {
    ui.alert('Leads Sync', 'That is not a server address: it must start with https:// (or http:// for a local test server).',
      ui.ButtonSet.OK);
    return;
  }
  askCodeAndConnect_(ui, serverUrl);
}

/** The code prompt of Connect to server… (the only prompt when the server address is built in). */
function askCodeAndConnect_(ui, serverUrl) {
  var second = ui.prompt('Connect to Leads Sync' + (normaliseServerUrl_(LEADS_SYNC_BUILD.serverUrl) ? '' : ' (2 of 2)'),
    'The one-time connect code shown on the dashboard (like ABCD-EFGH-JKMN). It works once and expires after 30 minutes.',
    ui.ButtonSet.OK_CANCEL);
  if (second.getSelectedButton() !== ui.Button.OK) return;
  var code = String(second.getResponseText() || '').trim();
  if (!code) {
    ui.alert('Leads Sync', 'No code was entered; nothing changed.', ui.ButtonSet.OK);
    return;
  }
  var result = connectWithCode_(serverUrl, code);
  ui.alert('Leads Sync', result.message, ui.ButtonSet.OK);
}

/**
 * Trade the code for the workspace's settings, prepare the sheet and triggers, send every row.
 * Returns {ok, message}.
 */
function connectWithCode_(serverUrl, code) {
  var ss = SpreadsheetApp.getActiveSpreadsheet();
  var body = asciiJson_({code: code, spreadsheet_id: ss.getId(), sheet: ss.getActiveSheet().getName()});
  var answer = fetchWithRetry_(serverUrl + '/api/addon/connect', {
    method: 'post', contentType: 'application/json', payload: body, muteHttpExceptions: true,
    followRedirects: false
  }, LEADS_SYNC.INTERACTIVE_RETRIES);
  if (!answer.ok) {
    return {ok: false, message: 'Could not connect: ' + answer.message};
  }
  return applyConnection_(serverUrl, answer.data || {});
}

/**
 * Keep what the server handed over (workspace id, secret, tab…), prepare the sheet and the triggers
 * and send every row: the common end of Connect to server… and of one-click connect. Returns {ok, message}.
 */
function applyConnection_(serverUrl, data) {
  var ss = SpreadsheetApp.getActiveSpreadsheet();
  if (!data.workspace_id || !data.secret || !data.sheet) {
    return {ok: false, message: 'Could not connect: the server answered without a workspace id and secret. ' +
      'Is ' + serverUrl + ' a Leads Sync server?'};
  }
  var sheet = ss.getSheetByName(data.sheet);
  if (!sheet) {
    return {ok: false, message: 'Could not connect: the workspace syncs the tab \u201c' + data.sheet +
      '\u201d, which this spreadsheet does not have. Rename the tab or change the workspace on the dashboard.'};
  }
  var lock = LockService.getDocumentLock();
  if (lock && !lock.tryLock(LEADS_SYNC.LOCK_WAIT_MS)) {
    return {ok: false, message: 'Another Leads Sync task is running in this spreadsheet; try again in a minute.'};
  }
  var sent;
  try {
    removeOurTriggers_(ss);
    var props = PropertiesService.getDocumentProperties();
    props.deleteAllProperties();   // a fresh start: no old snapshot, queue or errors
    var stored = {};
    stored[PROP.SERVER_URL] = serverUrl;
    stored[PROP.WORKSPACE_ID] = String(data.workspace_id);
    stored[PROP.WORKSPACE_NAME] = String(data.workspace_name || '');
    stored[PROP.SECRET] = String(data.secret);
    stored[PROP.SHEET] = String(data.sheet);
    stored[PROP.SPREADSHEET_ID] = ss.getId();
    stored[PROP.LEAD_ID_COLUMN] = String(data.lead_id_column || 'Lead ID');
    stored[PROP.HEADER_ROW] = String(data.header_row || 1);
    stored[PROP.CONNECTED_AT] = new Date().toISOString();
    props.setProperties(stored);
    var cfg = getConfig_();
    ensureLeadIdColumn_(sheet, cfg);
    installTriggers_(ss);
    sent = fullSync_(cfg, sheet, Date.now());
  } finally {
    if (lock) lock.releaseLock();
  }
  var name = data.workspace_name ? '\u201c' + data.workspace_name + '\u201d' : data.workspace_id;
  var message = 'Connected to the workspace ' + name + '. The tab \u201c' + data.sheet + '\u201d now syncs with Trello. ' +
    sent.rows + ' row(s) sent for the first sync.';
  if (!sent.ok) message += ' Some rows could not be sent yet (see the sidebar); they will be retried.';
  return {ok: true, message: message, rows: sent.rows};
}

// --------------------------------------------------------------------------- one-click connect

/** The server this copy talks to: the built-in address, else the one of an earlier connection ('' if none). */
function knownServerUrl_() {
  return normaliseServerUrl_(LEADS_SYNC_BUILD.serverUrl) ||
    normaliseServerUrl_(PropertiesService.getDocumentProperties().getProperty(PROP.SERVER_URL) || '');
}

function pendingKey_() {
  return PROP.CONNECT_PENDING_PREFIX + SpreadsheetApp.getActiveSpreadsheet().getId();
}

/**
 * Sidebar: start a one-click connect. Returns {ok, url} (the page the sidebar opens in a popup) or
 * {ok: false, error}. The nonce in the address is new each time and kept in the user properties
 * until finishConnect uses it (or CONNECT_WAIT_MS pass).
 */
function beginConnect() {
  var serverUrl = knownServerUrl_();
  if (!serverUrl) {
    return {ok: false, error: 'This copy of the add-on does not know its Leads Sync server. Choose Leads Sync \u203a ' +
      'Connect to server\u2026 and enter the server address and a connect code from the dashboard.'};
  }
  var ss = SpreadsheetApp.getActiveSpreadsheet();
  var pending = {nonce: newNonce_(), serverUrl: serverUrl, spreadsheetId: ss.getId(),
    sheet: ss.getActiveSheet().getName(), startedAt: Date.now()};
  PropertiesService.getUserProperties().setProperty(pendingKey_(), JSON.stringify(pending));
  var url = serverUrl + '/app/addon/connect?nonce=' + pending.nonce + '&spreadsheet=' +
    encodeURIComponent(pending.spreadsheetId) + '&sheet=' + encodeURIComponent(pending.sheet);
  return {ok: true, url: url};
}

/**
 * Sidebar (polled every few seconds after beginConnect): has the person chosen a workspace in the
 * popup? Returns {state: 'waiting'}, {state: 'connected', message}, or {state: 'failed', error}
 * (also {state: 'none'} when no connect was started).
 */
function finishConnect() {
  var props = PropertiesService.getUserProperties();
  var key = pendingKey_();
  var pending = parseJson_(props.getProperty(key) || '');
  if (!pending || !pending.nonce) return {state: 'none'};
  if (Date.now() - Number(pending.startedAt || 0) > LEADS_SYNC.CONNECT_WAIT_MS) {
    props.deleteProperty(key);
    return {state: 'failed', error: 'Nobody chose a workspace in the connect window for 15 minutes, so the ' +
      'request expired. Choose Connect to Leads Sync again.'};
  }
  var body = asciiJson_({nonce: pending.nonce, spreadsheet_id: pending.spreadsheetId, sheet: pending.sheet});
  var answer = fetchWithRetry_(pending.serverUrl + '/api/addon/connect/poll', {
    method: 'post', contentType: 'application/json', payload: body, muteHttpExceptions: true, followRedirects: false
  }, 0);
  if (answer.ok && answer.code === 202) return {state: 'waiting'};
  if (!answer.ok && !answer.permanent) return {state: 'waiting', problem: answer.message};   // try again next poll
  props.deleteProperty(key);   // used up (or refused): the next connect starts afresh
  if (!answer.ok) return {state: 'failed', error: 'Could not connect: ' + answer.message};
  var result = applyConnection_(pending.serverUrl, answer.data || {});
  return result.ok ? {state: 'connected', message: result.message} : {state: 'failed', error: result.message};
}

/** Menu: Disconnect (asks first). */
function disconnectFromMenu() {
  var ui = SpreadsheetApp.getUi();
  var answer = ui.alert('Disconnect Leads Sync?',
    'Edits in this spreadsheet will stop syncing to Trello. The Lead ID column stays so that connecting again keeps every link.',
    ui.ButtonSet.YES_NO);
  if (answer !== ui.Button.YES) return;
  var result = disconnect();
  ui.alert('Leads Sync', result.message, ui.ButtonSet.OK);
}

/** Remove our triggers and settings, and tell the server (best effort). */
function disconnect() {
  var ss = SpreadsheetApp.getActiveSpreadsheet();
  var cfg = getConfig_();
  var told = null;
  if (cfg) {
    told = apiFetch_(cfg, 'post', '/api/addon/disconnect', '{}', LEADS_SYNC.INTERACTIVE_RETRIES);
  }
  removeOurTriggers_(ss);
  PropertiesService.getDocumentProperties().deleteAllProperties();
  var message = 'Disconnected. The Lead ID column was kept.';
  if (told && !told.ok) message += ' The server could not be told (' + told.message + '); remove the workspace on the dashboard if you no longer need it.';
  return {ok: true, message: message};
}

function removeOurTriggers_(ss) {
  var triggers = ScriptApp.getUserTriggers(ss);
  var removed = 0;
  for (var i = 0; i < triggers.length; i++) {
    if (LEADS_SYNC.HANDLERS.indexOf(triggers[i].getHandlerFunction()) >= 0) {
      ScriptApp.deleteTrigger(triggers[i]);
      removed++;
    }
  }
  return removed;
}

function installTriggers_(ss) {
  removeOurTriggers_(ss);
  ScriptApp.newTrigger('handleEdit').forSpreadsheet(ss).onEdit().create();
  ScriptApp.newTrigger('handleChange').forSpreadsheet(ss).onChange().create();
}

// --------------------------------------------------------------------------- the Lead ID column

function columnLetter_(col) {
  var s = '';
  while (col > 0) {
    var m = (col - 1) % 26;
    s = String.fromCharCode(65 + m) + s;
    col = Math.floor((col - 1) / 26);
  }
  return s;
}

function findHeader_(headers, name) {
  var wanted = String(name).trim().toLowerCase();
  for (var i = 0; i < headers.length; i++) {
    if (String(headers[i]).trim().toLowerCase() === wanted) return i;
  }
  return -1;
}

function readHeaders_(sheet, cfg) {
  var lastCol = sheet.getLastColumn();
  if (lastCol < 1) return [];
  return sheet.getRange(cfg.headerRow, 1, 1, lastCol).getDisplayValues()[0].map(function (h) {
    return String(h).trim();
  });
}

/** Make sure the sheet has the Lead ID column (created at the end of the header row) and protect it. */
function ensureLeadIdColumn_(sheet, cfg) {
  var headers = readHeaders_(sheet, cfg);
  var index = findHeader_(headers, cfg.leadIdColumn);
  var created = false;
  var col;
  if (index >= 0) {
    col = index + 1;
  } else {
    col = sheet.getLastColumn() + 1;
    if (col > sheet.getMaxColumns()) sheet.insertColumnAfter(sheet.getMaxColumns());
    sheet.getRange(cfg.headerRow, col).setValue(cfg.leadIdColumn);
    created = true;
  }
  protectIdColumn_(sheet, col);
  return {col: col, created: created};
}

function protectIdColumn_(sheet, col) {
  var existing = sheet.getProtections(SpreadsheetApp.ProtectionType.RANGE);
  for (var i = 0; i < existing.length; i++) {
    if (existing[i].getDescription() === LEADS_SYNC.PROTECTION_DESCRIPTION) {
      try { existing[i].remove(); } catch (err) { /* someone else's protection: leave it */ }
    }
  }
  var letter = columnLetter_(col);
  sheet.getRange(letter + ':' + letter).protect()
    .setDescription(LEADS_SYNC.PROTECTION_DESCRIPTION)
    .setWarningOnly(true);
}

/** "L-" + 12 lowercase hex characters (random bits of a UUID v4). */
function newLeadId_() {
  return 'L-' + Utilities.getUuid().replace(/-/g, '').toLowerCase().slice(0, 12);
}

function isBlankRow_(cells, idIndex) {
  for (var i = 0; i < cells.length; i++) {
    if (i !== idIndex && String(cells[i]).trim() !== '') return false;
  }
  return true;
}

function rowValues_(headers, cells) {
  var values = {};
  for (var i = 0; i < headers.length; i++) {
    var header = headers[i];
    if (!header || Object.prototype.hasOwnProperty.call(values, header)) continue;
    var cell = i < cells.length ? cells[i] : '';
    values[header] = cell === null || cell === undefined ? '' : String(cell);
  }
  return values;
}

/**
 * The sheet's data as displayed: {headers, idIndex, firstRow, rows: [[cells]], ids: [id]} for
 * rows firstRow..lastRow, read in chunks. Stops early (complete=false) past the deadline.
 */
function readSheet_(sheet, cfg, deadline) {
  var headers = readHeaders_(sheet, cfg);
  var idIndex = findHeader_(headers, cfg.leadIdColumn);
  var firstRow = cfg.headerRow + 1;
  var lastRow = sheet.getLastRow();
  var lastCol = Math.max(sheet.getLastColumn(), headers.length, 1);
  var rows = [];
  var complete = true;
  for (var start = firstRow; start <= lastRow; start += LEADS_SYNC.READ_CHUNK_ROWS) {
    if (deadline && Date.now() > deadline) { complete = false; break; }
    var count = Math.min(LEADS_SYNC.READ_CHUNK_ROWS, lastRow - start + 1);
    var block = sheet.getRange(start, 1, count, lastCol).getDisplayValues();
    for (var i = 0; i < block.length; i++) rows.push(block[i]);
  }
  var ids = rows.map(function (cells) { return idIndex >= 0 ? String(cells[idIndex] || '').trim() : ''; });
  return {headers: headers, idIndex: idIndex, firstRow: firstRow, lastRow: lastRow, rows: rows, ids: ids,
    complete: complete};
}

/** Write ids[from..to] (0-based data indexes) back to the Lead ID column in one call. */
function writeIds_(sheet, data, from, to) {
  if (from > to) return;
  var values = [];
  for (var i = from; i <= to; i++) values.push([data.ids[i]]);
  sheet.getRange(data.firstRow + from, data.idIndex + 1, values.length, 1).setValues(values);
}

// --------------------------------------------------------------------------- id snapshot

function loadSnapshot_(props) {
  var all = props.getProperties();
  var count = Number(all[PROP.SNAPSHOT_COUNT]);
  if (!count && all[PROP.SNAPSHOT_COUNT] !== '0') return null;
  var text = '';
  for (var i = 0; i < count; i++) text += all[PROP.SNAPSHOT_PREFIX + i] || '';
  try {
    var ids = JSON.parse(text || '[]');
    return Array.isArray(ids) ? ids : null;
  } catch (err) {
    return null;
  }
}

function saveSnapshot_(props, ids) {
  var text = JSON.stringify(ids);
  var chunks = [];
  for (var i = 0; i < text.length; i += LEADS_SYNC.SNAPSHOT_CHUNK_CHARS) {
    chunks.push(text.slice(i, i + LEADS_SYNC.SNAPSHOT_CHUNK_CHARS));
  }
  var previous = Number(props.getProperty(PROP.SNAPSHOT_COUNT)) || 0;
  var update = {};
  for (var c = 0; c < chunks.length; c++) update[PROP.SNAPSHOT_PREFIX + c] = chunks[c];
  update[PROP.SNAPSHOT_COUNT] = String(chunks.length);
  props.setProperties(update);
  for (var k = chunks.length; k < previous; k++) props.deleteProperty(PROP.SNAPSHOT_PREFIX + k);
}

/** Lead ids in the snapshot that are no longer in the sheet, with the row they were last seen on. */
function removedSince_(snapshot, data) {
  if (!snapshot) return [];
  var present = {};
  data.ids.forEach(function (id) { if (id) present[id] = true; });
  var removed = [];
  var seen = {};
  for (var i = 0; i < snapshot.length; i++) {
    var id = snapshot[i];
    if (id && !present[id] && !seen[id]) {
      seen[id] = true;
      removed.push({lead_id: id, row: data.firstRow + i});
    }
  }
  return removed;
}

// --------------------------------------------------------------------------- triggers

/** Installable on-edit trigger: send every row of the edited range in one signed POST. */
function handleEdit(e) {
  var cfg = getConfig_();
  if (!cfg || !e || !e.range) return;
  var sheet = e.range.getSheet();
  if (sheet.getName() !== cfg.sheet) return;
  var started = Date.now();
  var edit = {
    r1: e.range.getRow(), r2: e.range.getLastRow(),
    c1: e.range.getColumn(), c2: e.range.getLastColumn(),
    at: started  // when the person edited: the server orders changes by it, not by arrival
  };
  if (edit.r1 === edit.r2 && edit.c1 === edit.c2 && e.value !== undefined) {
    // One cell: Apps Script gives its previous value (none when it was empty), so the server
    // can tell what the person replaced (compare-and-set) and ignore a value typed again.
    edit.old = e.oldValue === undefined ? '' : String(e.oldValue);
  }
  var lock = LockService.getDocumentLock();
  if (!lock || !lock.tryLock(LEADS_SYNC.LOCK_WAIT_MS)) {
    // Another run holds the lock: leave the edit for the next run (one property per edit, so
    // two busy runs never overwrite each other's).
    queuePendingEdit_(edit);
    return;
  }
  try {
    processEdits_(cfg, sheet, [edit], started);
  } finally {
    lock.releaseLock();
  }
}

/** Installable on-change trigger: rows inserted or removed, sorts and other structural changes. */
function handleChange(e) {
  var cfg = getConfig_();
  if (!cfg) return;
  var type = e && e.changeType;
  if (['INSERT_ROW', 'REMOVE_ROW', 'OTHER'].indexOf(type) < 0) return;
  var sheet = SpreadsheetApp.getActiveSpreadsheet().getSheetByName(cfg.sheet);
  if (!sheet) {
    logError_('The tab \u201c' + cfg.sheet + '\u201d is gone (renamed or deleted); rename it back or connect again.');
    return;
  }
  var started = Date.now();
  var lock = LockService.getDocumentLock();
  if (!lock || !lock.tryLock(LEADS_SYNC.LOCK_WAIT_MS)) {
    // The run holding the lock compares with the snapshot too; a later change or edit catches up.
    queuePendingEdit_({r1: 0, r2: 0, c1: 0, c2: 0, structural: true});
    return;
  }
  try {
    processEdits_(cfg, sheet, [], started);
  } finally {
    lock.releaseLock();
  }
}

function queuePendingEdit_(edit) {
  var props = PropertiesService.getDocumentProperties();
  var keys = props.getKeys().filter(function (k) { return k.indexOf(PROP.PENDING_PREFIX) === 0; });
  if (keys.length >= LEADS_SYNC.MAX_PENDING) {
    // Too many queued edits: one "whole sheet" entry replaces them.
    edit = {r1: 1, r2: 1e7, c1: 1, c2: 1e5, whole: true};
  }
  props.setProperty(PROP.PENDING_PREFIX + Date.now() + '_' + Utilities.getUuid().slice(0, 8), JSON.stringify(edit));
}

function takePendingEdits_(props) {
  var all = props.getProperties();
  var edits = [];
  Object.keys(all).sort().forEach(function (key) {
    if (key.indexOf(PROP.PENDING_PREFIX) !== 0) return;
    try { edits.push(JSON.parse(all[key])); } catch (err) { /* unreadable: dropped */ }
    props.deleteProperty(key);
  });
  return edits;
}

/**
 * The heart of both triggers: read the sheet once, give ids to rows that need one, compare the
 * ids with the snapshot, and send the edited rows and the removed leads.
 * ``edits``: [{r1, r2, c1, c2}] ranges the user edited (empty for structural changes).
 */
function processEdits_(cfg, sheet, edits, started) {
  var deadline = started + LEADS_SYNC.RUN_BUDGET_MS;
  var props = PropertiesService.getDocumentProperties();
  flushOutbox_(cfg, deadline);
  edits = takePendingEdits_(props).concat(edits);
  var data = readSheet_(sheet, cfg, deadline);
  if (data.idIndex < 0) {
    logError_('The \u201c' + cfg.leadIdColumn + '\u201d column is missing from the header row, so edits are not sent. ' +
      'Put the header back (undo), or use Connect to server\u2026 again.');
    return {ok: false, rows: 0};
  }
  var snapshot = loadSnapshot_(props);
  var firstRow = data.firstRow;
  var count = data.rows.length;

  // Which data rows were edited, and which columns of each (null = the whole row).
  var edited = {};       // index -> {headers: {name: true} | null, idOnly: bool}
  var structural = edits.length === 0;
  edits.forEach(function (edit) {
    if (edit.structural) { structural = true; return; }
    var from = Math.max(edit.r1, firstRow) - firstRow;
    var to = Math.min(edit.r2, data.lastRow) - firstRow;
    if (from > to) return;
    var changed = [];
    var lastCol = Math.min(edit.c2, data.headers.length);
    for (var c = Math.max(edit.c1, 1); c <= lastCol; c++) {
      var header = data.headers[c - 1];
      if (header && c - 1 !== data.idIndex && changed.indexOf(header) < 0) changed.push(header);
    }
    for (var i = from; i <= to; i++) {
      var entry = edited[i] || (edited[i] = {headers: {}, idOnly: true, whole: false, at: 0, old: {}});
      if (edit.whole) { entry.whole = true; entry.idOnly = false; }
      changed.forEach(function (h) {
        entry.headers[h] = true;
        // a previous value only tells something for the cell's first edit in this run
        if (edit.old !== undefined && changed.length === 1 && !(h in entry.old)) entry.old[h] = edit.old;
        else if (edit.old === undefined) entry.old[h] = null;
      });
      if (changed.length) entry.idOnly = false;
      entry.at = Math.max(entry.at, edit.at || 0);
    }
  });

  // Ids: every non-blank row must have one, unique in the column.
  var occurrences = {};
  data.ids.forEach(function (id, i) { if (id) (occurrences[id] = occurrences[id] || []).push(i); });
  var presentBefore = {};
  Object.keys(occurrences).forEach(function (id) { presentBefore[id] = true; });
  var newIds = {};       // index -> true when the row got a new id (send it whole)
  var minWrite = count, maxWrite = -1;
  function setId(i, id) {
    data.ids[i] = id;
    data.rows[i][data.idIndex] = id;
    minWrite = Math.min(minWrite, i);
    maxWrite = Math.max(maxWrite, i);
  }
  var indexes = structural ? data.rows.map(function (_, i) { return i; }) : Object.keys(edited).map(Number);
  indexes.sort(function (a, b) { return a - b; });
  indexes.forEach(function (i) {
    var blank = isBlankRow_(data.rows[i], data.idIndex);
    var id = data.ids[i];
    var fromSnapshot = snapshot && i < snapshot.length ? snapshot[i] : '';
    if (id && occurrences[id].length > 1 && edited[i]) {
      // A copy of another row (pasted with its id): the copy needs its own id. The row that
      // was not edited keeps the id; among edited copies, the first one keeps it.
      var keeper = occurrences[id].filter(function (j) { return !edited[j]; })[0];
      if (keeper === undefined) keeper = occurrences[id][0];
      if (keeper !== i) {
        occurrences[id] = occurrences[id].filter(function (j) { return j !== i; });
        id = '';
        setId(i, '');
      }
    }
    if (blank) return;
    // Only an edited row gets its old id back: after inserted or removed rows the snapshot's
    // positions no longer match, and a new row must never inherit a removed lead's id.
    var restorable = !!edited[i] && !!fromSnapshot && !presentBefore[fromSnapshot] && fromSnapshot !== id;
    if (!id && restorable) {
      // The id cell was cleared or pasted over: give the row its id back.
      setId(i, fromSnapshot);
      presentBefore[fromSnapshot] = true;
    } else if (id && edited[i] && edited[i].idOnly && restorable) {
      // Someone typed over an id (the column is protected with a warning only): restore it.
      setId(i, fromSnapshot);
      presentBefore[fromSnapshot] = true;
    } else if (!id) {
      setId(i, newLeadId_());
      newIds[i] = true;
    }
  });
  if (maxWrite >= 0) writeIds_(sheet, data, minWrite, maxWrite);

  // Removed leads, then the new snapshot (only from a complete read).
  var removed = data.complete ? removedSince_(snapshot, data) : [];
  if (data.complete) saveSnapshot_(props, data.ids);

  // The rows to send: edited rows (their edited columns), and rows that just got an id (whole).
  var now = Date.now();
  var rows = [];
  indexes.forEach(function (i) {
    if (isBlankRow_(data.rows[i], data.idIndex) || !data.ids[i]) return;
    var entry = edited[i];
    var whole = newIds[i] || (entry && entry.whole);
    var changed = null;
    var old = null;
    if (!whole) {
      if (!entry || entry.idOnly) return;
      changed = Object.keys(entry.headers);
      Object.keys(entry.old).forEach(function (h) {
        if (entry.old[h] !== null) (old = old || {})[h] = entry.old[h];
      });
    }
    var row = {
      lead_id: data.ids[i],
      row: firstRow + i,
      values: rowValues_(data.headers, data.rows[i]),
      changed: changed,
      edited_at: (entry && entry.at) || now
    };
    if (old) row.old = old;
    rows.push(row);
  });
  if (!data.complete) {
    logError_('The sheet is too large to check in one run; some rows were not read. Use Sync now.');
  }
  if (!rows.length && !removed.length) return {ok: true, rows: 0, removed: 0};
  var result = sendRows_(cfg, rows, removed, deadline);
  result.removed = removed.length;
  return result;
}

/** First sync (on connect): ids for every non-blank data row, then every row sent. */
function fullSync_(cfg, sheet, started) {
  var deadline = started + LEADS_SYNC.RUN_BUDGET_MS;
  var props = PropertiesService.getDocumentProperties();
  var data = readSheet_(sheet, cfg, deadline);
  var minWrite = data.rows.length, maxWrite = -1;
  var seen = {};
  for (var i = 0; i < data.rows.length; i++) {
    if (isBlankRow_(data.rows[i], data.idIndex)) continue;
    var id = data.ids[i];
    if (!id || seen[id]) {
      data.ids[i] = data.rows[i][data.idIndex] = newLeadId_();
      minWrite = Math.min(minWrite, i);
      maxWrite = Math.max(maxWrite, i);
    }
    seen[data.ids[i]] = true;
  }
  if (maxWrite >= 0) writeIds_(sheet, data, minWrite, maxWrite);
  if (data.complete) saveSnapshot_(props, data.ids);
  var now = Date.now();
  var rows = [];
  for (var r = 0; r < data.rows.length; r++) {
    if (isBlankRow_(data.rows[r], data.idIndex)) continue;
    rows.push({lead_id: data.ids[r], row: data.firstRow + r, values: rowValues_(data.headers, data.rows[r]),
      changed: null, edited_at: now});
  }
  if (!rows.length) return {ok: true, rows: 0};
  return sendRows_(cfg, rows, [], deadline);
}

// --------------------------------------------------------------------------- sending

function newEventId_() {
  return Utilities.getUuid().replace(/-/g, '').toLowerCase();
}

function eventBody_(cfg, rows, removed) {
  return asciiJson_({
    event_id: newEventId_(),
    spreadsheet_id: cfg.spreadsheetId,
    sheet: cfg.sheet,
    sent_at: Date.now(),
    rows: rows,
    removed: removed
  });
}

/**
 * Send rows (and removed leads) as few signed POSTs as the limits allow: one for a normal edit or
 * paste; batches of 500 rows for a whole sheet. Returns {ok, rows, batches, failed}.
 */
function sendRows_(cfg, rows, removed, deadline) {
  var batches = [];
  var current = [];
  var size = 0;
  rows.forEach(function (row) {
    var rowSize = asciiJson_(row).length + 1;
    if (current.length && (current.length >= LEADS_SYNC.BATCH_ROWS || size + rowSize > LEADS_SYNC.MAX_BODY_CHARS)) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(row);
    size += rowSize;
  });
  if (current.length || removed.length) batches.push(current);
  var sent = 0;
  var failed = 0;
  for (var b = 0; b < batches.length; b++) {
    if (deadline && Date.now() > deadline) {
      var left = batches.slice(b).reduce(function (n, batch) { return n + batch.length; }, 0);
      logError_('Stopped before the 6-minute limit of Apps Script with ' + left + ' row(s) not sent; use Sync now.');
      return {ok: false, rows: sent, batches: b, failed: failed + left};
    }
    var body = eventBody_(cfg, batches[b], b === 0 ? removed : []);
    var result = postToWebhook_(cfg, body, LEADS_SYNC.RETRIES, deadline);
    if (result.ok) {
      sent += batches[b].length;
    } else {
      failed += batches[b].length;
      var kept = !result.permanent && keepInOutbox_(body);
      logError_('Could not send ' + describeBatch_(batches[b], b === 0 ? removed : []) + ': ' + result.message +
        (kept ? ' (will retry with the next edit or Sync now)' : ''), result.code);
    }
  }
  return {ok: failed === 0, rows: sent, batches: batches.length, failed: failed};
}

function describeBatch_(rows, removed) {
  var parts = [];
  if (rows.length === 1) parts.push('row ' + rows[0].row);
  else if (rows.length) parts.push(rows.length + ' rows (' + rows[0].row + '\u2013' + rows[rows.length - 1].row + ')');
  if (removed.length) parts.push(removed.length + ' removed lead(s)');
  return parts.join(' and ') || 'an update';
}

function keepInOutbox_(body) {
  if (body.length > LEADS_SYNC.MAX_OUTBOX_BODY_CHARS) return false;
  var props = PropertiesService.getDocumentProperties();
  var keys = props.getKeys().filter(function (k) { return k.indexOf(PROP.OUTBOX_PREFIX) === 0; }).sort();
  if (keys.length >= LEADS_SYNC.MAX_OUTBOX) props.deleteProperty(keys[0]);
  props.setProperty(PROP.OUTBOX_PREFIX + Date.now() + '_' + Utilities.getUuid().slice(0, 8), body);
  return true;
}

/** Retry deliveries that failed earlier (their event ids make a second delivery harmless). */
function flushOutbox_(cfg, deadline) {
  var props = PropertiesService.getDocumentProperties();
  var all = props.getProperties();
  var keys = Object.keys(all).filter(function (k) { return k.indexOf(PROP.OUTBOX_PREFIX) === 0; }).sort();
  var delivered = 0;
  for (var i = 0; i < keys.length && i < LEADS_SYNC.OUTBOX_FLUSH_PER_RUN; i++) {
    if (deadline && Date.now() > deadline) break;
    var result = postToWebhook_(cfg, all[keys[i]], 0);
    if (result.ok || result.permanent) {
      props.deleteProperty(keys[i]);
      if (result.ok) delivered++;
      else logError_('A queued update was refused by the server: ' + result.message, result.code);
    } else {
      break;   // still failing: keep the rest for later
    }
  }
  return delivered;
}

/** The sheets webhook's signature: lowercase hex of HMAC-SHA256(key = secret, message = timestamp + "." + body). */
function sign_(secret, timestamp, body) {
  var bytes = Utilities.computeHmacSha256Signature(timestamp + '.' + body, secret, Utilities.Charset.UTF_8);
  return bytesToHex_(bytes);
}

/**
 * The add-on API's signature: lowercase hex of HMAC-SHA256(key = secret, message = timestamp + "\n" +
 * nonce + "\n" + METHOD + "\n" + target + "\n" + body), target as made by signedTarget_
 * (server/sync/signatures.py).
 */
function signRequest_(secret, timestamp, nonce, method, target, body) {
  var message = [timestamp, nonce, String(method).toUpperCase(), target, body || ''].join('\n');
  var bytes = Utilities.computeHmacSha256Signature(message, secret, Utilities.Charset.UTF_8);
  return bytesToHex_(bytes);
}

/**
 * What a call to the add-on API signs as its target, from its path relative to the server address
 * ("/api/addon/leads/L-a%20b?x=1"): the path percent-decoded (the server signs the path it routes
 * on), then "?" and the query string as sent, if it is not empty.
 */
function signedTarget_(path) {
  var q = path.indexOf('?');
  var query = q >= 0 ? path.slice(q + 1) : '';
  return decodeURIComponent(q >= 0 ? path.slice(0, q) : path) + (query ? '?' + query : '');
}

/** A new nonce for each signed API request: 32 lowercase hex characters (a UUID v4's). */
function newNonce_() {
  return Utilities.getUuid().replace(/-/g, '').toLowerCase();
}

/** Apps Script returns signed bytes (-128..127): map each to two hex digits. */
function bytesToHex_(bytes) {
  var hex = '';
  for (var i = 0; i < bytes.length; i++) {
    var b = bytes[i] & 0xff;
    hex += (b < 16 ? '0' : '') + b.toString(16);
  }
  return hex;
}

/** JSON with every non-ASCII character \u-escaped: the signed string is exactly the sent bytes. */
function asciiJson_(value) {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, function (ch) {
    return '\\u' + ('0000' + ch.charCodeAt(0).toString(16)).slice(-4);
  });
}

function parseJson_(text) {
  try { return JSON.parse(text); } catch (err) { return null; }
}

/** The machine-readable reason of an error answer ("secret_rotated"), or ''. */
function serverReason_(text) {
  var data = parseJson_(text);
  return data && data.error && typeof data.error === 'object' && data.error.reason ? String(data.error.reason) : '';
}

function serverMessage_(code, text) {
  var data = parseJson_(text);
  if (data && data.error) {
    if (typeof data.error === 'string') return data.error + ' (HTTP ' + code + ')';
    if (data.error.message) return data.error.message + ' (HTTP ' + code + ')';
  }
  var snippet = String(text || '').replace(/\s+/g, ' ').trim().slice(0, 120);
  return 'the server answered HTTP ' + code + (snippet ? ': ' + snippet : '');
}

/**
 * UrlFetchApp.fetch with retries of transient failures (exceptions, 429, 5xx) and backoff.
 * ``makeOptions`` may be a function (called for each attempt, to sign afresh) or an object.
 * Returns {ok, code, data, message, permanent}.
 */
function fetchWithRetry_(url, makeOptions, retries, deadline) {
  var last = {ok: false, code: 0, message: 'no attempt made', permanent: false};
  for (var attempt = 0; attempt <= retries; attempt++) {
    if (attempt > 0) {
      var wait = backoffMs_(attempt, last.retryAfter);
      if (deadline && Date.now() + wait > deadline) break;   // no time left in this run
      Utilities.sleep(wait);
    }
    var options = typeof makeOptions === 'function' ? makeOptions() : makeOptions;
    var response;
    try {
      response = UrlFetchApp.fetch(url, options);
    } catch (err) {
      last = {ok: false, code: 0, permanent: false,
        message: 'cannot reach ' + originOf_(url) + ' (' + (err && err.message ? err.message : err) + ')'};
      continue;
    }
    var code = response.getResponseCode();
    var text = response.getContentText();
    if (code >= 200 && code < 300) {
      return {ok: true, code: code, data: parseJson_(text), message: '', secretRotated: secretRotatedHeader_(response)};
    }
    if (code === 429 || code >= 500) {
      last = {ok: false, code: code, permanent: false, message: serverMessage_(code, text),
        retryAfter: retryAfterMs_(response)};
      continue;
    }
    var message = serverMessage_(code, text);
    if (code >= 300 && code < 400) {
      var headers = response.getHeaders ? response.getHeaders() : {};
      var location = headers.Location || headers.location || '';
      message = 'the server redirected to ' + (location || 'another address') +
        '; connect again with the final address (https://\u2026)';
    }
    return {ok: false, code: code, permanent: true, message: message, reason: serverReason_(text)};
  }
  return last;
}

function secretRotatedHeader_(response) {
  var headers = response.getHeaders ? response.getHeaders() : {};
  return String(headers['X-Secret-Rotated'] || headers['x-secret-rotated'] || '') === '1';
}

function backoffMs_(attempt, retryAfterMs) {
  var base = LEADS_SYNC.BACKOFF_MS[Math.min(attempt - 1, LEADS_SYNC.BACKOFF_MS.length - 1)];
  if (retryAfterMs) return Math.min(Math.max(base, retryAfterMs), 20000);
  return base;
}

function retryAfterMs_(response) {
  var headers = response.getHeaders ? response.getHeaders() : {};
  var value = headers['Retry-After'] || headers['retry-after'];
  var seconds = Number(value);
  return value && isFinite(seconds) && seconds > 0 ? seconds * 1000 : 0;
}

function originOf_(url) {
  var match = /^(https?:\/\/[^\/]+)/i.exec(url);
  return match ? match[1] : url;
}

/** POST a batch of rows to the sheets webhook, signed timestamp + "." + body. */
function postToWebhook_(cfg, body, retries, deadline) {
  return signedFetch_(cfg, 'post', cfg.webhookUrl, body, retries, deadline, function (timestamp) {
    return {'X-Signature': sign_(cfg.secret, timestamp, body)};
  });
}

/**
 * A call to the add-on API: ``path`` relative to the server address ("/api/addon/sync", ids
 * encoded with encodeURIComponent), ``body`` '' for a GET; the signature covers a new nonce, the
 * method and the path.
 */
function apiFetch_(cfg, method, path, body, retries, deadline) {
  body = body || '';
  var target = signedTarget_(path);
  return signedFetch_(cfg, method, cfg.serverUrl + path, body, retries, deadline, function (timestamp) {
    var nonce = newNonce_();
    return {'X-Nonce': nonce, 'X-Signature': signRequest_(cfg.secret, timestamp, nonce, method, target, body)};
  });
}

/**
 * A signed request to our server (``body`` '' for GET); ``sign(timestamp)`` gives each attempt its
 * signature headers afresh. An answer about a rotated secret is remembered for the sidebar and menu.
 */
function signedFetch_(cfg, method, url, body, retries, deadline, sign) {
  body = body || '';
  var result = fetchWithRetry_(url, function () {
    var timestamp = String(Math.floor(Date.now() / 1000));
    var headers = {'X-Workspace': cfg.workspaceId, 'X-Timestamp': timestamp};
    var signed = sign(timestamp);
    for (var name in signed) headers[name] = signed[name];
    var options = {method: method, headers: headers, muteHttpExceptions: true, followRedirects: false};
    if (method !== 'get') {
      options.contentType = 'application/json';
      options.payload = body;
    }
    return options;
  }, retries === undefined ? LEADS_SYNC.RETRIES : retries, deadline);
  if (result.reason === 'secret_rotated') {
    noteReconnect_(true);
  } else if (result.ok && result.secretRotated) {
    noteReconnect_(false);
  }
  return result;
}

// --------------------------------------------------------------------------- a rotated secret

/** Remember that the server wants a reconnect: ``refused`` once the old secret no longer works. */
function noteReconnect_(refused) {
  var current = readReconnect_(false);
  if (current && current.refused && !refused) return;   // already refused: stay refused
  var notice = {at: new Date().toISOString(), refused: !!refused, message: refused ? RECONNECT_NOW : RECONNECT_SOON};
  PropertiesService.getDocumentProperties().setProperty(PROP.RECONNECT, JSON.stringify(notice));
}

/** {at, refused, message} when the add-on must reconnect, else null. ``quiet``: never throw (menu). */
function readReconnect_(quiet) {
  try {
    var raw = PropertiesService.getDocumentProperties().getProperty(PROP.RECONNECT);
    var notice = raw ? parseJson_(raw) : null;
    return notice && notice.message ? notice : null;
  } catch (err) {
    if (!quiet) throw err;
    return null;   // a simple trigger without access to the properties: the plain menu
  }
}

// --------------------------------------------------------------------------- errors shown to the user

function logError_(message, code) {
  var text = String(message).slice(0, LEADS_SYNC.MAX_ERROR_CHARS);
  try { console.error('Leads Sync: ' + text); } catch (err) { /* no console */ }
  var props = PropertiesService.getDocumentProperties();
  var errors = readErrors_();
  errors.unshift({at: new Date().toISOString(), message: text, code: code || null});
  props.setProperty(PROP.ERRORS, JSON.stringify(errors.slice(0, LEADS_SYNC.MAX_ERRORS)));
}

function readErrors_() {
  var raw = PropertiesService.getDocumentProperties().getProperty(PROP.ERRORS);
  var errors = raw ? parseJson_(raw) : null;
  return Array.isArray(errors) ? errors : [];
}

/** Sidebar: forget the shown errors. */
function clearErrors() {
  PropertiesService.getDocumentProperties().deleteProperty(PROP.ERRORS);
  return {ok: true};
}

// --------------------------------------------------------------------------- sidebar calls

function countQueued_() {
  return PropertiesService.getDocumentProperties().getKeys().filter(function (k) {
    return k.indexOf(PROP.PENDING_PREFIX) === 0 || k.indexOf(PROP.OUTBOX_PREFIX) === 0;
  }).length;
}

/** The lead on the selected row: {connected, onSheet, row, leadId, values, blank, header, errors, queued}. */
function getSelectedLead() {
  var cfg = getConfig_();
  var result = {connected: !!cfg, errors: readErrors_()};
  if (!cfg) return result;
  result.workspaceName = cfg.workspaceName;
  result.reconnect = readReconnect_(false);
  result.sheet = cfg.sheet;
  result.serverUrl = cfg.serverUrl;
  result.queued = countQueued_();
  var sheet = SpreadsheetApp.getActiveSpreadsheet().getActiveSheet();
  result.onSheet = sheet.getName() === cfg.sheet;
  if (!result.onSheet) return result;
  var range = sheet.getActiveRange();
  if (!range) return result;
  var row = range.getRow();
  result.row = row;
  if (row <= cfg.headerRow) {
    result.header = true;
    return result;
  }
  var headers = readHeaders_(sheet, cfg);
  var idIndex = findHeader_(headers, cfg.leadIdColumn);
  if (!headers.length) {
    result.blank = true;
    return result;
  }
  var cells = sheet.getRange(row, 1, 1, headers.length).getDisplayValues()[0];
  result.blank = isBlankRow_(cells, idIndex);
  result.leadId = idIndex >= 0 ? String(cells[idIndex] || '').trim() : '';
  result.values = rowValues_(headers, cells);
  if (idIndex >= 0) delete result.values[headers[idIndex]];
  return result;
}

/** The Trello card linked to a lead, from the server: {ok, linked, card, sync, ...} or {ok: false, error}. */
function getCardForLead(leadId) {
  var cfg = getConfig_();
  if (!cfg) return {ok: false, error: 'Not connected.'};
  if (!leadId) return {ok: false, error: 'This row has no lead id yet.'};
  var result = apiFetch_(cfg, 'get', '/api/addon/leads/' + encodeURIComponent(leadId), '',
    LEADS_SYNC.INTERACTIVE_RETRIES);
  if (!result.ok) return {ok: false, error: result.message, code: result.code};
  var data = result.data || {};
  data.ok = true;
  return data;
}

/** Sidebar: ask the server to create the card for this lead now. */
function createCardNow(leadId) {
  var cfg = getConfig_();
  if (!cfg) return {ok: false, error: 'Not connected.'};
  if (!leadId) return {ok: false, error: 'This row has no lead id yet.'};
  var body = asciiJson_({lead_id: leadId});
  var result = apiFetch_(cfg, 'post', '/api/addon/leads/' + encodeURIComponent(leadId) + '/card',
    body, LEADS_SYNC.INTERACTIVE_RETRIES);
  if (!result.ok) {
    logError_('Could not ask for a card for ' + leadId + ': ' + result.message, result.code);
    return {ok: false, error: result.message};
  }
  return {ok: true, message: 'The card is being created; it shows here in a few seconds.'};
}

/** Send anything queued, then ask the server to reconcile the sheet and the board. */
function syncNow() {
  var cfg = getConfig_();
  if (!cfg) return {ok: false, error: 'Not connected: choose Connect to Leads Sync in the sidebar first.'};
  var started = Date.now();
  var lock = LockService.getDocumentLock();
  if (lock && lock.tryLock(LEADS_SYNC.LOCK_WAIT_MS)) {
    try {
      var sheet = SpreadsheetApp.getActiveSpreadsheet().getSheetByName(cfg.sheet);
      if (sheet) processEdits_(cfg, sheet, [], started);
    } finally {
      lock.releaseLock();
    }
  }
  var result = apiFetch_(cfg, 'post', '/api/addon/sync', '{}', LEADS_SYNC.RETRIES);
  if (!result.ok) {
    logError_('Sync now failed: ' + result.message, result.code);
    return {ok: false, error: result.message};
  }
  return {ok: true, message: 'Sync started: the sheet and the board are being compared.'};
}

function syncNowFromMenu() {
  var result = syncNow();
  SpreadsheetApp.getActiveSpreadsheet().toast(result.ok ? result.message : result.error, 'Leads Sync', 5);
}
