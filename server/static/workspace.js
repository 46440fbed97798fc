/* Live status of a workspace page, and of a draft's preview: polls status.json every 2 s and
   updates the figures in place. The preview page reloads itself once the worker has finished the
   preview (the server renders the plan or the error). Without JavaScript the pages still show the
   state as of their loading. */
(function () {
  'use strict';
  var live = document.getElementById('live');
  var preview = document.getElementById('preview-live');
  var root = live || preview;
  if (!root || !window.fetch) return;
  var url = root.getAttribute('data-status-url');
  var lastHistory = parseInt((live && live.getAttribute('data-last-history')) || '0', 10);
  var FINAL = {done: true, failed: true, none: true};
  var delay = 2000;
  var stopped = false;

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

  function renderLive(s) {
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

  function renderPreview(p) {
    var shown = preview.getAttribute('data-preview-state');
    if (!p || (FINAL[p.state] && !FINAL[shown])) {
      // ready, failed, or no longer a draft: the server renders the result
      stopped = true;
      window.location.reload();
      return;
    }
    text('preview-message', p.message);
    var message = document.getElementById('preview-message');
    if (message) message.className = p.stalled ? 'preview-stalled' : '';
    var bar = document.getElementById('preview-progress');
    if (bar) {
      if (p.percent === null || p.percent === undefined) {
        bar.removeAttribute('value');  // indeterminate: the total is not known yet
      } else {
        bar.value = p.percent;
        bar.textContent = p.percent + '%';
      }
    }
    preview.setAttribute('data-preview-state', p.state);
  }

  function render(s) {
    if (live) renderLive(s);
    if (preview) renderPreview(s.preview);
  }

  function poll() {
    fetch(url, {credentials: 'same-origin', headers: {'Accept': 'application/json'}, cache: 'no-store'})
      .then(function (response) {
        if (response.status === 401) {
          // signed out (here, elsewhere, or the session expired): reloading leads to the sign-in page
          stopped = true;
          window.location.reload();
          throw new Error('signed out');
        }
        if (!response.ok) throw new Error('status ' + response.status);
        return response.json();
      })
      .then(function (s) { render(s); delay = 2000; })
      .catch(function () { delay = Math.min(delay * 2, 30000); })
      .then(function () {
        if (!stopped) window.setTimeout(poll, document.hidden ? Math.max(delay, 10000) : delay);
      });
  }

  if (preview && !live && FINAL[preview.getAttribute('data-preview-state')]) return;  // nothing to follow
  window.setTimeout(poll, delay);
}());
