#!/usr/bin/env node
// Check the built book as a reader's browser sees it, offline.
//
//   node tools/browser_check.mjs [--html _build/html] [--toc _toc.yml] [--out _build/screenshots]
//                                [--chromium /usr/bin/chromium] [--dark] [--no-screenshots] [--jobs N]
//
// Serves _build/html on 127.0.0.1 (random free port), opens every page of _toc.yml in headless
// Chromium (puppeteer-core, no browser download) and checks, per page:
//   - no console errors, no uncaught exceptions, no failed / 4xx-5xx requests;
//   - zero requests to hosts other than 127.0.0.1 (they are blocked and reported);
//   - MathJax typeset: <mjx-container> present when the page has math, and no raw $$, \( or \[
//     left in the rendered text (code blocks excluded);
//   - every saved ipywidgets view rendered; counts widgets and to_jshtml animations (the book
//     must have at least one of either);
//   - every <img> loaded (naturalWidth > 0);
//   - every internal link resolves: the target file exists in _build/html and its #fragment
//     is an id in that file;
//   - accessibility: axe-core (tools/axe.mjs) with the WCAG 2.2 A/AA rules finds no serious or
//     critical violation; every typeset formula has a text alternative (assistive MathML or an
//     aria-label) and none is a Tab stop of its own; on chapter 1 (KEYBOARD_PAGE) a keyboard
//     walk: the skip link comes first and works, the first animation/widget control is reached
//     within KEYBOARD_MAX_STOPS Tab stops, and no focused element is hidden under a sticky header;
// plus a static grep: no built HTML has (src|href)="//...cdn.jsdelivr|unpkg.com|cdnjs|bootstrapcdn".
// Saves full-page screenshots to _build/screenshots/<page>.png (long pages: also <page>-2.png ...;
// with --dark: <page>-dark.png), and the accessibility report of every page beside them
// (axe-report.json with every finding, axe-report.txt a summary; -dark with --dark).
// Exits 1 with a list of failures, 0 if all pages pass.
import fs from "node:fs";
import path from "node:path";
import http from "node:http";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { launchChromium, options } from "./chromium.mjs";
import { runAxe, axeFailures, axeCounts, writeAxeReport } from "./axe.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = options(args);
const HTML_DIR = path.resolve(ROOT, opt("--html", "_build/html"));
const TOC = path.resolve(ROOT, opt("--toc", "_toc.yml"));
const OUT = path.resolve(ROOT, opt("--out", "_build/screenshots"));
const CHROMIUM = opt("--chromium", process.env.CHROMIUM || "/usr/bin/chromium");
const DARK = args.includes("--dark");
const SHOTS = !args.includes("--no-screenshots");
const TIMEOUT = Number(opt("--timeout", "60000"));

const failures = [];
const fail = (page, msg) => failures.push(`${page}: ${msg}`);
const axeResults = {};   // page -> axe-core violations (every impact)
const keyboard = {};     // what the keyboard walk measured (into the report)

// The keyboard walk: on this page, the first control of an animation or widget must be at most
// KEYBOARD_MAX_STOPS Tab presses from the top of the page (header, sidebar and the chapter's own
// links and buttons before it; the formulas are no stops at all).
const KEYBOARD_PAGE = "book/ch1_token_selection";
// 69 when the check was written, 82 once chapter 1 gained the links of issue #25 (to chapters 2 and 4, the exercises):
// the stops before the first control are the chapter's own links and buttons, never formulas (asserted below).
const KEYBOARD_MAX_STOPS = 100;
const KEYBOARD_LIMIT = 600;  // presses before the walk gives up

