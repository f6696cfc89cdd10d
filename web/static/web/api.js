// Accessibility fixes for DRF's own browsable API template (rest_framework/base.html), which this
// project does not copy: its <html> has no lang, and its format menu button shows only a caret.
"use strict";
(function () {
  if (!document.documentElement.lang) document.documentElement.lang = "en";
  document.querySelectorAll("button.dropdown-toggle:not([aria-label])").forEach(function (button) {
    button.setAttribute("aria-label", "Choose the format of the GET request");
  });
})();
