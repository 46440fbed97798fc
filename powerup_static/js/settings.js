/* The settings popup: which workspace this board is linked to, and a way to the dashboard. */
(function () {
  'use strict';

  var LS = window.LeadsSync;
  var el = LS.el;
  var t = window.TrelloPowerUp.iframe({ appKey: LS.appKey, appName: LS.appName });

  LS.applyTheme(t);

  function dashboardButton(url) {
    var button = el('button', { type: 'button', class: 'primary', id: 'open-dashboard' }, ['Open dashboard']);
    button.addEventListener('click', function () {
      window.open(url || LS.dashboardUrl(), '_blank', 'noopener');
    });
    return button;
  }

  function render(data) {
    var nodes = [];
    if (data.linked && data.workspace) {
      nodes.push(el('p', {}, ['This board is linked to the workspace ', el('strong', { text: data.workspace.name }), '.']));
      nodes.push(el('p', { class: 'muted', text: 'Cards and sheet rows stay in sync both ways. Mappings, history and errors are in the dashboard.' }));
    } else {
      nodes.push(el('p', { class: 'headline', text: 'This board is not linked to a workspace you can see.' }));
      nodes.push(el('p', { class: 'muted', text: 'Create a workspace in the dashboard to connect a Google Sheet to this board.' }));
    }
    nodes.push(dashboardButton(data.dashboard_url));
    return LS.show(t, nodes);
  }

  function load() {
    return Promise.resolve(t.board('id')).then(function (board) {
      return LS.api(t, 'GET', '/boards/' + encodeURIComponent(board.id));
    }).then(render, function (err) {
      return LS.show(t, [LS.message(LS.errorText(err), err.kind === 'signed_out' ? 'info' : 'error'), dashboardButton()]);
    });
  }

  t.render(load);
}());