// ---------------------------------------------------------------- pages from the toc
function tocPages(tocFile) {
  const text = fs.readFileSync(tocFile, "utf8");
  const pages = [];
  for (const line of text.split("\n")) {
    const m = line.replace(/#.*$/, "").match(/^\s*(?:-\s*)?(?:root|file)\s*:\s*["']?([^"'\s]+)["']?\s*$/);
    if (m) pages.push(m[1].replace(/\.(md|ipynb|rst)$/, ""));
  }
  return pages;
}

// ---------------------------------------------------------------- static server
const MIME = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".css": "text/css", ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png",
  ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".ico": "image/x-icon",
  ".woff": "font/woff", ".woff2": "font/woff2", ".ttf": "font/ttf", ".eot": "application/vnd.ms-fontobject",
  ".otf": "font/otf", ".ipynb": "application/x-ipynb+json", ".md": "text/markdown", ".txt": "text/plain",
  ".inv": "application/octet-stream", ".map": "application/json",
};
function resolveFile(urlPath) {
  let p = decodeURIComponent(urlPath.split("?")[0].split("#")[0]);
  let f = path.join(HTML_DIR, p);
  if (!f.startsWith(HTML_DIR)) return null;
  if (fs.existsSync(f) && fs.statSync(f).isDirectory()) f = path.join(f, "index.html");
  return fs.existsSync(f) ? f : null;
}
function serve() {
  const server = http.createServer((req, res) => {
    const f = resolveFile(new URL(req.url, "http://127.0.0.1").pathname);
    if (!f) { res.writeHead(404); res.end("not found"); return; }
    res.writeHead(200, { "Content-Type": MIME[path.extname(f).toLowerCase()] || "application/octet-stream" });
    fs.createReadStream(f).pipe(res);
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok(server)));
}

// ---------------------------------------------------------------- static grep
const CDN_RE = /(src|href)="(https?:)?\/\/[^"]*(cdn\.jsdelivr|unpkg\.com|cdnjs|bootstrapcdn)/;
function grepCdn() {
  const hits = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".html") && CDN_RE.test(fs.readFileSync(p, "utf8"))) hits.push(path.relative(HTML_DIR, p));
    }
  };
  walk(HTML_DIR);
  return hits;
}

