/* Google Picker on the "Choose a spreadsheet" button (GOOGLE_SCOPE_MODE=drive.file).
 *
 * The button's form holds the "spreadsheet" input (the picked file id goes there, as if typed),
 * the Google account ("google_account") and the CSRF token. On click: a short-lived access token
 * from the server (POST data-token-url), Google's loader (https://apis.google.com/js/api.js,
 * gapi.load('picker')), then google.picker.PickerBuilder with DocsView(ViewId.SPREADSHEETS),
 * setOAuthToken, setDeveloperKey, setAppId (the Cloud project number: without it drive.file is
 * not granted for the picked file) and setCallback. See server/dashboard/picker.py.
 */
(function () {
  "use strict";

  var LOADER = "https://apis.google.com/js/api.js";
  var button = document.getElementById("choose-spreadsheet");
  if (!button || !button.form) {
    return;
  }
  var form = button.form;
  var status = document.getElementById("picker-status");
  var loading = null;

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("flash", Boolean(isError));
    status.classList.toggle("flash-error", Boolean(isError));
  }

  function field(name) {
    return form.querySelector("[name='" + name + "']");
  }

  function loadPicker() {
    if (loading) {
      return loading;
    }
    loading = new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = LOADER;
      script.async = true;
      script.onload = function () {
        window.gapi.load("picker", { callback: resolve, onerror: reject });
      };
      script.onerror = reject;
      document.head.appendChild(script);
    }).catch(function () {
      loading = null;
      throw new Error("Google's file picker could not be loaded. Check the connection (or an extension " +
                      "blocking apis.google.com), then try again.");
    });
    return loading;
  }

  function accessToken() {
    var body = new URLSearchParams();
    var account = field("google_account");
    if (account) {
      body.set("account", account.value);
    }
    return fetch(button.dataset.tokenUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": field("csrf_token").value },
      body: body
    }).catch(function () {
      throw new Error("The server did not answer; try again in a moment.");
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok || !data.access_token) {
          throw new Error((data.error && data.error.message) ||
                          "The server could not get a Google token (" + response.status + "). Reload the page " +
                          "and try again.");
        }
        return data.access_token;
      });
    });
  }

  function onPicked(data) {
    var picker = window.google.picker;
    var action = data[picker.Response.ACTION];
    if (action === picker.Action.CANCEL) {
      say("");
      return;
    }
    if (action !== picker.Action.PICKED) {
      return;
    }
    var doc = data[picker.Response.DOCUMENTS][0];
    field("spreadsheet").value = doc[picker.Document.ID];
    say("Chosen: " + doc[picker.Document.NAME]);
  }

  function open(token) {
    var picker = window.google.picker;
    new picker.PickerBuilder()
      .addView(new picker.DocsView(picker.ViewId.SPREADSHEETS))
      .setOAuthToken(token)
      .setDeveloperKey(button.dataset.apiKey)
      .setAppId(button.dataset.appId)
      .setTitle("Choose the leads spreadsheet")
      .setCallback(onPicked)
      .build()
      .setVisible(true);
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    say("Opening Google's file picker…");
    Promise.all([accessToken(), loadPicker()]).then(function (results) {
      say("");
      open(results[0]);
    }).catch(function (error) {
      say(error.message, true);
    }).then(function () {
      button.disabled = false;
    });
  });
}());
