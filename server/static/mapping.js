/* The list → status table follows the status → list table (wizard and mapping editor).
   Same rule as server/sync/matching.py reverse_table: a list's status is kept while it still
   leads back to that list (or names no mapped status) and was chosen by a person; a suggested
   one becomes the first status sent to the list, else the list's own name. */
(function () {
  "use strict";
  var root = document.querySelector("[data-mapping]");
  if (!root) { return; }

  function key(text) {
    return (text || "").normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^\p{L}\p{N}]+/gu, " ").trim();
  }

  function forwardPairs() {
    var pairs = [];
    root.querySelectorAll("select[data-forward]").forEach(function (select) {
      var status = select.getAttribute("data-status");
      if (status === null) {
        var input = document.getElementById(select.getAttribute("data-status-input"));
        status = input ? input.value.trim() : "";
      }
      if (status && select.value) { pairs.push([status, select.value]); }
    });
    return pairs;
  }

  function follow() {
    var pairs = forwardPairs();
    var mapped = {};
    pairs.forEach(function (pair) {
      if (!(key(pair[0]) in mapped)) { mapped[key(pair[0])] = pair[1]; }
    });
    root.querySelectorAll("input[data-reverse-list]").forEach(function (input) {
      var listId = input.getAttribute("data-reverse-list");
      var current = input.value.trim();
      var target = mapped[key(current)];
      var chosen = input.getAttribute("data-auto") !== "yes";
      if (chosen && current && (target === undefined || target === listId)) { return; }
      var first = pairs.filter(function (pair) { return pair[1] === listId; })[0];
      input.value = first ? first[0] : input.getAttribute("data-list-name");
      input.setAttribute("data-auto", "yes");
    });
  }

  root.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("select[data-forward]") || target.matches("input[id^='extra_status_']")) { follow(); }
  });
  root.addEventListener("input", function (event) {
    if (event.target.matches("input[data-reverse-list]")) { event.target.setAttribute("data-auto", "no"); }
  });
}());