// ---------------------------------------------------------------- internal links
const idCache = new Map();
function idsOf(file) {
  if (!idCache.has(file)) {
    const html = fs.readFileSync(file, "utf8");
    const ids = new Set();
    for (const m of html.matchAll(/\s(?:id|name)="([^"]+)"/g)) ids.add(m[1]);
    idCache.set(file, ids);
  }
  return idCache.get(file);
}
function checkLinks(page, hrefs, base) {
  const bad = [];
  for (const href of hrefs) {
    let u;
    try { u = new URL(href); } catch { bad.push(`${href} (unparsable)`); continue; }
    if (u.origin !== base) continue; // external links (launch buttons, DOIs) are not followed
    const f = resolveFile(u.pathname);
    if (!f) { bad.push(`${href} (no such file)`); continue; }
    const frag = decodeURIComponent(u.hash.replace(/^#/, ""));
    if (frag && f.endsWith(".html") && !idsOf(f).has(frag)) bad.push(`${href} (no id "${frag}")`);
  }
  for (const b of [...new Set(bad)]) fail(page, `broken internal link ${b}`);
}

// ---------------------------------------------------------------- keyboard
// What has focus now: kind of stop, and whether a sticky/fixed header covers it entirely (WCAG 2.4.11).
function focusInfo() {
  const el = document.activeElement;
  if (!el || el === document.body) return { kind: "none" };
  const r = el.getBoundingClientRect();
  const inHeader = (h) => h.contains(el);
  const covered = [...document.querySelectorAll("header, .bd-header, .bd-header-article, .header-article")]
    .filter((h) => !inHeader(h) && ["sticky", "fixed"].includes(getComputedStyle(h).position))
    .some((h) => { const b = h.getBoundingClientRect(); return b.height > 0 && r.top >= b.top && r.bottom <= b.bottom && r.left >= b.left && r.right <= b.right; });
  const control = el.closest(".animation, .attnlib-static-twin, .jupyter-widgets");
  return {
    // a formula wider than the column scrolls, and is a Tab stop so a keyboard can scroll it (tools/a11y.js)
    kind: el.closest("mjx-container") ? (el.scrollWidth > el.clientWidth + 1 ? "wide formula" : "formula") : control ? "control" : el.closest(".skip-link") ? "skip-link" : "other",
    label: `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} ${(el.getAttribute("aria-label") || el.textContent || "").trim().slice(0, 40)}`,
    covered, inMain: !!el.closest("main, #main-content"),
  };
}

// Put the keyboard at the top of the page, as after loading it: the next Tab goes to the first stop.
function focusTop() {
  window.scrollTo(0, 0);
  const b = document.body;
  b.setAttribute("tabindex", "-1");
  b.focus({ preventScroll: true });
  b.removeAttribute("tabindex");
}

// Tab from the top of the page until an animation/widget control has focus; returns the stops.
async function tabUntilControl(tab) {
  await tab.evaluate(focusTop);
  const stops = [];
  for (let k = 0; k < KEYBOARD_LIMIT; k++) {
    await tab.keyboard.press("Tab");
    const info = await tab.evaluate(focusInfo);
    stops.push(info);
    if (info.kind === "control") break;
  }
  return stops;
}

async function checkKeyboard(tab, page) {
  const stops = await tabUntilControl(tab);
  const formulas = stops.filter((s) => s.kind === "formula").length;
  const reached = stops.length && stops[stops.length - 1].kind === "control";
  keyboard.page = page;
  keyboard.stopsToFirstControl = reached ? stops.length : null;
  keyboard.formulaStops = formulas;
  keyboard.maxStops = KEYBOARD_MAX_STOPS;
  if (!reached) fail(page, `keyboard: no animation/widget control reached in ${stops.length} Tab presses`);
  else if (stops.length > KEYBOARD_MAX_STOPS) {
    fail(page, `keyboard: the first animation/widget control is Tab stop ${stops.length}, expected at most ${KEYBOARD_MAX_STOPS} (${formulas} of the stops are formulas)`);
  }
  if (formulas) fail(page, `keyboard: ${formulas} formula(s) are Tab stops of their own, expected 0 (MathJax menu: inTabOrder false)`);
  for (const s of stops.filter((x) => x.covered)) fail(page, `keyboard: focused ${s.label} is hidden under a sticky header (WCAG 2.4.11)`);
  // Backwards from the control: scrolling up is where a sticky header can hide the focused element.
  for (let k = 0; k < 15 && reached; k++) {
    await tab.keyboard.down("Shift"); await tab.keyboard.press("Tab"); await tab.keyboard.up("Shift");
    const s = await tab.evaluate(focusInfo);
    if (s.covered) fail(page, `keyboard: focused ${s.label} (Shift+Tab) is hidden under a sticky header (WCAG 2.4.11)`);
  }
  // The skip link: first stop, and following it moves the next Tab stop into the main content.
  await tab.evaluate(focusTop);
  await tab.keyboard.press("Tab");
  const first = await tab.evaluate(focusInfo);
  if (first.kind !== "skip-link") fail(page, `keyboard: the first Tab stop is ${first.label}, expected the skip link`);
  else {
    await tab.keyboard.press("Enter");
    await new Promise((r) => setTimeout(r, 200));
    await tab.keyboard.press("Tab");
    const next = await tab.evaluate(focusInfo);
    keyboard.afterSkipLink = next.label;
    if (!next.inMain) fail(page, `keyboard: after the skip link the next Tab stop is ${next.label}, outside the main content`);
  }
  await tab.evaluate(focusTop);
  console.log(`  ${page}: keyboard: first animation/widget control at Tab stop ${keyboard.stopsToFirstControl} (${formulas} formula stops)`);
}

// ---------------------------------------------------------------- per page
let shotChain = Promise.resolve();
function withShotLock(fn) {
  const run = shotChain.then(fn, fn);
  shotChain = run.catch(() => {});
  return run;
}

async function checkPage(browser, base, page, totals) {
  const url = `${base}/${page}.html`;
  const tab = await browser.newPage();
  await tab.setViewport({ width: 1280, height: 900 });
  await tab.setRequestInterception(true);
  const external = new Set();
  tab.on("request", (req) => {
    const u = req.url();
    if (u.startsWith("data:") || u.startsWith("blob:") || u.startsWith(base)) return req.continue();
    external.add(u);
    req.abort("blockedbyclient");
  });
  // The browser itself asks for /favicon.ico (the book has none): not a request of the page.
  const ignored = (u) => /\/favicon\.ico(\?|$)/.test(u);
  tab.on("console", (m) => {
    if (m.type() === "error" && !ignored(m.location()?.url || "")) fail(page, `console error: ${m.text()}${m.location()?.url ? ` (${m.location().url})` : ""}`);
  });
  tab.on("pageerror", (e) => fail(page, `uncaught exception: ${e.message}`));
  tab.on("response", (r) => {
    if (r.url().startsWith(base) && r.status() >= 400 && !ignored(r.url())) fail(page, `HTTP ${r.status()} for ${r.url().slice(base.length)}`);
  });
  tab.on("requestfailed", (r) => {
    if (r.url().startsWith(base)) fail(page, `request failed: ${r.url().slice(base.length)} ${r.failure()?.errorText}`);
  });
  if (DARK) {
    await tab.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);
    await tab.evaluateOnNewDocument(() => { localStorage.setItem("mode", "dark"); localStorage.setItem("theme", "dark"); });
  }

  const resp = await tab.goto(url, { waitUntil: "load", timeout: TIMEOUT });
  if (!resp || !resp.ok()) { fail(page, `cannot load ${url} (${resp && resp.status()})`); await tab.close(); return; }
  // Wait for MathJax 3 to finish its first typeset (pages without math may not load it).
  await tab.evaluate(async () => {
    const t0 = Date.now();
    while (!(window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) && Date.now() - t0 < 8000) {
      if (!document.querySelector("script[src*='mathjax']")) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (window.MathJax && window.MathJax.startup) await window.MathJax.startup.promise;
  });
  // Saved widget views are rendered by the HTML manager after "load": give them up to 10 s.
  await tab.waitForFunction(() => [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')]
    .every((s) => s.parentElement && s.parentElement.querySelector(".jupyter-widgets")), { timeout: 10000, polling: 100 })
    .catch(() => {});
  await tab.waitForNetworkIdle({ idleTime: 250, timeout: 10000 }).catch(() => {});
  // Scroll through the page (lazy images, widgets rendered on demand), then let it settle.
  await tab.evaluate(async () => {
    for (let y = 0; y < document.body.scrollHeight; y += 800) { window.scrollTo(0, y); await new Promise((r) => setTimeout(r, 30)); }
    window.scrollTo(0, 0);
  });
  await tab.waitForNetworkIdle({ idleTime: 250, timeout: 10000 }).catch(() => {});
  if (page === KEYBOARD_PAGE) await checkKeyboard(tab, page);

  const info = await tab.evaluate(() => {
    const main = document.querySelector("main") || document.body;
    const clone = main.cloneNode(true);
    clone.querySelectorAll("pre, code, script, style, textarea, .highlight, mjx-container, mjx-assistive-mml").forEach((e) => e.remove());
    const text = clone.textContent || "";
    const raw = [];
    for (const tok of ["$$", "\\(", "\\)", "\\[", "\\]", "\\begin{"]) if (text.includes(tok)) {
      const i = text.indexOf(tok);
      raw.push(JSON.stringify(text.slice(Math.max(0, i - 30), i + 40)));
    }
    const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
    const unrendered = views.filter((s) => !(s.parentElement && s.parentElement.querySelector(".jupyter-widgets"))).length;
    return {
      hasMath: !!document.querySelector(".math, span.math, div.math, mjx-container"),
      mjx: document.querySelectorAll("mjx-container").length,
      // A formula's text alternative: MathJax's assistive MathML (or an aria-label); and no Tab stop of its own.
      mjxNoAlt: [...document.querySelectorAll("mjx-container")].filter((m) => !m.querySelector("mjx-assistive-mml math") && !m.getAttribute("aria-label")).length,
      mjxTabStops: [...document.querySelectorAll("mjx-container[tabindex]:not([tabindex='-1'])")].filter((m) => m.scrollWidth <= m.clientWidth + 1).length,
      mjxErrors: document.querySelectorAll("mjx-merror").length,
      raw,
      views: views.length,
      unrendered,
      widgets: document.querySelectorAll(".jupyter-widgets.widget-container, .jupyter-widgets.widget-inline-hbox, .jupyter-widgets.widget-image, .jupyter-widgets.widget-tab, .lm-TabPanel").length,
      animations: [...document.querySelectorAll(".animation")].filter((a) => a.querySelector("img") && a.querySelector("input[type=range]")).length,
      badImgs: [...document.images].filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => (i.currentSrc || i.src || "").slice(0, 80)),
      hrefs: [...document.querySelectorAll("a[href]")].map((a) => a.href).filter((h) => h.startsWith("http")),
    };
  });
  // Interactivity without a kernel: scrubbing an animation changes its frame; clicking another
  // tab of a Tab widget shows another panel.
  const inter = await tab.evaluate(async () => {
    const out = { stuckAnimations: 0, stuckTabs: 0, stuckAlt: 0 };
    for (const a of document.querySelectorAll(".animation")) {
      const img = a.querySelector("img"), range = a.querySelector("input[type=range]");
      if (!img || !range || Number(range.max) < 1) continue;
      const before = img.src, alt = img.alt, spoken = range.getAttribute("aria-valuetext");
      range.value = Number(range.value) === 0 ? 1 : 0;
      range.dispatchEvent(new Event("input", { bubbles: true }));
      await new Promise((r) => setTimeout(r, 50));
      if (img.src === before) out.stuckAnimations++;
      // the text alternative and the slider's spoken value follow the frame
      else if (img.alt === alt || range.getAttribute("aria-valuetext") === spoken) out.stuckAlt++;
    }
    for (const t of document.querySelectorAll(".jupyter-widgets.widget-tab")) {
      const tabs = t.querySelectorAll(".lm-TabBar-tab");
      if (tabs.length < 2) continue;
      const visible = () => [...t.querySelectorAll(".widget-tab-contents > *")].findIndex((c) => c.offsetParent !== null && !c.classList.contains("lm-mod-hidden"));
      const before = visible();
      const target = tabs[before === 0 ? 1 : 0];
      for (const type of ["pointerdown", "mousedown", "pointerup", "mouseup", "click"]) {
        target.dispatchEvent(new MouseEvent(type, { bubbles: true, cancelable: true, button: 0, clientX: target.getBoundingClientRect().x + 5, clientY: target.getBoundingClientRect().y + 5 }));
      }
      await new Promise((r) => setTimeout(r, 100));
      if (visible() === before) out.stuckTabs++;
      tabs[0].dispatchEvent(new MouseEvent("mousedown", { bubbles: true, cancelable: true, button: 0 }));
    }
    return out;
  });
  if (inter.stuckAnimations) fail(page, `${inter.stuckAnimations} animation(s) whose slider does not change the frame`);
  if (inter.stuckAlt) fail(page, `${inter.stuckAlt} animation(s) whose image alt or slider aria-valuetext does not follow the frame`);
  if (inter.stuckTabs) fail(page, `${inter.stuckTabs} Tab widget(s) that do not switch panels`);
  if (info.hasMath && info.mjx === 0) fail(page, "page has math but no <mjx-container>: MathJax did not typeset");
  if (info.mjxErrors) fail(page, `${info.mjxErrors} MathJax error(s) (mjx-merror)`);
  if (info.mjxNoAlt) fail(page, `${info.mjxNoAlt} of ${info.mjx} formula(s) without a text alternative (mjx-assistive-mml or aria-label)`);
  if (info.mjxTabStops) fail(page, `${info.mjxTabStops} of ${info.mjx} formula(s) are Tab stops (tabindex >= 0), expected none but the ones wider than the column`);
  // axe-core after the interactions above, with the page as a reader leaves it (frames and tabs moved back).
  try { axeResults[page] = await runAxe(tab); } catch (e) { fail(page, `axe-core did not run: ${e.message}`); }
  if (info.raw.length) fail(page, `raw TeX left in the text: ${info.raw.join(", ")}`);
  if (info.unrendered) fail(page, `${info.unrendered} of ${info.views} saved widget view(s) not rendered`);
  for (const s of info.badImgs) fail(page, `image not loaded: ${s}`);
  for (const u of external) fail(page, `request to a non-local host: ${u.slice(0, 120)}`);
  checkLinks(page, info.hrefs, base);
  totals.widgets += info.widgets; totals.animations += info.animations; totals.mjx += info.mjx;

  if (SHOTS) {
    const file = path.join(OUT, page.replace(/[\/\\]/g, "__") + (DARK ? "-dark" : "") + ".png");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // One screenshot at a time, with its tab in front: headless Chromium does not paint
    // background tabs, and captureScreenshot then hangs.
    await withShotLock(async () => {
      await tab.bringToFront();
      // fullPage:true mis-renders the theme's sticky sidebar (shifted left); instead grow the
      // viewport to the page height and take normal screenshots, in 8000-px parts
      // (<page>.png, <page>-2.png, ...) because Chromium cannot paint much taller viewports.
      const SEG = 8000;
      const h = await tab.evaluate(() => document.documentElement.scrollHeight);
      const parts = Math.ceil(h / SEG);
      for (let k = 0; k < parts; k++) {
        const vh = parts === 1 ? Math.max(900, h) : SEG; // the last part ends at the bottom (overlaps)
        await tab.setViewport({ width: 1280, height: vh });
        await tab.evaluate((y) => window.scrollTo(0, y), Math.min(k * SEG, Math.max(0, h - vh)));
        await new Promise((r) => setTimeout(r, 300));
        await tab.screenshot({ path: k === 0 ? file : file.replace(/\.png$/, `-${k + 1}.png`) });
      }
    });
  }
  const serious = (axeResults[page] || []).filter((v) => ["serious", "critical"].includes(v.impact)).length;
  console.log(`  ${page}: math ${info.mjx}, widget views ${info.views}, widgets ${info.widgets}, animations ${info.animations}, ` +
              `axe rules violated ${(axeResults[page] || []).length} (serious/critical ${serious})`);
  await tab.close();
}

// ---------------------------------------------------------------- main
async function main() {
  if (!fs.existsSync(path.join(HTML_DIR, "index.html"))) {
    console.error(`browser_check: ${HTML_DIR}/index.html not found; build the book first (bash tools/build_book.sh)`);
    process.exit(2);
  }
  if (!fs.existsSync(CHROMIUM)) {
    console.error(`browser_check: no Chromium at ${CHROMIUM} (apt-get install -y chromium, or --chromium PATH)`);
    process.exit(2);
  }
  const t0 = Date.now();
  const pages = tocPages(TOC);
  for (const p of pages) if (!fs.existsSync(path.join(HTML_DIR, p + ".html"))) fail(p, `listed in ${path.basename(TOC)} but ${p}.html was not built`);
  for (const f of grepCdn()) fail(f, "references a CDN in a src/href attribute");

  const server = await serve();
  const base = `http://127.0.0.1:${server.address().port}`;
  const browser = await launchChromium(CHROMIUM, { tag: "bookcheck", protocolTimeout: 120000 });
  const totals = { widgets: 0, animations: 0, mjx: 0 };
  console.log(`browser_check: ${pages.length} pages from ${path.relative(ROOT, TOC)} at ${base}${DARK ? " (dark theme)" : ""}`);
  try {
    const queue = pages.filter((p) => fs.existsSync(path.join(HTML_DIR, p + ".html")));
    const worker = async () => {
      for (let p = queue.shift(); p; p = queue.shift()) {
        try { await checkPage(browser, base, p, totals); } catch (e) { fail(p, `check crashed: ${e.message}`); }
      }
    };
    // Pages in parallel only without screenshots: headless Chromium's screenshots of large
    // pages time out now and then while other tabs render (seen under load on 2 cores).
    await Promise.all(Array.from({ length: Math.max(1, Number(opt("--jobs", SHOTS ? "1" : "3"))) }, worker));
  } finally {
    await browser.close();
    server.close();
    fs.rmSync(browser.profileDir, { recursive: true, force: true });
  }
  if (totals.widgets + totals.animations === 0) failures.push("book: no widget and no animation rendered on any page");
  if (!pages.includes(KEYBOARD_PAGE)) failures.push(`book: ${KEYBOARD_PAGE} (the keyboard walk's page) is not in ${path.basename(TOC)}`);
  for (const f of axeFailures(axeResults)) fail(f.page, f.message);
  const [, axeTxt] = writeAxeReport(OUT, DARK ? "axe-report-dark" : "axe-report", axeResults, { keyboard });
  const counts = axeCounts(axeResults);
  console.log(`browser_check: axe-core findings by rule (elements): ${Object.keys(counts).length ? Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(", ") : "none"}; report ${path.relative(ROOT, axeTxt)}`);
  if (totals.mjx === 0) failures.push("book: no math typeset on any page");
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(`browser_check: ${totals.mjx} formulas, ${totals.widgets} widgets, ${totals.animations} animations; ` +
              `${SHOTS ? `screenshots in ${path.relative(ROOT, OUT)}/; ` : ""}${secs} s`);
  if (failures.length) {
    console.error(`\nbrowser_check: FAILED, ${failures.length} problem(s):`);
    for (const f of failures) console.error(`  - ${f}`);
    process.exit(1);
  }
  console.log("browser_check: OK");
}
main().catch((e) => { console.error(e); process.exit(2); });
