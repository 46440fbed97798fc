/* Leads Sync Power-Up: helpers shared by the connector and its iframes (plain ES2017, no build). */
(function () {
  'use strict';

  var root = document.documentElement;
  var LS = window.LeadsSync = window.LeadsSync || {};

  LS.appKey = root.getAttribute('data-app-key') || undefined;
  LS.appName = root.getAttribute('data-app-name') || 'Leads Sync';
  LS.server = LS.server || window.location.origin;

  /** An error with a kind ('signed_out', 'network', 'jwt', 'http'), an HTTP status and a reason. */
  function Failure(kind, status, reason, message) {
    this.kind = kind;
    this.status = status || 0;
    this.reason = reason || '';
    this.message = message || '';
  }
  LS.Failure = Failure;

  var boardTokens = {};

  /** A JWT from Trello: per call when `state` is given, else one per board kept for 10 minutes. */
  function token(t, state) {
    if (!t.isMemberSignedIn()) {
      return Promise.reject(new Failure('signed_out'));
    }
    var ask = function () {
      return Promise.resolve(t.jwt(state ? { state: state } : {})).catch(function () {
        throw new Failure('jwt');
      });
    };
    if (state) {
      return ask();
    }
    return Promise.resolve(t.board('id')).then(function (board) {
      var cached = boardTokens[board.id];
      if (cached && cached.until > Date.now()) {
        return cached.jwt;
      }
      return ask().then(function (jwt) {
        boardTokens[board.id] = { jwt: jwt, until: Date.now() + 10 * 60 * 1000 };
        return jwt;
      });
    });
  }

  /** Call our API; resolves with the JSON body, rejects with a Failure. */
  LS.api = function (t, method, path, state) {
    return token(t, state).then(function (jwt) {
      return fetch(LS.server + '/api/powerup' + path, {
        method: method,
        credentials: 'omit',
        headers: { Authorization: 'Bearer ' + jwt, Accept: 'application/json' }
      }).catch(function () {
        throw new Failure('network');
      });
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          var error = (body && body.error) || {};
          throw new Failure('http', response.status, error.reason, error.message);
        }
        return body;
      });
    });
  };

  /** A sentence for the person looking at the card. */
  LS.errorText = function (err) {
    var kind = err && err.kind;
    var status = (err && err.status) || 0;
    var reason = (err && err.reason) || '';
    if (kind === 'signed_out') { return 'Sign in to Trello to see the lead.'; }
    if (kind === 'network') { return 'Leads Sync cannot be reached right now. Check your connection and try again.'; }
    if (kind === 'jwt') { return 'Trello could not confirm who you are. Reopen the card and try again.'; }
    if (kind !== 'http') { return 'Something went wrong. Try again.'; }
    if (status === 401) {
      if (reason === 'missing_token') { return 'Sign in to Trello to see the lead.'; }
      if (reason === 'token_expired') { return 'Your session expired, reopen the card.'; }
      return 'Trello could not confirm who you are. Reopen the card and try again.';
    }
    if (status === 403) {
      if (reason === 'unknown_member') {
        return 'Your Trello account is not connected to Leads Sync yet. Sign in to the dashboard and connect Trello.';
      }
      if (reason === 'wrong_card' || reason === 'wrong_board') { return 'Your session expired, reopen the card.'; }
      return 'You do not have access to the leads of this board.';
    }
    if (status === 404) {
      if (reason === 'card_not_on_board') { return 'This card is not on a board connected to Leads Sync.'; }
      return 'This board is not connected to Leads Sync.';
    }
    if (status === 409) { return err.message || 'That cannot be done for this card.'; }
    if (status === 429) { return 'Leads Sync is busy. Wait a moment and try again.'; }
    if (status === 503 && reason === 'not_configured') { return 'Leads Sync is not fully set up yet. Ask whoever runs it.'; }
    if (status >= 500) { return 'Leads Sync is having trouble right now. Try again in a minute.'; }
    return err.message || 'Something went wrong. Try again.';
  };

  /** "just now", "5 minutes ago", "yesterday", or a date. */
  LS.relativeTime = function (iso, now) {
    if (!iso) { return ''; }
    var then = new Date(iso).getTime();
    if (isNaN(then)) { return ''; }
    var seconds = Math.max(0, Math.round(((now || Date.now()) - then) / 1000));
    var plural = function (n, unit) { return n + ' ' + unit + (n === 1 ? '' : 's') + ' ago'; };
    if (seconds < 45) { return 'just now'; }
    if (seconds < 3600) { return plural(Math.max(1, Math.round(seconds / 60)), 'minute'); }
    if (seconds < 86400) { return plural(Math.round(seconds / 3600), 'hour'); }
    var days = Math.round(seconds / 86400);
    if (days === 1) { return 'yesterday'; }
    if (days < 30) { return plural(days, 'day'); }
    return 'on ' + new Date(then).toLocaleDateString();
  };

  /** Follow Trello's theme when it tells us; otherwise CSS follows prefers-color-scheme. */
  LS.applyTheme = function (t) {
    var set = function (theme) {
      if (theme === 'dark' || theme === 'light') { root.setAttribute('data-theme', theme); }
    };
    try {
      var context = t.getContext ? t.getContext() : null;
      set(context && context.theme);
      if (typeof t.subscribeToThemeChanges === 'function') { t.subscribeToThemeChanges(set); }
    } catch (e) { /* an older client library: keep the media query */ }
  };

  /** Build an element: attributes, then children (strings become text nodes, never HTML). */
  LS.el = function (tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) { return; }
      if (name === 'text') { node.textContent = value; } else if (name === 'onclick') { node.addEventListener('click', value); } else { node.setAttribute(name, value === true ? '' : value); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) { return; }
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  };

  /** Replace the content of #content and tell Trello the new height. */
  LS.show = function (t, nodes) {
    var content = document.getElementById('content');
    while (content.firstChild) { content.removeChild(content.firstChild); }
    nodes.forEach(function (node) { if (node) { content.appendChild(node); } });
    return Promise.resolve(t.sizeTo('#content')).catch(function () { /* not in an iframe Trello sized */ });
  };

  /** A message block (kind: 'info' | 'error') with an optional button. */
  LS.message = function (text, kind, button) {
    return LS.el('div', { class: 'message ' + (kind || 'info'), role: kind === 'error' ? 'alert' : 'status' }, [
      LS.el('p', { text: text }),
      button || null
    ]);
  };

  LS.dashboardUrl = function () { return LS.server + '/app'; };
}());
