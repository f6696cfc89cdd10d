// The web UI's small shared behaviours: the tenant selector submits on change, and
// [data-poll] regions refresh themselves from their URL (server-rendered HTML fragments).
"use strict";
(function () {
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.value) select.form.submit();
    });
  });

  var POLL_MS = 2000;
  function poll(region) {
    var url = region.getAttribute("data-poll");
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        // Replace only when something changed, so focus and text selection survive idle polls.
        if (region.getAttribute("data-last") !== html) {
          region.setAttribute("data-last", html);
          region.innerHTML = html;
          region.dispatchEvent(new CustomEvent("poll:updated", { bubbles: true }));
        }
      })
      .catch(function () { /* the next poll tries again */ })
      .finally(function () { region.pollTimer = window.setTimeout(function () { poll(region); }, POLL_MS); });
  }
  document.querySelectorAll("[data-poll]").forEach(function (region) {
    region.pollTimer = window.setTimeout(function () { poll(region); }, POLL_MS);
  });
})();
