/* Leads Sync Power-Up connector: registers the capabilities with Trello (plain ES2017, no build). */
(function () {
  'use strict';

  var script = document.currentScript;
  var LS = window.LeadsSync;
  // Our server is wherever this script came from; the page gives the app key and name.
  LS.server = new URL(script.src).origin;
  var APP_KEY = script.getAttribute('data-app-key') || undefined;
  var APP_NAME = script.getAttribute('data-app-name') || 'Leads Sync';
  var VERSION = script.getAttribute('data-version') || '';
  var suffix = VERSION ? '?v=' + encodeURIComponent(VERSION) : '';
  var ICON = LS.server + '/powerup/images/icon.svg' + suffix;
  var ICON_WHITE = LS.server + '/powerup/images/icon-white.svg' + suffix;
  var REFRESH_S = 60;
  // A card whose list is not yet its lead's (just moved; the sync is applying it) asks again at
  // Trello's shortest badge refresh, so the badge never shows the old status for a minute.
  var UNSETTLED_REFRESH_S = 10;

  function cardData(t) {
    return Promise.resolve(t.card('id', 'idList')).then(function (card) {
      return LS.api(t, 'GET', '/cards/' + encodeURIComponent(card.id)).then(function (data) {
        if (data) { data.cardList = card.idList; }
        return data;
      });
    });
  }

  function openLead(t) {
    return t.popup({ title: 'Lead', url: './lead-popup.html', height: 240 });
  }

  function syncNow(t) {
    return Promise.resolve(t.board('id')).then(function (board) {
      return LS.api(t, 'POST', '/boards/' + encodeURIComponent(board.id) + '/sync');
    }).then(function () {
      return t.alert({ message: 'Sync started: the sheet and this board are being compared.', duration: 6, display: 'success' });
    }, function (err) {
      return t.alert({ message: LS.errorText(err), duration: 10, display: 'error' });
    });
  }

  window.TrelloPowerUp.initialize({
    'card-back-section': function (t) {
      return {
        title: 'Lead',
        icon: ICON,
        content: { type: 'iframe', url: t.signUrl('./card-back.html'), height: 230 }
      };
    },

    'card-badges': function (t) {
      if (!t.isMemberSignedIn()) { return []; }
      return [{
        dynamic: function () {
          return cardData(t).then(function (data) {
            if (!data.linked || !data.badge || !data.badge.text) { return { refresh: REFRESH_S }; }
            var settled = !data.badge.list_id || !data.cardList || data.badge.list_id === data.cardList;
            return { text: data.badge.text, color: data.badge.color, refresh: settled ? REFRESH_S : UNSETTLED_REFRESH_S };
          }, function () {
            return { refresh: REFRESH_S };
          });
        }
      }];
    },

    'card-detail-badges': function (t) {
      if (!t.isMemberSignedIn()) { return []; }
      return cardData(t).then(function (data) {
        if (!data.linked) { return []; }
        return [{
          title: 'Lead',
          text: (data.badge && data.badge.text) || 'No status',
          color: (data.badge && data.badge.color) || null,
          callback: openLead
        }];
      }, function () { return []; });
    },

    'show-settings': function (t) {
      return t.popup({ title: 'Lead sync settings', url: './settings.html', height: 260 });
    },

    'authorization-status': function (t) {
      return Promise.resolve(t.get('member', 'private', 'authorized')).then(function (authorized) {
        return { authorized: Boolean(authorized) || Boolean(t.isMemberSignedIn()) };
      });
    },

    'show-authorization': function (t) {
      return t.popup({ title: 'Connect ' + APP_NAME, url: './authorize.html', height: 220 });
    },

    'board-buttons': function () {
      return [{
        icon: { dark: ICON_WHITE, light: ICON },
        text: 'Sync now',
        condition: 'signedIn',
        callback: syncNow
      }, {
        icon: { dark: ICON_WHITE, light: ICON },
        text: 'Open dashboard',
        url: LS.dashboardUrl(),
        target: APP_NAME + ' dashboard'
      }];
    }
  }, { appKey: APP_KEY, appName: APP_NAME });
}());
