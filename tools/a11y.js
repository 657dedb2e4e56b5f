/*
 * a11y.js: accessibility repairs of the theme's markup that CSS cannot make (WCAG 2.2 AA), on every page.
 * Copied to _vendor/ by tools/vendor-assets.sh, loaded through html_js_files in _config.yml; found by axe-core
 * in tools/browser_check.mjs.
 */
(function () {
  "use strict";
  function repair() {
    // 2.5.3 label in name: the search field shows "Search Ctrl+K" but was named "Search" only; its content names it.
    document.querySelectorAll(".search-button-field[aria-label]").forEach(function (b) {
      b.removeAttribute("aria-label");
    });
    // 2.5.3: the theme switch is named "Color mode"; its icons' titles (Light, Dark, System Settings) are not text.
    // FontAwesome replaces the icons by <svg> (with a <title>) whenever it gets to them: watch the button.
    document.querySelectorAll(".theme-switch-button").forEach(function (b) {
      function hideIcons() {
        b.querySelectorAll(".theme-switch, svg").forEach(function (i) {
          i.setAttribute("aria-hidden", "true");
          i.removeAttribute("title");
        });
        b.querySelectorAll("svg title").forEach(function (t) { t.remove(); });
      }
      hideIcons();
      if (!b.attnlibObserved && window.MutationObserver) {
        new MutationObserver(hideIcons).observe(b, { childList: true, subtree: true });
        b.attnlibObserved = true;
      }
    });
    // 1.3.1: the bibliography is role="list" whose entries carry the deprecated role doc-biblioentry; a list needs
    // list items.
    document.querySelectorAll('[role="list"] > [role="doc-biblioentry"]').forEach(function (e) {
      e.setAttribute("role", "listitem");
    });
    // 2.5.3: a folded code cell's summary shows "Show code cell source" but was named "Toggle hidden content".
    document.querySelectorAll('summary[aria-label="Toggle hidden content"]').forEach(function (s) {
      s.removeAttribute("aria-label");
    });
    // 2.4.11: scroll-padding (a11y.css) as tall as the sticky article header actually is.
    var header = document.querySelector(".bd-header-article");
    if (header && header.offsetHeight) {
      document.documentElement.style.setProperty("--attnlib-sticky-height", header.offsetHeight + "px");
    }
  }
  // 2.1.1: formulas are no Tab stops (_config.yml, MathJax inTabOrder false), except a display formula wider
  // than the column: it scrolls sideways, and a keyboard can scroll only what it can focus.
  function focusableWhenScrolling() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (m) {
      if (m.scrollWidth > m.clientWidth + 1) {
        m.setAttribute("tabindex", "0");
      } else if (m.getAttribute("tabindex") === "0") {
        m.removeAttribute("tabindex");
      }
    });
  }
  window.addEventListener("load", function () {
    var MJ = window.MathJax;
    if (MJ && MJ.startup && MJ.startup.promise) { MJ.startup.promise.then(focusableWhenScrolling); }
  });
  window.addEventListener("resize", function () { window.clearTimeout(repair.t); repair.t = window.setTimeout(focusableWhenScrolling, 200); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", repair);
  } else {
    repair();
  }
  window.addEventListener("load", repair);
})();
