'use strict';
/**
 * Fakes of the Apps Script services Code.js uses, and a loader that runs the real Code.js in a
 * `vm` context with them as globals. They follow the documented behaviour where it matters:
 * 1-based ranges that refuse coordinates outside the sheet, setValues that refuses data of the
 * wrong shape, display values as strings, property values limited to 9 kB (500 kB a store),
 * at most 20 triggers per user and script, HMAC results as *signed* bytes (-128..127),
 * UrlFetchApp refusing a non-string JSON payload.
 *
 * This directory is outside test/ on purpose: `node --test test/` runs every file under test/.
 */

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

const ADDON_DIR = path.resolve(__dirname, '..');
const PROPERTY_VALUE_LIMIT = 9 * 1024;
const PROPERTY_STORE_LIMIT = 500 * 1024;

// ------------------------------------------------------------------------------------ sheets

function columnNumber(letters) {
  let n = 0;
  for (const ch of letters.toUpperCase()) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n;
}

function columnLetters(n) {
  let s = '';
  while (n > 0) {
    const m = (n - 1) % 26;
    s = String.fromCharCode(65 + m) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

function displayOf(value) {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString().slice(0, 10);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  return String(value);
}

class FakeProtection {
  constructor(sheet, range) {
    this.sheet = sheet;
    this.range = range;
    this.description = '';
    this.warningOnly = false;
  }
  setDescription(text) { this.description = String(text); return this; }
  getDescription() { return this.description; }
  setWarningOnly(flag) { this.warningOnly = !!flag; return this; }
  isWarningOnly() { return this.warningOnly; }
  getRange() { return this.range; }
  remove() {
    const list = this.sheet.protections;
    const i = list.indexOf(this);
    if (i >= 0) list.splice(i, 1);
  }
}

class FakeRange {
  constructor(sheet, row, col, numRows, numCols, a1) {
    if (![row, col, numRows, numCols].every(Number.isInteger) || row < 1 || col < 1 || numRows < 1 || numCols < 1) {
      throw new Error(`Exception: The coordinates or dimensions of the range are invalid (${row}, ${col}, ${numRows}, ${numCols}).`);
    }
    if (row + numRows - 1 > sheet.maxRows || col + numCols - 1 > sheet.maxColumns) {
      throw new Error('Exception: The coordinates of the range are outside the dimensions of the sheet.');
    }
    this.sheet = sheet;
    this.row = row;
    this.col = col;
    this.numRows = numRows;
    this.numCols = numCols;
    this.a1 = a1 || null;
  }
  getSheet() { return this.sheet; }
  getRow() { return this.row; }
  getColumn() { return this.col; }
  getNumRows() { return this.numRows; }
  getNumColumns() { return this.numCols; }
  getLastRow() { return this.row + this.numRows - 1; }
  getLastColumn() { return this.col + this.numCols - 1; }
  getA1Notation() {
    if (this.a1) return this.a1;
    const start = columnLetters(this.col) + this.row;
    if (this.numRows === 1 && this.numCols === 1) return start;
    return start + ':' + columnLetters(this.getLastColumn()) + this.getLastRow();
  }
  _map(fn) {
    this.sheet.reads++;
    const out = [];
    for (let r = 0; r < this.numRows; r++) {
      const line = [];
      for (let c = 0; c < this.numCols; c++) line.push(fn(this.row + r, this.col + c));
      out.push(line);
    }
    return out;
  }
  getValues() { return this._map((r, c) => { const v = this.sheet.get(r, c); return v === null || v === undefined ? '' : v; }); }
  getDisplayValues() { return this._map((r, c) => this.sheet.display(r, c)); }
  getValue() { return this.getValues()[0][0]; }
  getDisplayValue() { return this.getDisplayValues()[0][0]; }
  setValue(value) {
    this.sheet.writes++;
    for (let r = 0; r < this.numRows; r++) for (let c = 0; c < this.numCols; c++) this.sheet.set(this.row + r, this.col + c, value);
    return this;
  }
  setValues(values) {
    if (!Array.isArray(values) || values.length !== this.numRows) {
      throw new Error(`Exception: The number of rows in the data does not match the number of rows in the range. The data has ${values && values.length} but the range has ${this.numRows}.`);
    }
    values.forEach((line) => {
      if (!Array.isArray(line) || line.length !== this.numCols) {
        throw new Error(`Exception: The number of columns in the data does not match the number of columns in the range. The data has ${line && line.length} but the range has ${this.numCols}.`);
      }
    });
    this.sheet.writes++;
    values.forEach((line, r) => line.forEach((v, c) => this.sheet.set(this.row + r, this.col + c, v)));
    return this;
  }
  clearContent() { return this.setValue(''); }
  setFontWeight() { return this; }
  setBackground() { return this; }
  protect() {
    const protection = new FakeProtection(this.sheet, this);
    this.sheet.protections.push(protection);
    return protection;
  }
  activate() { this.sheet.activeRange = this; this.sheet.parent.activeSheet = this.sheet; return this; }
}

class FakeSheet {
  constructor(parent, name, rows, sheetId) {
    this.parent = parent;
    this.name = name;
    this.sheetId = sheetId;
    this.grid = (rows || []).map((line) => line.slice());
    this.overrides = new Map();   // "r,c" -> displayed text (number formats)
    this.maxRows = Math.max(1000, this.grid.length);
    this.maxColumns = Math.max(26, ...this.grid.map((line) => line.length));
    this.protections = [];
    this.activeRange = null;
    this.reads = 0;
    this.writes = 0;
  }
  getName() { return this.name; }
  setName(name) { this.name = name; return this; }
  getSheetId() { return this.sheetId; }
  getParent() { return this.parent; }
  getMaxRows() { return this.maxRows; }
  getMaxColumns() { return this.maxColumns; }
  get(r, c) { const line = this.grid[r - 1]; return line ? line[c - 1] : undefined; }
  display(r, c) {
    const key = r + ',' + c;
    if (this.overrides.has(key)) return this.overrides.get(key);
    return displayOf(this.get(r, c));
  }
  set(r, c, value) {
    while (this.grid.length < r) this.grid.push([]);
    const line = this.grid[r - 1];
    while (line.length < c) line.push('');
    line[c - 1] = value;
    this.overrides.delete(r + ',' + c);
  }
  /** A cell whose displayed text differs from its value (a number format). */
  setFormatted(r, c, value, displayed) { this.set(r, c, value); this.overrides.set(r + ',' + c, displayed); }
  getLastRow() {
    for (let r = this.grid.length; r >= 1; r--) {
      if (this.grid[r - 1].some((v) => v !== '' && v !== null && v !== undefined)) return r;
    }
    return 0;
  }
  getLastColumn() {
    let last = 0;
    this.grid.forEach((line) => line.forEach((v, i) => { if (v !== '' && v !== null && v !== undefined) last = Math.max(last, i + 1); }));
    return last;
  }
  getRange(a, b, c, d) {
    if (typeof a === 'string') return this._a1(a);
    return new FakeRange(this, a, b, c === undefined ? 1 : c, d === undefined ? 1 : d);
  }
  _a1(a1) {
    let m = /^([A-Z]+):([A-Z]+)$/i.exec(a1);
    if (m) {
      const c1 = columnNumber(m[1]);
      const c2 = columnNumber(m[2]);
      return new FakeRange(this, 1, c1, this.maxRows, c2 - c1 + 1, a1.toUpperCase());
    }
    m = /^([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?$/i.exec(a1);
    if (!m) throw new Error('Exception: Range not found');
    const c1 = columnNumber(m[1]);
    const r1 = Number(m[2]);
    const c2 = m[3] ? columnNumber(m[3]) : c1;
    const r2 = m[4] ? Number(m[4]) : r1;
    return new FakeRange(this, r1, c1, r2 - r1 + 1, c2 - c1 + 1);
  }
  getDataRange() { return new FakeRange(this, 1, 1, Math.max(this.getLastRow(), 1), Math.max(this.getLastColumn(), 1)); }
  getProtections(type) { return this.protections.filter(() => type === 'RANGE'); }
  getActiveRange() { return this.activeRange; }
  setActiveRange(range) { this.activeRange = range; this.parent.activeSheet = this; return range; }
  setActiveSelection(a1) { return this.setActiveRange(this._a1(a1)); }
  activate() { this.parent.activeSheet = this; return this; }
  insertColumnAfter(col) {
    this.maxColumns++;
    this.grid.forEach((line) => { if (line.length > col) line.splice(col, 0, ''); });
    return this;
  }
  insertRowsBefore(row, count) {
    const blank = Array.from({length: count}, () => []);
    this.grid.splice(row - 1, 0, ...blank);
    this.maxRows += count;
    this._shiftOverrides(row, count);
    return this;
  }
  insertRowBefore(row) { return this.insertRowsBefore(row, 1); }
  deleteRows(row, count) {
    this.grid.splice(row - 1, count);
    this.maxRows -= count;
    this._shiftOverrides(row, -count);
    return this;
  }
  deleteRow(row) { return this.deleteRows(row, 1); }
  _shiftOverrides(row, delta) {
    const moved = new Map();
    for (const [key, text] of this.overrides) {
      const [r, c] = key.split(',').map(Number);
      if (r < row) moved.set(key, text);
      else if (delta > 0 || r >= row - delta) moved.set((r + delta) + ',' + c, text);
    }
    this.overrides = moved;
  }
  /** Values as a plain 2D array (for assertions). */
  dump() { return this.grid.map((line) => line.slice()); }
  /** The header row's cells. */
  headers() { return (this.grid[0] || []).map(String); }
}

class FakeSpreadsheet {
  constructor(id, sheets) {
    this.id = id;
    this.sheets = [];
    let sheetId = 0;
    for (const [name, rows] of Object.entries(sheets)) this.sheets.push(new FakeSheet(this, name, rows, sheetId++ * 1000));
    this.activeSheet = this.sheets[0];
    this.toasts = [];
  }
  getId() { return this.id; }
  getName() { return 'Leads tracker'; }
  getUrl() { return 'https://docs.google.com/spreadsheets/d/' + this.id + '/edit'; }
  getSheets() { return this.sheets.slice(); }
  getSheetByName(name) { return this.sheets.find((s) => s.name === name) || null; }
  getActiveSheet() { return this.activeSheet; }
  setActiveSheet(sheet) { this.activeSheet = sheet; return sheet; }
  getActiveRange() { return this.activeSheet.getActiveRange(); }
  toast(message, title, seconds) { this.toasts.push({message: String(message), title, seconds}); }
}

// ------------------------------------------------------------------------------------ UI

const Button = Object.freeze({OK: 'OK', CANCEL: 'CANCEL', YES: 'YES', NO: 'NO', CLOSE: 'CLOSE'});
const ButtonSet = Object.freeze({OK: 'OK', OK_CANCEL: 'OK_CANCEL', YES_NO: 'YES_NO', YES_NO_CANCEL: 'YES_NO_CANCEL'});

class FakeMenu {
  constructor(ui, name) { this.ui = ui; this.name = name; this.items = []; }
  addItem(caption, functionName) { this.items.push({caption, functionName}); return this; }
  addSeparator() { this.items.push({separator: true}); return this; }
  addSubMenu(menu) { this.items.push({submenu: menu}); return this; }
  addToUi() { this.ui.menus.push(this); }
}

class FakeUi {
  constructor() {
    this.Button = Button;
    this.ButtonSet = ButtonSet;
    this.menus = [];
    this.prompts = [];      // what was asked
    this.answers = [];      // scripted prompt answers: {button, text}
    this.alerts = [];
    this.alertAnswers = []; // scripted alert answers (buttons)
    this.sidebars = [];
  }
  createMenu(name) { return new FakeMenu(this, name); }
  createAddonMenu() { return new FakeMenu(this, 'Add-on'); }
  prompt(title, message, buttons) {
    this.prompts.push({title, message, buttons});
    const answer = this.answers.shift() || {button: Button.CANCEL, text: ''};
    return {getSelectedButton: () => answer.button, getResponseText: () => answer.text};
  }
  alert(title, message, buttons) {
    this.alerts.push({title, message, buttons});
    return this.alertAnswers.length ? this.alertAnswers.shift() : (buttons === ButtonSet.YES_NO ? Button.YES : Button.OK);
  }
  showSidebar(html) { this.sidebars.push(html); }
}

class FakeHtmlOutput {
  constructor(content) { this.content = content; this.title = ''; this.width = null; }
  setTitle(title) { this.title = title; return this; }
  getTitle() { return this.title; }
  setWidth(width) { this.width = width; return this; }
  getContent() { return this.content; }
}

// ------------------------------------------------------------------------------------ services

class FakeProperties {
  constructor() { this.data = new Map(); this.writes = 0; }
  _check(key, value) {
    if (Buffer.byteLength(String(value)) > PROPERTY_VALUE_LIMIT) throw new Error(`Exception: Argument too large: value (property ${key})`);
  }
  _checkTotal() {
    let total = 0;
    for (const [k, v] of this.data) total += Buffer.byteLength(k) + Buffer.byteLength(v);
    if (total > PROPERTY_STORE_LIMIT) throw new Error('Exception: You have exceeded the property storage quota.');
  }
  getProperty(key) { return this.data.has(key) ? this.data.get(key) : null; }
  setProperty(key, value) {
    this._check(key, value);
    this.data.set(String(key), String(value));
    this.writes++;
    this._checkTotal();
    return this;
  }
  setProperties(values, deleteAllOthers) {
    Object.entries(values).forEach(([k, v]) => this._check(k, v));
    if (deleteAllOthers) this.data.clear();
    Object.entries(values).forEach(([k, v]) => this.data.set(String(k), String(v)));
    this.writes++;
    this._checkTotal();
    return this;
  }
  getProperties() { return Object.fromEntries(this.data); }
  getKeys() { return Array.from(this.data.keys()); }
  deleteProperty(key) { this.data.delete(key); return this; }
  deleteAllProperties() { this.data.clear(); return this; }
}

class FakeTrigger {
  constructor(handler, eventType, sourceId, uid) {
    this.handler = handler;
    this.eventType = eventType;
    this.sourceId = sourceId;
    this.uid = uid;
  }
  getHandlerFunction() { return this.handler; }
  getEventType() { return this.eventType; }
  getTriggerSourceId() { return this.sourceId; }
  getTriggerSource() { return 'SPREADSHEETS'; }
  getUniqueId() { return this.uid; }
}

class FakeScriptApp {
  constructor() {
    this.triggers = [];
    this.created = 0;
    this.EventType = Object.freeze({ON_EDIT: 'ON_EDIT', ON_CHANGE: 'ON_CHANGE', ON_OPEN: 'ON_OPEN', ON_FORM_SUBMIT: 'ON_FORM_SUBMIT', CLOCK: 'CLOCK'});
    this.AuthMode = Object.freeze({NONE: 'NONE', LIMITED: 'LIMITED', FULL: 'FULL'});
  }
  newTrigger(handler) {
    const app = this;
    return {
      forSpreadsheet(ss) {
        const sourceId = typeof ss === 'string' ? ss : ss.getId();
        let eventType = null;
        const builder = {
          onEdit() { eventType = 'ON_EDIT'; return builder; },
          onChange() { eventType = 'ON_CHANGE'; return builder; },
          onOpen() { eventType = 'ON_OPEN'; return builder; },
          onFormSubmit() { eventType = 'ON_FORM_SUBMIT'; return builder; },
          create() {
            if (!eventType) throw new Error('Exception: trigger has no event type');
            if (app.triggers.length >= 20) throw new Error('Exception: This script has too many triggers. Triggers must be deleted from the script before more can be added.');
            const trigger = new FakeTrigger(handler, eventType, sourceId, String(++app.created));
            app.triggers.push(trigger);
            return trigger;
          }
        };
        return builder;
      },
      timeBased() { throw new Error('not faked'); }
    };
  }
  getProjectTriggers() { return this.triggers.slice(); }
  getUserTriggers(ss) { return this.triggers.filter((t) => t.sourceId === ss.getId()); }
  deleteTrigger(trigger) {
    const i = this.triggers.indexOf(trigger);
    if (i >= 0) this.triggers.splice(i, 1);
  }
}

class FakeLock {
  constructor() { this.busy = false; this.held = false; this.tries = []; }
  tryLock(ms) {
    this.tries.push(ms);
    if (this.busy || this.held) return false;
    this.held = true;
    return true;
  }
  waitLock(ms) { if (!this.tryLock(ms)) throw new Error('Exception: Lock timeout: another process was holding the lock for too long.'); }
  hasLock() { return this.held; }
  releaseLock() { this.held = false; }
}

class FakeHttpResponse {
  constructor(code, body, headers) { this.code = code; this.body = body || ''; this.headers = headers || {}; }
  getResponseCode() { return this.code; }
  getContentText() { return this.body; }
  getHeaders() { return Object.assign({}, this.headers); }
  getAllHeaders() { return Object.assign({}, this.headers); }
}

/**
 * UrlFetchApp: records every request; answers from a queue of scripted responses, else from a
 * handler (request) -> {code, body, headers} | throws.
 */
class FakeUrlFetchApp {
  constructor() {
    this.requests = [];
    this.queue = [];
    this.handler = () => ({code: 200, body: '{}'});
  }
  respond(...responses) { this.queue.push(...responses); return this; }
  fetch(url, params) {
    params = params || {};
    if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw new Error('Exception: Invalid argument: url');
    const method = String(params.method || 'get').toLowerCase();
    if (params.contentType === 'application/json' && params.payload !== undefined && typeof params.payload !== 'string') {
      throw new Error('Exception: a JSON payload must be a string (use JSON.stringify)');
    }
    const request = {url, method, headers: Object.assign({}, params.headers || {}), payload: params.payload,
      contentType: params.contentType, params};
    this.requests.push(request);
    const scripted = this.queue.length ? this.queue.shift() : this.handler(request);
    const answer = typeof scripted === 'function' ? scripted(request) : scripted;
    if (answer instanceof Error) throw answer;
    if (answer && answer.throw) throw new Error(answer.throw);
    const response = new FakeHttpResponse(answer.code, typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body || {}), answer.headers);
    request.status = response.code;
    if (response.code >= 400 && !params.muteHttpExceptions) {
      throw new Error(`Exception: Request failed for ${url} returned code ${response.code}. Truncated server response: ${response.body.slice(0, 100)}`);
    }
    return response;
  }
}

function signedBytes(buffer) {
  return Array.from(buffer, (b) => (b > 127 ? b - 256 : b));
}

function toBuffer(value, charset) {
  if (Array.isArray(value)) return Buffer.from(value.map((b) => b & 0xff));
  return Buffer.from(String(value), charset === 'US_ASCII' ? 'latin1' : 'utf8');
}

function makeUtilities(world) {
  return {
    Charset: Object.freeze({UTF_8: 'UTF_8', US_ASCII: 'US_ASCII'}),
    getUuid() { return world.uuid(); },
    computeHmacSha256Signature(value, key, charset) {
      return signedBytes(crypto.createHmac('sha256', toBuffer(key, charset)).update(toBuffer(value, charset)).digest());
    },
    computeDigest(algorithm, value) {
      return signedBytes(crypto.createHash(String(algorithm).toLowerCase().replace('_', '')).update(toBuffer(value)).digest());
    },
    base64Encode(data) { return toBuffer(data).toString('base64'); },
    base64Decode(text) { return signedBytes(Buffer.from(text, 'base64')); },
    sleep(ms) { world.sleeps.push(ms); world.clock.advance(ms); },
    formatDate(date) { return date.toISOString(); }
  };
}

// ------------------------------------------------------------------------------------ world

/**
 * Everything one spreadsheet needs: createWorld({sheets: {Leads: [[headers], [row]...]}}); ``addonDir``
 * loads Code.js and Sidebar.html from another directory (a build's output) instead of apps_script/.
 * world.load() runs Code.js and returns its context (the add-on's global scope).
 */
function createWorld(options = {}) {
  const world = {};
  world.addonDir = options.addonDir || ADDON_DIR;   // a `flask addon build` output runs the same way
  world.spreadsheet = new FakeSpreadsheet(options.spreadsheetId || 'sheet-123', options.sheets || {Leads: [['Name', 'Email', 'Status']]});
  world.ui = new FakeUi();
  world.fetch = new FakeUrlFetchApp();
  world.documentProperties = new FakeProperties();
  world.scriptProperties = new FakeProperties();
  world.userProperties = new FakeProperties();
  world.scriptApp = new FakeScriptApp();
  world.lock = new FakeLock();
  world.logs = [];
  world.consoleErrors = [];
  world.sleeps = [];
  let uuidCounter = 0;
  world.uuid = options.uuid || (() => {
    uuidCounter++;
    return crypto.randomUUID();
  });
  world.clock = {offset: 0, advance(ms) { this.offset += ms; }};
  world.sheet = (name) => world.spreadsheet.getSheetByName(name || Object.keys(options.sheets || {Leads: 0})[0]);

  world.SpreadsheetApp = {
    ProtectionType: Object.freeze({RANGE: 'RANGE', SHEET: 'SHEET'}),
    getActive: () => world.spreadsheet,
    getActiveSpreadsheet: () => world.spreadsheet,
    getActiveSheet: () => world.spreadsheet.getActiveSheet(),
    getActiveRange: () => world.spreadsheet.getActiveRange(),
    getUi: () => world.ui,
    flush: () => undefined
  };
  world.HtmlService = {
    createHtmlOutputFromFile(name) {
      return new FakeHtmlOutput(fs.readFileSync(path.join(world.addonDir, name + '.html'), 'utf8'));
    },
    createHtmlOutput(content) { return new FakeHtmlOutput(content || ''); }
  };

  world.load = function load() {
    const consoleFake = {
      log: (...args) => world.logs.push(args.join(' ')),
      info: (...args) => world.logs.push(args.join(' ')),
      warn: (...args) => world.logs.push(args.join(' ')),
      error: (...args) => world.consoleErrors.push(args.join(' '))
    };
    // Date.now() follows Utilities.sleep so that backoff looks like real time passing.
    const RealDate = Date;
    class ClockDate extends RealDate {
      constructor(...args) { if (args.length) super(...args); else super(RealDate.now() + world.clock.offset); }
      static now() { return RealDate.now() + world.clock.offset; }
    }
    const context = {
      SpreadsheetApp: world.SpreadsheetApp,
      UrlFetchApp: world.fetch,
      PropertiesService: {
        getDocumentProperties: () => world.documentProperties,
        getScriptProperties: () => world.scriptProperties,
        getUserProperties: () => world.userProperties
      },
      ScriptApp: world.scriptApp,
      LockService: {
        getDocumentLock: () => world.lock,
        getScriptLock: () => world.lock,
        getUserLock: () => world.lock
      },
      HtmlService: world.HtmlService,
      Utilities: makeUtilities(world),
      Logger: {log: (...args) => { world.logs.push(args.join(' ')); }},
      Session: {
        getActiveUser: () => ({getEmail: () => 'ann@example.com'}),
        getEffectiveUser: () => ({getEmail: () => 'ann@example.com'}),
        getScriptTimeZone: () => 'Etc/UTC',
        getTemporaryActiveUserKey: () => 'temp-key'
      },
      console: consoleFake,
      Date: ClockDate
    };
    vm.createContext(context);
    const code = fs.readFileSync(path.join(world.addonDir, 'Code.js'), 'utf8');
    vm.runInContext(code, context, {filename: 'Code.js'});
    world.context = context;
    return context;
  };

  /**
   * What a person's edit looks like to the installable trigger: values written, then the event.
   * `values` is a 2D array written at (row, col). e.value exists only for single cells.
   */
  world.userEdit = function userEdit(sheetName, row, col, values) {
    const sheet = world.spreadsheet.getSheetByName(sheetName);
    const oldValue = values.length === 1 && values[0].length === 1 ? sheet.get(row, col) : undefined;
    sheet.getRange(row, col, values.length, values[0].length).setValues(values);
    const range = sheet.getRange(row, col, values.length, values[0].length);
    const event = {authMode: 'FULL', range, source: world.spreadsheet, triggerUid: '1', user: {getEmail: () => 'bob@example.com'}};
    if (values.length === 1 && values[0].length === 1) {
      event.value = displayOf(values[0][0]);
      if (oldValue !== undefined && oldValue !== '') event.oldValue = displayOf(oldValue);
    }
    return event;
  };

  return world;
}

// ------------------------------------------------------------------------------------ helpers

/** A JSON copy: objects made inside the vm context have other prototypes than the test's. */
function plain(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** The sheets webhook's signature: timestamp + "." + body. */
function hmacHex(secret, timestamp, body) {
  return crypto.createHmac('sha256', secret).update(timestamp + '.' + body).digest('hex');
}

/** The add-on API's signature: timestamp \n nonce \n METHOD \n target \n body (server/sync/signatures.py). */
function requestHmacHex(secret, timestamp, nonce, method, target, body) {
  return crypto.createHmac('sha256', secret)
    .update([timestamp, nonce, method.toUpperCase(), target, body].join('\n'), 'utf8').digest('hex');
}

/**
 * What the server signs as the target of a request to ``url`` when it is reached at ``serverUrl``
 * (a proxy strips the address's path prefix): the rest of the path, percent-decoded, and the query
 * string as sent. Written apart from Code.js's signedTarget_ so the tests check one against the other.
 */
function targetOf(url, serverUrl) {
  const parsed = new URL(url);
  const prefix = new URL(serverUrl).pathname.replace(/\/+$/, '');
  if (!parsed.pathname.startsWith(prefix + '/')) throw new Error(`${url} is not under ${serverUrl}`);
  return decodeURIComponent(parsed.pathname.slice(prefix.length)) + parsed.search;
}

/**
 * A stand-in for the Leads Sync server behind the fake UrlFetchApp: answers connect, checks the
 * signature of every signed call like the real server does (an API call's nonce works once), and
 * stores what it received. ``server.rotate()`` changes the secret like the dashboard's "Rotate
 * secret": the old one works (with X-Secret-Rotated: 1) until ``server.endGrace()``.
 */
function fakeServer(world, options = {}) {
  const server = {
    url: options.url || 'https://leads.example.com',
    secret: options.secret || 'f'.repeat(64),
    workspaceId: options.workspaceId || 'ws_0123456789abcdef',
    sheet: options.sheet || 'Leads',
    leadIdColumn: options.leadIdColumn || 'Lead ID',
    events: [],
    calls: [],
    cards: options.cards || {},
    refuse: null,
    nonces: new Set(),
    previousSecret: null,
    graceOver: false
  };
  server.rotate = function rotate() {
    server.previousSecret = server.secret;
    server.secret = crypto.randomBytes(32).toString('hex');
    server.graceOver = false;
  };
  server.endGrace = function endGrace() { server.graceOver = true; };
  server.polls = [];
  server.approved = new Set();   // nonces a person approved in the connect popup
  server.expired = new Set();
  /** What the connect popup does when the person chooses the workspace for the nonce in ``url``. */
  server.approve = function approve(url) { server.approved.add(new URL(url).searchParams.get('nonce')); };
  function credentials() {
    return {workspace_id: server.workspaceId, workspace_name: 'Pipeline', secret: server.secret,
      sheet: server.sheet, header_row: 1, lead_id_column: server.leadIdColumn,
      webhook_url: server.url + '/webhooks/sheets/' + server.workspaceId};
  }
  world.fetch.handler = (request) => {
    const url = new URL(request.url);
    const prefix = new URL(server.url).pathname.replace(/\/+$/, '');
    if (!url.pathname.startsWith(prefix + '/')) return {code: 404, body: {error: {code: 404, message: 'not found'}}};
    const pathname = url.pathname.slice(prefix.length);   // what the app routes on behind the proxy
    if (pathname === '/api/addon/connect') {
      const body = JSON.parse(request.payload);
      if (body.code !== (options.code || 'ABCD-EFGH-JKMN')) return {code: 404, body: {error: {code: 404, message: 'This connect code is not valid.'}}};
      return {code: 200, body: credentials()};
    }
    if (pathname === '/api/addon/connect/poll') {   // one-click connect (server/addon/one_click.py)
      const body = JSON.parse(request.payload);
      server.polls.push(body);
      if (!/^[0-9a-f]{32}$/.test(body.nonce || '')) return {code: 400, body: {error: {code: 400, message: 'This connect link is incomplete.'}}};
      if (server.expired.has(body.nonce)) return {code: 410, body: {error: {code: 410, message: 'The connection was approved more than 10 minutes ago and has expired.'}}};
      if (!server.approved.has(body.nonce)) return {code: 202, body: {state: 'waiting'}};
      server.approved.delete(body.nonce);
      return {code: 200, body: Object.assign({state: 'connected'}, credentials())};
    }
    const ts = request.headers['X-Timestamp'];
    const nonce = request.headers['X-Nonce'];
    const body = request.payload === undefined ? '' : request.payload;
    const api = pathname.startsWith('/api/addon/');
    if (api && !/^[A-Za-z0-9_-]{16,64}$/.test(nonce || '')) {
      return {code: 401, body: {error: {code: 401, message: 'this spreadsheet\'s copy of the add-on is out of date'}}};
    }
    const expected = (secret) => (api
      ? requestHmacHex(secret, ts, nonce, request.method, targetOf(request.url, server.url), body)
      : hmacHex(secret, ts, body));
    let rotatedHeader = null;
    if (!ts || request.headers['X-Signature'] !== expected(server.secret)) {
      if (!ts || !server.previousSecret || request.headers['X-Signature'] !== expected(server.previousSecret)) {
        return {code: 401, body: {error: {code: 401, message: 'signature does not match'}}};
      }
      if (server.graceOver) {
        return {code: 401, body: {error: {code: 401, reason: 'secret_rotated',
          message: 'this workspace\'s add-on secret was changed on the dashboard'}}};
      }
      rotatedHeader = {'X-Secret-Rotated': '1'};
    }
    if (Math.abs(Date.now() + world.clock.offset - Number(ts) * 1000) > 300000) {
      return {code: 401, body: {error: {code: 401, message: 'X-Timestamp is more than 5 minutes off'}}};
    }
    if (api) {
      if (server.nonces.has(nonce)) return {code: 409, body: {error: {code: 409, message: 'this request was already received'}}};
      server.nonces.add(nonce);
    }
    server.calls.push({method: request.method, path: pathname, body, nonce});
    const answer = route(pathname, request, body);
    return rotatedHeader && answer.code < 300 ? Object.assign({headers: rotatedHeader}, answer) : answer;
  };

  function route(pathname, request, body) {
    if (server.refuse) return server.refuse;
    if (pathname === '/webhooks/sheets/' + server.workspaceId) {
      server.events.push(JSON.parse(body));
      return {code: 200, body: {stored: 1, duplicates: 0}};
    }
    let m = /^\/api\/addon\/leads\/([^/]+)$/.exec(pathname);
    if (m && request.method === 'get') {
      const leadId = decodeURIComponent(m[1]);
      const card = server.cards[leadId] || null;
      return {code: 200, body: {linked: !!card, lead_id: leadId, card, sync: {state: card ? 'synced' : 'not_linked'}}};
    }
    m = /^\/api\/addon\/leads\/([^/]+)\/card$/.exec(pathname);
    if (m) return {code: 202, body: {queued: true}};
    if (pathname === '/api/addon/sync') return {code: 202, body: {queued: true}};
    if (pathname === '/api/addon/disconnect') return {code: 200, body: {ok: true}};
    return {code: 404, body: {error: {code: 404, message: 'not found'}}};
  }
  return server;
}

/** Connect through the real menu flow (both prompts answered). */
function connect(world, server, code) {
  world.ui.answers.push({button: 'OK', text: server.url + '/'}, {button: 'OK', text: code || 'ABCD-EFGH-JKMN'});
  world.context.connectToServer();
}

module.exports = {
  createWorld, fakeServer, connect, plain, hmacHex, requestHmacHex, targetOf, columnLetters, columnNumber, signedBytes,
  FakeSheet, FakeRange, FakeProperties, FakeUrlFetchApp, FakeLock, FakeScriptApp, ADDON_DIR
};

/** A world already connected (first sync done, requests and events cleared). */
function connectedWorld(rows, options = {}) {
  const world = createWorld({sheets: Object.assign({Leads: rows}, options.otherSheets || {}), spreadsheetId: options.spreadsheetId});
  const server = fakeServer(world, options.server || {});
  const ctx = world.load();
  connect(world, server);
  if (!world.context.getConfig_()) throw new Error('connect failed: ' + JSON.stringify(world.ui.alerts));
  world.fetch.requests.length = 0;
  server.events.length = 0;
  server.calls.length = 0;
  world.sleeps.length = 0;
  return {world, server, ctx, sheet: world.sheet('Leads')};
}

module.exports.connectedWorld = connectedWorld;
