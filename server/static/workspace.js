/* Live status of a workspace page: polls status.json every 2 s and updates the figures in place.
   Without JavaScript the page still shows the state as of its loading. */
(function () {
  'use strict';
  var live = document.getElementById('live');
  if (!live || !window.fetch) return;
  var url = live.getAttribute('data-status-url');
  var lastHistory = parseInt(live.getAttribute('data-last-history') || '0', 10);
  var delay = 2000;

  function text(id, value) {
    var el = document.getElementById(id);
    if (el && el.textContent !== String(value)) el.textContent = String(value);
  }

  function when(iso) {
    if (!iso) return '\u2014';
    return iso.slice(0, 16).replace('T', ' ') + ' UTC';
  }

  function progressText(p) {
    if (p.finished) return 'finished ' + when(p.finished_at) + (p.dry_run ? ' (preview)' : '');
    if (!p.phase) return 'not run yet';
    return p.phase + (p.total ? ' \u2014 ' + p.done + ' of ' + p.total : '');
  }

  function render(s) {
    var badge = document.querySelector('#ws-state .badge');
    if (badge) {
      badge.className = 'badge badge-' + s.state;
      badge.textContent = s.state_label;
    }
    var bar = document.getElementById('sync-progress');
    if (bar) {
      bar.value = s.progress.percent;
      bar.textContent = s.progress.percent + '%';
    }
    text('progress-text', progressText(s.progress));
    text('pending-count', s.pending);
    text('parked-count', s.parked);
    var parked = document.getElementById('parked-count');
    if (parked) parked.className = s.parked ? 'bad' : '';
    text('last-reconciled', when(s.last_reconciled_at));
    if (s.last_history_id > lastHistory) {
      var note = document.getElementById('live-note');
      if (note) note.hidden = false;
    }
    live.setAttribute('data-state', s.state);
  }

  function poll() {
    fetch(url, {credentials: 'same-origin', headers: {'Accept': 'application/json'}, cache: 'no-store'})
      .then(function (response) {
        if (!response.ok) throw new Error('status ' + response.status);
        return response.json();
      })
      .then(function (s) { render(s); delay = 2000; })
      .catch(function () { delay = Math.min(delay * 2, 30000); })
      .then(function () { window.setTimeout(poll, document.hidden ? Math.max(delay, 10000) : delay); });
  }

  window.setTimeout(poll, delay);
}());
