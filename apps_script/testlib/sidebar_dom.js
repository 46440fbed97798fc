'use strict';
/**
 * Run Sidebar.html's script in Node: a small DOM (an element for every id in the HTML, plus
 * createElement), timers that run only when the test says so (no sleeps, no races), and
 * google.script.run wired to a Code.js world from fakes.js, so the sidebar calls the real
 * server-side functions (which call the fake server). Enough for the sidebar's own logic; how it
 * looks is checked in Chromium (tests/browser/).
 */
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');

class FakeElement {
  constructor(id, tag, classes) {
    this.id = id;
    this.tagName = (tag || 'div').toUpperCase();
    this.classes = new Set(classes || []);
    this.attributes = {};
    this.children = [];
    this.listeners = {};
    this.style = {};
    this.disabled = false;
    this._text = '';
    const el = this;
    this.classList = {
      toggle(name, on) { if (on === undefined ? !el.classes.has(name) : on) el.classes.add(name); else el.classes.delete(name); },
      contains(name) { return el.classes.has(name); },
      add(name) { el.classes.add(name); },
      remove(name) { el.classes.delete(name); }
    };
  }
  set className(value) { this.classes = new Set(String(value).split(/\s+/).filter(Boolean)); }
  get className() { return [...this.classes].join(' '); }
  set textContent(value) { this._text = String(value); this.children = []; }
  get textContent() { return this._text + this.children.map((c) => c.textContent).join(''); }
  setAttribute(name, value) { this.attributes[name] = String(value); }
  getAttribute(name) { return Object.prototype.hasOwnProperty.call(this.attributes, name) ? this.attributes[name] : null; }
  appendChild(child) { this.children.push(child); return child; }
  addEventListener(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); }
  click() { if (!this.disabled) (this.listeners.click || []).forEach((fn) => fn.call(this, {type: 'click'})); }
  get hidden() { return this.classes.has('hidden'); }
}

/** Load Sidebar.html from ``addonDir`` with google.script.run calling ``ctx`` (a loaded Code.js). */
function loadSidebar(ctx, addonDir) {
  const html = fs.readFileSync(path.join(addonDir, 'Sidebar.html'), 'utf8');
  const elements = {};
  for (const m of html.matchAll(/<(\w+)(\s[^>]*)>/g)) {
    const id = /\sid="([^"]+)"/.exec(m[2]);
    const cls = /\sclass="([^"]*)"/.exec(m[2]);
    if (id) elements[id[1]] = new FakeElement(id[1], m[1], cls ? cls[1].split(/\s+/).filter(Boolean) : []);
  }
  const body = new FakeElement('body', 'body');
  const timers = [];
  const popups = [];
  const calls = [];
  function runner(onOk, onFail) {
    const r = {withSuccessHandler: (fn) => runner(fn, onFail), withFailureHandler: (fn) => runner(onOk, fn)};
    return new Proxy(r, {get(target, name) {
      if (name in target) return target[name];
      return (...args) => {
        calls.push(String(name));
        // google.script.run is asynchronous: the answer comes in a later task
        timers.push({at: 0, fn: () => {
          let value;
          try { value = JSON.parse(JSON.stringify(ctx[name](...args) ?? null)); } catch (err) { if (onFail) onFail(err); return; }
          if (onOk) onOk(value);
        }});
      };
    }});
  }
  const window = {
    open(url, name, features) {
      const popup = {url, name, features, closed: false, location: {href: url}, close() { this.closed = true; }};
      if (sidebar.blockPopups) return null;
      popups.push(popup);
      return popup;
    }
  };
  const sandbox = {
    window,
    document: {
      body,
      getElementById: (id) => elements[id] || null,
      createElement: (tag) => new FakeElement('', tag),
      createTextNode: (text) => { const t = new FakeElement('', '#text'); t.textContent = text; return t; }
    },
    google: {script: {run: runner(null, null)}},
    setTimeout: (fn, ms) => { timers.push({at: ms || 0, fn}); return timers.length; },
    clearTimeout: () => undefined,
    setInterval: () => 0,   // the selection poll: the test calls window.leadsSidebar.poll() itself
    Date, JSON, Object, Array, String, Number, isNaN, Error
  };
  window.document = sandbox.document;
  const sidebar = {elements, body, popups, calls, window, blockPopups: false,
    /**
     * Let ``waitMs`` pass: run the timers already waiting that are due by then, and every immediate
     * task they start (server answers); a delayed timer they set waits for the next ``run``.
     */
    run(waitMs) {
      const due = new Set(timers.filter((t) => t.at <= (waitMs || 0)));
      for (let guard = 0; guard < 500; guard++) {
        const index = timers.findIndex((t) => due.has(t) || t.at === 0);
        if (index < 0) return;
        timers.splice(index, 1)[0].fn();
      }
      throw new Error('timers keep adding timers');
    },
    text: (id) => elements[id].textContent,
    visible: (id) => !elements[id].hidden
  };
  const script = html.slice(html.indexOf('<script>') + '<script>'.length, html.lastIndexOf('</script>'));
  vm.createContext(sandbox);
  vm.runInContext(script, sandbox, {filename: 'Sidebar.html'});
  return sidebar;
}

module.exports = {loadSidebar, FakeElement};
