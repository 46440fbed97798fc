/* The authorization popup: sign in to the dashboard (in a window: auth pages cannot run in iframes). */
(function () {
  'use strict';

  var LS = window.LeadsSync;
  var t = window.TrelloPowerUp.iframe({ appKey: LS.appKey, appName: LS.appName });
  var signIn = document.getElementById('sign-in');
  var cancel = document.getElementById('cancel');
  var status = document.getElementById('status');

  LS.applyTheme(t);

  function signInUrl() {
    return LS.server + '/app/login?next=' + encodeURIComponent('/powerup/auth-done.html');
  }

  signIn.addEventListener('click', function () {
    signIn.disabled = true;
    signIn.textContent = 'Waiting for the sign-in window…';
    status.textContent = 'Finish signing in in the window that opened. Closed it? Press Cancel and try again.';
    // t.authorize never settles when the person closes the window: Cancel stays available.
    Promise.resolve(t.authorize(signInUrl(), {
      height: 680,
      width: 580,
      validToken: function (value) { return value === 'connected'; }
    })).then(function () {
      return t.set('member', 'private', 'authorized', true);
    }).then(function () {
      return t.closePopup();
    }).catch(function () {
      signIn.disabled = false;
      signIn.textContent = 'Sign in';
      status.textContent = 'Signing in did not finish. Try again.';
    });
  });

  cancel.addEventListener('click', function () {
    t.closePopup();
  });

  t.render(function () { return t.sizeTo('#content'); });
}());
