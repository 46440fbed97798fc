/*
 * A stand-in for https://trello.com/power-ups/power-up.min.js in tests. It follows the documented
 * client library calls our pages use and records what they do:
 *   window.__capabilities   what TrelloPowerUp.initialize received
 *   window.__initOptions    its {appKey, appName}
 *   window.__sizeToCalls, __popups, __alerts, __jwtCalls, __navigations, __authorizeCalls
 * Tests configure it before any page script runs with window.__fakeTrello = {card, board, member,
 * jwt, signedIn, theme, store}. window.__makeT() gives a `t` for invoking capabilities.
 */
(function () {
  'use strict';

  var config = window.__fakeTrello || {};
  var store = config.store || {};

  window.__capabilities = null;
  window.__initOptions = null;
  window.__iframeOptions = null;
  window.__sizeToCalls = [];
  window.__popups = [];
  window.__alerts = [];
  window.__jwtCalls = [];
  window.__navigations = [];
  window.__authorizeCalls = [];
  window.__closedPopups = 0;

  function pick(model, names) {
    model = model || {};
    if (names.length === 0 || names[0] === 'all') { return Object.assign({}, model); }
    var result = {};
    names.forEach(function (name) { result[name] = model[name]; });
    return result;
  }

  function makeT() {
    return {
      card: function () { return Promise.resolve(pick(config.card, Array.prototype.slice.call(arguments))); },
      board: function () { return Promise.resolve(pick(config.board, Array.prototype.slice.call(arguments))); },
      member: function () { return Promise.resolve(pick(config.member, Array.prototype.slice.call(arguments))); },
      isMemberSignedIn: function () { return config.signedIn !== false; },
      jwt: function (options) {
        window.__jwtCalls.push(options || {});
        if (config.signedIn === false) { return Promise.reject(new Error('member is not signed in')); }
        return Promise.resolve(config.jwt);
      },
      sizeTo: function (selector) {
        window.__sizeToCalls.push(typeof selector === 'string' ? selector : 'element');
        return Promise.resolve();
      },
      popup: function (options) { window.__popups.push(options); return Promise.resolve(); },
      closePopup: function () { window.__closedPopups += 1; return Promise.resolve(); },
      alert: function (options) { window.__alerts.push(options); return Promise.resolve(); },
      navigate: function (options) { window.__navigations.push(options); return Promise.resolve(); },
      authorize: function (url, options) {
        window.__authorizeCalls.push({ url: url, options: options || {} });
        return new Promise(function () {});  // like Trello's when the window is closed: never settles
      },
      render: function (fn) { return Promise.resolve().then(fn); },
      signUrl: function (url) { return new URL(url, window.location.href).href + '#fake-signed-args'; },
      arg: function (name, fallback) {
        var args = config.args || {};
        return Object.prototype.hasOwnProperty.call(args, name) ? args[name] : fallback;
      },
      get: function (scope, visibility, key, fallback) {
        var value = store[scope + ':' + visibility + ':' + key];
        return Promise.resolve(value === undefined ? fallback : value);
      },
      set: function (scope, visibility, key, value) {
        store[scope + ':' + visibility + ':' + key] = value;
        return Promise.resolve();
      },
      getContext: function () {
        return {
          board: config.board && config.board.id,
          card: config.card && config.card.id,
          member: config.member && config.member.id,
          theme: config.theme || null
        };
      }
    };
  }

  window.__makeT = makeT;
  window.TrelloPowerUp = {
    version: 'fake-for-tests',
    Promise: Promise,
    initialize: function (capabilities, options) {
      window.__capabilities = capabilities;
      window.__initOptions = options || {};
      return makeT();
    },
    iframe: function (options) {
      window.__iframeOptions = options || {};
      return makeT();
    }
  };
}());
