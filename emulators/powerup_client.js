/*
 * The Trello emulator's stand-in for https://trello.com/power-ups/power-up.min.js.
 *
 * It follows the documented client library (developer.atlassian.com/cloud/trello/power-ups/):
 * TrelloPowerUp.initialize(capabilities, {appKey, appName}) in the hidden connector page, and
 * TrelloPowerUp.iframe() in the pages the board opens (card-back section, popups). As in Trello,
 * every `t` call crosses to the board (the parent window) by postMessage and answers come back the
 * same way; capability results that hold functions (a badge's `dynamic`, a button's `callback`) are
 * sent as callback references the board invokes later. The context (board, card, member, the
 * board's origin) travels in the URL fragment, as Trello's `t.signUrl` puts it there.
 */
(function () {
  'use strict';

  var MARK = 'trello-emulator-powerup';
  var hash = {};
  try { hash = JSON.parse(decodeURIComponent(window.location.hash.slice(1)) || '{}'); } catch (e) { hash = {}; }
  var baseContext = hash.context || {};
  var args = hash.args || {};
  var hostOrigin = baseContext.host || '*';
  var pending = {};
  var callbacks = {};
  var renderers = [];
  var capabilities = {};
  var seq = 0;

  function post(message) {
    message.mark = MARK;
    window.parent.postMessage(message, hostOrigin);
  }

  function request(method, params, context) {
    var id = 'r' + (++seq);
    return new Promise(function (resolve, reject) {
      pending[id] = { resolve: resolve, reject: reject };
      post({ type: 'request', id: id, method: method, params: params || {}, context: context });
    });
  }

  /** A value the board can receive: functions become callback ids (invoked later by the board). */
  function serialise(value) {
    if (typeof value === 'function') {
      var key = 'cb' + (++seq);
      callbacks[key] = value;
      return { __callback: key };
    }
    if (Array.isArray(value)) { return value.map(serialise); }
    if (value && typeof value === 'object') {
      var out = {};
      Object.keys(value).forEach(function (k) { out[k] = serialise(value[k]); });
      return out;
    }
    return value;
  }

  function absolute(url) {
    return new URL(url, baseContext.connector || window.location.href).href;
  }

  function makeT(context) {
    context = Object.assign({}, baseContext, context || {});
    var fields = function (names) { return names.length ? names : ['all']; };
    var t = {
      card: function () { return request('card', { fields: fields([].slice.call(arguments)) }, context); },
      cards: function () { return request('cards', { fields: fields([].slice.call(arguments)) }, context); },
      board: function () { return request('board', { fields: fields([].slice.call(arguments)) }, context); },
      list: function () { return request('list', { fields: fields([].slice.call(arguments)) }, context); },
      lists: function () { return request('lists', { fields: fields([].slice.call(arguments)) }, context); },
      member: function () { return request('member', { fields: fields([].slice.call(arguments)) }, context); },
      isMemberSignedIn: function () { return context.signedIn !== false; },
      memberCanWriteToModel: function () { return context.signedIn !== false; },
      jwt: function (options) { return request('jwt', { state: (options && options.state) || null }, context); },
      getContext: function () {
        return { board: context.board, card: context.card, member: context.member, theme: context.theme || null,
                 permissions: { board: 'write', card: 'write', organization: 'read' } };
      },
      arg: function (name, fallback) {
        return Object.prototype.hasOwnProperty.call(args, name) ? args[name] : fallback;
      },
      args: [args],
      signUrl: function (url, extra) {
        var ctx = Object.assign({}, context);
        return absolute(url) + '#' + encodeURIComponent(JSON.stringify({ context: ctx, args: extra || {} }));
      },
      get: function (scope, visibility, key, fallback) {
        return request('get', { scope: scope, visibility: visibility, key: key }, context).then(function (value) {
          return value === undefined || value === null ? fallback : value;
        });
      },
      set: function (scope, visibility, key, value) {
        return request('set', { scope: scope, visibility: visibility, key: key, value: value }, context);
      },
      remove: function (scope, visibility, key) {
        return request('set', { scope: scope, visibility: visibility, key: key, value: null }, context);
      },
      sizeTo: function (target) {
        var el = typeof target === 'string' ? document.querySelector(target) : target;
        var height = el ? Math.ceil(el.getBoundingClientRect().height) : document.body.scrollHeight;
        return request('sizeTo', { height: height }, context);
      },
      popup: function (options) {
        var opts = Object.assign({}, options);
        if (opts.url) { opts.url = t.signUrl(opts.url, opts.args); }
        if (opts.items) { opts.items = serialise(opts.items); }
        return request('popup', opts, context);
      },
      closePopup: function () { return request('closePopup', {}, context); },
      alert: function (options) { return request('alert', options || {}, context); },
      hideAlert: function () { return request('hideAlert', {}, context); },
      navigate: function (options) { return request('navigate', options || {}, context); },
      showCard: function (idCard) { return request('showCard', { card: idCard }, context); },
      authorize: function (url, options) {
        window.open(url, '_blank', 'noopener');
        return new Promise(function () {});  // like Trello's when the window is closed: never settles
      },
      render: function (fn) {
        renderers.push(fn);
        return Promise.resolve().then(fn);
      }
    };
    return t;
  }

  function reply(id, promise) {
    Promise.resolve().then(promise).then(function (value) {
      post({ type: 'result', id: id, value: serialise(value) });
    }, function (err) {
      post({ type: 'result', id: id, error: String((err && err.message) || err || 'failed') });
    });
  }

  window.addEventListener('message', function (event) {
    var data = event.data;
    if (!data || data.mark !== MARK || event.source !== window.parent) { return; }
    if (hostOrigin !== '*' && event.origin !== hostOrigin) { return; }
    if (data.type === 'response' && pending[data.id]) {
      var waiter = pending[data.id];
      delete pending[data.id];
      if (data.error) { waiter.reject(new Error(data.error)); } else { waiter.resolve(data.value); }
    } else if (data.type === 'invoke') {
      var handler = capabilities[data.capability];
      reply(data.id, function () {
        if (!handler) { throw new Error('capability not registered: ' + data.capability); }
        return handler(makeT(data.context), data.options || {});
      });
    } else if (data.type === 'callback') {
      var fn = callbacks[data.callback];
      reply(data.id, function () {
        if (!fn) { throw new Error('unknown callback'); }
        return fn(makeT(data.context), data.options || {});
      });
    } else if (data.type === 'render') {
      renderers.forEach(function (fn) { Promise.resolve().then(fn); });
    }
  });

  window.TrelloPowerUp = {
    version: 'trello-emulator',
    Promise: Promise,
    initialize: function (caps, options) {
      capabilities = caps || {};
      post({ type: 'ready', capabilities: Object.keys(capabilities), options: options || {} });
      return makeT();
    },
    iframe: function () {
      return makeT();
    }
  };
}());
