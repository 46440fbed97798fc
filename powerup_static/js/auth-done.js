/* The page the dashboard sends the sign-in window to when done: hand back to t.authorize, close. */
(function () {
  'use strict';

  var note = document.getElementById('note');
  try {
    if (window.opener && typeof window.opener.authorize === 'function') {
      window.opener.authorize('connected');
      window.setTimeout(function () { window.close(); }, 300);
      return;
    }
  } catch (e) { /* the opener is on another origin or gone */ }
  note.textContent = 'You are signed in. Close this window and go back to Trello.';
}());
