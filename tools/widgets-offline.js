/*
 * widgets-offline.js — loaded (via myst-nb's nb_ipywidgets_js) after require.js and before
 * the ipywidgets HTML manager (widgets/embed-amd.js) on pages that contain saved widget state.
 * Copied to _vendor/ by tools/vendor-assets.sh and served from _build/html/_static/.
 *
 * Fix 1: the HTML manager computes the URLs of its font files from the RequireJS module.uri,
 *        i.e. relative to the *page* (404 on book/@jupyter-widgets/html-manager/dist/*.woff2).
 *        Point the RequireJS paths at <_static>/widgets instead, with <_static> taken from the
 *        URL of this very script, so it works at any page depth and any site prefix.
 * Fix 2: @jupyter-widgets/base typesets widget labels with the MathJax 2 API
 *        (MathJax.Hub.Queue), which does not exist in MathJax 3 ("reading 'Queue'").
 *        Provide a small MathJax.Hub shim that forwards to MathJax 3's typesetPromise.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var src = script && script.src ? script.src : "";
  var staticBase = src.replace(/[^\/]*(\?.*)?$/, "");   // ".../_static/"
  if (typeof window.requirejs === "function" && staticBase) {
    window.requirejs.config({
      paths: {
        "@jupyter-widgets": staticBase + "widgets",
        "@jupyter-widgets/html-manager/dist": staticBase + "widgets"
      }
    });
  }

  function typeset(elements) {
    var MJ = window.MathJax;
    if (!MJ || typeof MJ.typesetPromise !== "function") { return; }
    var els = (elements || []).filter(function (e) { return e && e.nodeType === 1; });
    var ready = MJ.startup && MJ.startup.promise ? MJ.startup.promise : Promise.resolve();
    ready.then(function () {
      return MJ.typesetPromise(els.length ? els : undefined);
    }).catch(function (err) {
      if (window.console) { console.warn("widgets-offline: MathJax typeset failed", err); }
    });
  }

  function installHubShim() {
    var MJ = window.MathJax;
    if (!MJ || MJ.Hub) { return; }
    MJ.Hub = {
      // MathJax 2 style: Queue(["Typeset", MathJax.Hub, el], fn, ...)
      Queue: function () {
        var els = [];
        for (var i = 0; i < arguments.length; i++) {
          var job = arguments[i];
          if (Array.isArray(job)) {
            for (var j = 1; j < job.length; j++) {
              if (job[j] && job[j].nodeType === 1) { els.push(job[j]); }
            }
          } else if (typeof job === "function") {
            try { job(); } catch (e) { if (window.console) { console.warn(e); } }
          }
        }
        typeset(els);
      },
      Typeset: function (el) { typeset(el ? [el] : []); },
      Config: function () {},
      Register: { StartupHook: function () {}, MessageHook: function () {} }
    };
  }

  installHubShim();
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", installHubShim);
  }
  window.addEventListener("load", installHubShim);
})();
