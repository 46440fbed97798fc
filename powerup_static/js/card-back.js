/* The card-back section (and the compact lead popup): the lead linked to this card. */
(function () {
  'use strict';

  var LS = window.LeadsSync;
  var el = LS.el;
  var t = window.TrelloPowerUp.iframe({ appKey: LS.appKey, appName: LS.appName });
  var compact = document.body.getAttribute('data-compact') === 'true';
  var POLL_MS = 5000;
  var MAX_POLLS = 12;
  var polls = 0;
  var pollTimer = null;

  var SYNC_LABELS = { synced: 'Synced', pending: 'Pending', error: 'Error' };

  LS.applyTheme(t);

  function syncBadge(sync) {
    var state = (sync && sync.state) || 'pending';
    return el('span', { class: 'sync sync-' + state, title: 'Sync state' }, [SYNC_LABELS[state] || state]);
  }

  function statusPill(lead, badge) {
    var color = (badge && badge.color) || 'light-gray';
    return el('span', { class: 'status color-' + color }, [lead.status || 'No status']);
  }

  function safeSheetUrl(url) {
    return typeof url === 'string' && url.indexOf('https://docs.google.com/') === 0 ? url : null;
  }

  function fieldList(fields, columns) {
    var names = Array.isArray(columns) ? columns.filter(function (name) { return name in (fields || {}); }) : Object.keys(fields || {});
    if (compact) { names = names.slice(0, 4); }
    var children = [];
    names.forEach(function (name) {
      children.push(el('dt', { text: name }));
      children.push(el('dd', { text: fields[name] === '' ? '—' : String(fields[name]) }));
    });
    return names.length ? el('dl', { class: 'fields' }, children) : el('p', { class: 'muted', text: 'The lead has no fields yet.' });
  }

  function errorBox(sync) {
    if (!sync || sync.state !== 'error') { return null; }
    var detail = sync.error ? sync.error.replace(/\s+$/, '') : 'The reason was not recorded.';
    return el('div', { class: 'message error', role: 'alert' }, [
      el('p', { class: 'title', text: 'The last sync of this lead failed.' }),
      el('p', { class: 'detail', text: detail }),
      el('p', { class: 'muted', text: 'It is retried automatically; the dashboard shows the details.' })
    ]);
  }

  function renderLinked(data) {
    var lead = data.lead || {};
    var sync = data.sync || {};
    var sheet = safeSheetUrl(lead.sheet_url);
    var when = sync.last_synced_at ? 'Last synced ' + LS.relativeTime(sync.last_synced_at) : 'Not synced yet';
    return LS.show(t, [
      el('div', { class: 'header' }, [statusPill(lead, data.badge), syncBadge(sync)]),
      errorBox(sync),
      fieldList(lead.fields, lead.columns),
      el('div', { class: 'footer' }, [
        sheet ? el('a', { href: sheet, target: '_blank', rel: 'noopener noreferrer', class: 'sheet-link' },
          ['Open row in Google Sheets']) : null,
        el('span', { class: 'muted last-synced', title: sync.last_synced_at || '' }, [when])
      ])
    ]);
  }

  function createLead(button) {
    button.disabled = true;
    button.textContent = 'Creating…';
    return Promise.resolve(t.card('id')).then(function (card) {
      return LS.api(t, 'POST', '/cards/' + encodeURIComponent(card.id) + '/lead', JSON.stringify({ card: card.id }));
    }).then(load, function (err) {
      return renderError(err);
    });
  }

  function renderUnlinked(data) {
    var sheet = data.workspace && data.workspace.name ? 'the ' + data.workspace.name + ' sheet' : 'the lead sheet';
    var nodes = [el('p', { class: 'headline', text: 'Not linked to a lead' })];
    if (data.create_queued) {
      nodes.push(LS.message('A row is being added to ' + sheet + ' for this card…', 'info'));
    } else if (data.can_create) {
      var button = el('button', { type: 'button', class: 'primary', id: 'create-lead' }, ['Create lead']);
      button.addEventListener('click', function () { createLead(button); });
      nodes.push(el('p', { class: 'muted', text: 'Add this card as a new row in ' + sheet + '.' }));
      nodes.push(button);
    } else {
      nodes.push(el('p', {
        class: 'muted',
        text: data.reason === 'unlinked'
          ? 'This card was unlinked from its lead on purpose; relink it from the dashboard.'
          : 'Sync with ' + sheet + ' is paused, so no lead can be created now.'
      }));
    }
    return LS.show(t, nodes);
  }

  function errorAction(err) {
    var reason = err && err.reason;
    if (err && err.kind === 'signed_out') { return null; }
    if (reason === 'unknown_member') {
      return el('button', { type: 'button', class: 'secondary', onclick: function () {
        return t.popup({ title: 'Connect ' + LS.appName, url: './authorize.html', height: 220 });
      } }, ['Connect']);
    }
    if (reason === 'board_not_connected') {
      return el('button', { type: 'button', class: 'secondary', onclick: function () {
        window.open(LS.dashboardUrl(), '_blank', 'noopener');
      } }, ['Open dashboard']);
    }
    return el('button', { type: 'button', class: 'secondary', onclick: function () { load(); } }, ['Try again']);
  }

  function renderError(err) {
    var kind = err && err.kind === 'signed_out' ? 'info' : 'error';
    return LS.show(t, [LS.message(LS.errorText(err), kind, errorAction(err))]);
  }

  function schedulePoll(data) {
    clearTimeout(pollTimer);
    var waiting = (data.linked && data.sync && data.sync.state === 'pending') || (!data.linked && data.create_queued);
    if (waiting && polls < MAX_POLLS) {
      polls += 1;
      pollTimer = setTimeout(load, POLL_MS);
    }
  }

  function load() {
    if (!t.isMemberSignedIn()) {
      return renderError(new LS.Failure('signed_out'));
    }
    return Promise.resolve(t.card('id', 'name')).then(function (card) {
      return LS.api(t, 'GET', '/cards/' + encodeURIComponent(card.id), JSON.stringify({ card: card.id }));
    }).then(function (data) {
      schedulePoll(data);
      return data.linked ? renderLinked(data) : renderUnlinked(data);
    }, renderError);
  }

  LS.show(t, [el('p', { class: 'muted', text: 'Loading the lead…' })]);
  t.render(function () {
    polls = 0;
    return load();
  });
}());
