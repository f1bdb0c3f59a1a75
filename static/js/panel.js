/* Small progressive enhancements. Every page works without this file (CSP: no inline script). */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  // The language <select> submits its form on change; the button stays for no-JS users.
  function autosubmit(root) {
    root.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () {
        if (el.form) el.form.submit();
      });
    });
  }

  // Fields marked data-show-when="runtime=proxy" only show when that field has that value.
  function conditionalFields(root) {
    root.querySelectorAll("[data-show-when]").forEach(function (wrapper) {
      var rule = wrapper.getAttribute("data-show-when").split("=");
      var form = wrapper.closest("form");
      if (!form) return;
      var controls = form.querySelectorAll('[name="' + rule[0] + '"]');
      function update() {
        var value = "";
        controls.forEach(function (c) {
          if ((c.type === "radio" || c.type === "checkbox") ? c.checked : true) value = c.value;
        });
        var show = value === rule[1];
        wrapper.hidden = !show;
        wrapper.querySelectorAll("input, select, textarea").forEach(function (i) {
          i.disabled = !show;
        });
      }
      controls.forEach(function (c) { c.addEventListener("change", update); });
      update();
    });
  }

  // A dangerous button stays disabled until the user typed the exact confirmation text.
  function confirmTyped(root) {
    root.querySelectorAll("input[data-confirm-value]").forEach(function (input) {
      var form = input.closest("form");
      var button = form && form.querySelector("button[type=submit]");
      if (!button) return;
      function update() {
        // Several accepted spellings separated by "|" (a domain in Unicode and in punycode).
        var wants = input.getAttribute("data-confirm-value").toLowerCase().split("|");
        button.disabled = wants.indexOf(input.value.trim().toLowerCase()) === -1;
      }
      input.addEventListener("input", update);
      update();
    });
  }

  // The new-site form's "also serve www." box follows the typed name until the user clicks it:
  // ticked for an apex name (example.co.id: one label above a public suffix), not for a
  // subdomain. The suffixes of more than one label come from the server (domains.py).
  function apexDefault(root) {
    root.querySelectorAll("input[data-apex-for]").forEach(function (box) {
      var form = box.closest("form");
      var input = form && form.querySelector('[name="' + box.getAttribute("data-apex-for") + '"]');
      if (!input) return;
      var suffixes = (box.getAttribute("data-apex-suffixes") || "").split("|");
      var touched = false;
      box.addEventListener("change", function () { touched = true; });
      input.addEventListener("input", function () {
        if (touched) return;
        var labels = input.value.trim().toLowerCase().replace(/\.$/, "").split(".");
        var suffix = suffixes.indexOf(labels.slice(-2).join(".")) !== -1 ? 2 : 1;
        box.checked = labels[0] === "www" || labels.length === suffix + 1;
      });
    });
  }

  function enhance(root) {
    autosubmit(root);
    apexDefault(root);
    conditionalFields(root);
    confirmTyped(root);
  }

  ready(function () {
    enhance(document);
    // Content htmx swaps in later (the site page redraws its cards when a job ends) gets the
    // same enhancements; the initial load of <body> was handled above.
    document.body.addEventListener("htmx:load", function (event) {
      var elt = event.detail && event.detail.elt;
      if (elt && elt !== document.body) enhance(elt);
    });
  });
})();
