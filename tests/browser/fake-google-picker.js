/*
 * A stand-in for Google's loader https://apis.google.com/js/api.js with the Picker, in tests. It
 * follows the documented API our picker.js uses:
 *   gapi.load('picker', {callback})
 *   new google.picker.PickerBuilder().addView(new google.picker.DocsView(google.picker.ViewId.SPREADSHEETS))
 *     .setOAuthToken(t).setDeveloperKey(k).setAppId(projectNumber).setCallback(cb).build().setVisible(true)
 *   cb({action: 'picked', docs: [{id, name, mimeType, ...}]}) or cb({action: 'cancel'})
 * The test serves it with __PICKER_FILES__ replaced by the spreadsheets the user "has in Drive".
 * Choosing one does what Google's Picker does server-side: it tells Google (here, a script URL on
 * https://docs.google.com that the test answers by calling the OAuth emulator's pick_file with the
 * token and app id) that the app may open the file, then calls back.
 */
(function () {
  'use strict';

  var FILES = __PICKER_FILES__;
  var SPREADSHEET = 'application/vnd.google-apps.spreadsheet';

  var picker = {
    ViewId: { DOCS: 'all', SPREADSHEETS: 'spreadsheets' },
    Action: { PICKED: 'picked', CANCEL: 'cancel', LOADED: 'loaded' },
    Response: { ACTION: 'action', DOCUMENTS: 'docs', VIEW: 'viewToken' },
    Document: { ID: 'id', NAME: 'name', MIME_TYPE: 'mimeType', URL: 'url' }
  };

  function DocsView(viewId) {
    this.viewId = viewId || picker.ViewId.DOCS;
  }

  function PickerBuilder() {
    this.views = [];
    this.options = {};
  }
  PickerBuilder.prototype.addView = function (view) {
    this.views.push(typeof view === 'string' ? new DocsView(view) : view);
    return this;
  };
  ['OAuthToken', 'DeveloperKey', 'AppId', 'Callback', 'Title', 'Origin', 'Locale'].forEach(function (name) {
    PickerBuilder.prototype['set' + name] = function (value) {
      this.options[name] = value;
      return this;
    };
  });
  PickerBuilder.prototype.build = function () {
    if (!this.options.OAuthToken || !this.options.DeveloperKey || !this.options.Callback) {
      throw new Error('PickerBuilder: setOAuthToken, setDeveloperKey and setCallback are required');
    }
    return new Picker(this.views, this.options);
  };

  function Picker(views, options) {
    this.views = views;
    this.options = options;
    this.dialog = null;
  }

  Picker.prototype.setVisible = function (visible) {
    if (!visible) {
      if (this.dialog) { this.dialog.close(); this.dialog.remove(); this.dialog = null; }
      return;
    }
    var self = this;
    var onlySheets = self.views.every(function (v) { return v.viewId === picker.ViewId.SPREADSHEETS; });
    var files = FILES.filter(function (f) { return !onlySheets || f.mimeType === SPREADSHEET; });
    var dialog = document.createElement('dialog');
    dialog.setAttribute('aria-label', 'Google Picker');
    var heading = document.createElement('h2');
    heading.textContent = self.options.Title || 'Select a file';
    dialog.appendChild(heading);
    var list = document.createElement('ul');
    files.forEach(function (file) {
      var item = document.createElement('li');
      var button = document.createElement('button');
      button.type = 'button';
      button.textContent = file.name;
      button.addEventListener('click', function () { self.choose(file); });
      item.appendChild(button);
      list.appendChild(item);
    });
    dialog.appendChild(list);
    var cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.textContent = 'Cancel';
    cancel.addEventListener('click', function () {
      self.setVisible(false);
      self.options.Callback({ action: picker.Action.CANCEL });
    });
    dialog.appendChild(cancel);
    document.body.appendChild(dialog);
    dialog.showModal();
    self.dialog = dialog;
    self.options.Callback({ action: picker.Action.LOADED });
  };

  Picker.prototype.choose = function (file) {
    var self = this;
    var grant = document.createElement('script');
    grant.src = 'https://docs.google.com/picker/standin/pick?' + new URLSearchParams({
      token: self.options.OAuthToken, app_id: self.options.AppId || '', key: self.options.DeveloperKey,
      file: file.id
    }).toString();
    grant.onload = function () {
      self.setVisible(false);
      self.options.Callback({
        action: picker.Action.PICKED,
        docs: [{ id: file.id, name: file.name, mimeType: file.mimeType, serviceId: 'spread',
                 url: 'https://docs.google.com/spreadsheets/d/' + file.id + '/edit' }]
      });
    };
    document.head.appendChild(grant);
  };

  picker.DocsView = DocsView;
  picker.PickerBuilder = PickerBuilder;
  window.google = window.google || {};
  window.google.picker = picker;
  window.gapi = {
    load: function (name, options) {
      var callback = typeof options === 'function' ? options : options.callback;
      if (name !== 'picker') { throw new Error('this stand-in loads only the picker'); }
      setTimeout(callback, 0);
    }
  };
}());
