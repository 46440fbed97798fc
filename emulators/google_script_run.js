/*
 * google.script.run as Apps Script gives it to a sidebar: chained with*Handler runners, each call
 * asynchronous, the answer JSON-serialised. Here each call is a POST to the Sheets emulator's sidebar
 * bridge (emulators/sheets_sidebar.py), which runs what Code.js runs. The script tag carries the
 * spreadsheet and tab (data-sheet) and the function names (data-functions).
 */
(function () {
  'use strict';
  var script = document.currentScript;
  var where = JSON.parse(script.getAttribute('data-sheet'));
  var FUNCTIONS = JSON.parse(script.getAttribute('data-functions'));
  function selectedRow() {
    try { return window.parent.leadsSheetSelection ? window.parent.leadsSheetSelection() : null; }
    catch (e) { return null; }
  }
  function runner(onOk, onFail) {
    var r = {
      withSuccessHandler: function (fn) { return runner(fn, onFail); },
      withFailureHandler: function (fn) { return runner(onOk, fn); },
      withUserObject: function () { return r; }
    };
    FUNCTIONS.forEach(function (name) {
      r[name] = function () {
        var body = {spreadsheet_id: where.spreadsheet_id, sheet: where.sheet, row: selectedRow(),
                    args: Array.prototype.slice.call(arguments)};
        fetch('/_emulator/sidebar/run/' + name, {method: 'POST', headers: {'Content-Type': 'application/json'},
                                                  body: JSON.stringify(body)})
          .then(function (resp) {
            return resp.json().then(function (data) {
              if (!resp.ok) { throw new Error(data.error || ('HTTP ' + resp.status)); }
              return data;
            });
          })
          .then(function (data) { if (onOk) { onOk(data); } },
                function (err) { if (onFail) { onFail(err); } });
      };
    });
    return r;
  }
  window.google = {script: {run: runner(null, null)}};
}());
