#!/usr/bin/env node
// Check the lecture decks as an audience's browser shows them, offline.
//
//   node tools/slides_check.mjs [--dir _build/slides] [--out _build/slides-screenshots] [--chromium /usr/bin/chromium]
//
// Serves _build/ on 127.0.0.1 and opens every _build/slides/lecture-*.html in headless Chromium (puppeteer-core):
// no console error or uncaught exception, no failed request, zero requests to other hosts (blocked and reported),
// MathJax typeset every formula (no raw \( or \[ left in the slides' text), every <img> loaded, speaker notes on
// every slide, every link absolute (http(s)) or within the deck (#...). Saves a screenshot at 1280×720 of every
// slide with all its build-up steps shown (_build/slides-screenshots/lecture-N-K.png) and runs axe-core (tools/axe.mjs, WCAG 2.2 A/AA rules) on
// every slide as shown: a serious or critical violation fails; every finding goes to axe-report.json/.txt beside the
// screenshots. On every slide, with all its build-up steps shown, nothing of its content may run off the slide or under
// the bottom-right controls or the slide number box (overflow(), measured with getBoundingClientRect at 1280×720):
// a failure names the deck, the slide, the element's first words and how many px it overflows.
// Exits 1 with a list of failures.
import fs from "node:fs";
import path from "node:path";
import http from "node:http";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { launchChromium, options } from "./chromium.mjs";
import { runAxe, axeFailures, writeAxeReport } from "./axe.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const opt = options(args);
const DIR = path.resolve(ROOT, opt("--dir", "_build/slides"));
const OUT = path.resolve(ROOT, opt("--out", "_build/slides-screenshots"));
const CHROMIUM = opt("--chromium", process.env.CHROMIUM || "/usr/bin/chromium");
const SERVE = path.dirname(DIR);
const MIME = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css",
  ".png": "image/png", ".svg": "image/svg+xml", ".woff": "font/woff", ".woff2": "font/woff2", ".json": "application/json" };

const failures = [];
const fail = (deck, msg) => failures.push(`${deck}: ${msg}`);
const axeResults = {};   // "lecture-N slide K" -> axe-core violations

// Runs in the page on the current slide (all build-up steps shown): every visible piece of its content that ends below
// the slide's bottom edge, beyond its right edge, or overlaps the controls (the arrows, bottom right) or the slide
// number box. Content is measured as it is drawn: each line of text (a Range over the text node, so a paragraph's
// full-width box does not count, only its words), each typeset formula, image, and table, and each box with a
// background (a statement, an exercise) for the slide's edges. Returns [{what, text, where, px}]: px is how far the
// piece reaches past the edge, or into the overlapped box (from its top).
function overflow() {
  const slide = Reveal.getCurrentSlide();
  const frame = document.querySelector(".reveal .slides").getBoundingClientRect();   // the 1280×720 slide, scaled
  const shown = (el) => {
    for (let e = el; e && e !== slide.parentElement; e = e.parentElement) {
      const cs = getComputedStyle(e);
      if (cs.display === "none" || cs.visibility === "hidden" || parseFloat(cs.opacity) === 0) return false;
    }
    return true;
  };
  const union = (rects) => rects.filter((r) => r.width > 0 && r.height > 0).reduce((u, r) => {
    if (!u) return r;
    const [left, top, right, bottom] = [Math.min(u.left, r.left), Math.min(u.top, r.top), Math.max(u.right, r.right),
      Math.max(u.bottom, r.bottom)];
    return { left, top, right, bottom, width: right - left, height: bottom - top };
  }, null);
  const chrome = [
    ["the controls", union([...document.querySelectorAll(".reveal .controls button")].filter(shown)
      .map((b) => b.getBoundingClientRect()))],
    ["the slide number", [...document.querySelectorAll(".reveal .slide-number")].filter(shown)
      .map((e) => e.getBoundingClientRect())[0]],
  ].filter(([, r]) => r && r.width > 0);
  const pieces = [];   // [what, text, rect, checked against the chrome too]
  const words = (el) => (el.textContent || el.getAttribute("alt") || "").replace(/\s+/g, " ").trim().slice(0, 50);
  const walker = document.createTreeWalker(slide, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || el.closest("aside.notes, mjx-container, script, style") || !shown(el)) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    for (const r of range.getClientRects()) if (r.width > 0 && r.height > 0) pieces.push(["text", words(el), r, true]);
  }
  for (const el of slide.querySelectorAll("mjx-container, img, table, .statement, .exercise")) {
    if (el.closest("aside.notes") || !shown(el)) continue;
    const what = el.tagName === "MJX-CONTAINER" ? "formula" : el.tagName === "IMG" ? "figure"
      : el.tagName === "TABLE" ? "table" : "box";
    pieces.push([what, what === "formula" ? (el.querySelector("math")?.getAttribute("alttext") || "").slice(0, 50)
      || words(el.parentElement) : words(el), el.getBoundingClientRect(), what !== "box"]);
  }
  const worst = new Map();   // one finding per element and edge: its largest overflow (the lowest line of a paragraph)
  const add = (what, text, where, px) => {
    const key = `${what}|${text}|${where}`;
    if (px > 0.5 && !(worst.get(key)?.px >= Math.ceil(px))) worst.set(key, { what, text, where, px: Math.ceil(px) });
  };
  for (const [what, text, r, chromeToo] of pieces) {
    add(what, text, "runs below the slide", r.bottom - frame.bottom);
    add(what, text, "runs beyond the slide's right edge", r.right - frame.right);
    if (!chromeToo) continue;
    for (const [name, c] of chrome) {
      const overlaps = r.left < c.right - 0.5 && r.right > c.left + 0.5 && r.top < c.bottom - 0.5 && r.bottom > c.top + 0.5;
      if (overlaps) add(what, text, `runs under ${name}`, r.bottom - c.top);
    }
  }
  return [...worst.values()];
}

const server = http.createServer((req, res) => {
  const file = path.join(SERVE, decodeURIComponent(new URL(req.url, "http://x").pathname));
  if (!file.startsWith(SERVE) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    res.writeHead(404); res.end(); return;
  }
  res.writeHead(200, { "Content-Type": MIME[path.extname(file)] || "application/octet-stream" });
  fs.createReadStream(file).pipe(res);
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const base = `http://127.0.0.1:${server.address().port}`;

const decks = fs.existsSync(DIR) ? fs.readdirSync(DIR).filter((f) => /^lecture-\d+\.html$/.test(f))
  .sort((a, b) => parseInt(a.match(/\d+/)) - parseInt(b.match(/\d+/))) : [];
if (!decks.length) { console.error(`slides_check: no lecture-N.html in ${DIR}`); process.exit(1); }
if (!fs.existsSync(CHROMIUM)) { console.error(`slides_check: no Chromium at ${CHROMIUM}`); process.exit(1); }
fs.mkdirSync(OUT, { recursive: true });

const browser = await launchChromium(CHROMIUM, { tag: "slides-check" });
try {
  for (const deck of decks) {
    const page = await browser.newPage();
    await page.setViewport({ width: 1280, height: 720 });
    await page.setRequestInterception(true);
    page.on("request", (r) => {
      const u = new URL(r.url());
      if (u.protocol !== "data:" && u.hostname !== "127.0.0.1") { fail(deck, `off-host request ${r.url()}`); r.abort(); }
      else r.continue();
    });
    page.on("console", (m) => { if (m.type() === "error") fail(deck, `console error: ${m.text()}`); });
    page.on("pageerror", (e) => fail(deck, `uncaught: ${e.message}`));
    page.on("requestfailed", (r) => { if (new URL(r.url()).hostname === "127.0.0.1") fail(deck, `failed ${r.url()}`); });
    page.on("response", (r) => { if (r.status() >= 400) fail(deck, `HTTP ${r.status()} ${r.url()}`); });
    await page.goto(`${base}/${path.basename(DIR)}/${deck}`, { waitUntil: "networkidle0", timeout: 60000 });
    try {
      await page.waitForFunction(() => window.Reveal && Reveal.isReady() && window.MathJax && MathJax.startup
        && !!MathJax.startup.promise, { timeout: 30000 });
      await page.evaluate(() => MathJax.startup.promise);
    } catch (e) {
      fail(deck, `reveal.js or MathJax did not start: ${e.message}`);
      await page.close();
      continue;
    }
    const info = await page.evaluate(() => {
      const slides = [...document.querySelectorAll(".reveal .slides > section")];
      const text = slides.map((s) => s.innerText).join("\n");
      return {
        slides: slides.length,
        math: document.querySelectorAll("mjx-container").length,
        raw: (text.match(/\\\(|\\\[|\$\$/g) || []).length,
        images: [...document.images].map((i) => ({ src: i.getAttribute("src"), ok: i.complete && i.naturalWidth > 0 })),
        noNotes: slides.map((s, k) => k + 1).filter((k) => !(slides[k - 1].querySelector("aside.notes")?.textContent.trim())),
        relative: [...document.querySelectorAll(".reveal .slides a[href]")].map((a) => a.getAttribute("href"))
          .filter((h) => !/^(https?:|mailto:|#)/.test(h)),
      };
    });
    if (info.math === 0) fail(deck, "no typeset math");
    if (info.raw) fail(deck, `${info.raw} formulas left untypeset`);
    for (const im of info.images) if (!im.ok) fail(deck, `image not loaded: ${im.src}`);
    if (info.noNotes.length) fail(deck, `slides without speaker notes: ${info.noNotes.join(", ")}`);
    for (const h of info.relative) fail(deck, `relative link ${h} (dead once the deck is copied)`);
    const stem = deck.replace(/\.html$/, "");
    await page.evaluate(() => Reveal.configure({ transition: "none", backgroundTransition: "none" }));
    for (let k = 0; k < info.slides; k++) {
      // every build-up step shown: the screenshot is the slide as it ends
      await page.evaluate((h) => { Reveal.slide(h, 0); Reveal.slide(h, 0, Reveal.getCurrentSlide().querySelectorAll(".fragment").length - 1); }, k);
      await new Promise((r) => setTimeout(r, 250));
      await page.screenshot({ path: path.join(OUT, `${stem}-${k + 1}.png`) });
      for (const o of await page.evaluate(overflow)) {
        fail(deck, `slide ${k + 1}: ${o.what} "${o.text}" ${o.where} by ${o.px} px`);
      }
      try { axeResults[`${stem} slide ${k + 1}`] = await runAxe(page); } catch (e) { fail(deck, `axe-core did not run: ${e.message}`); }
    }
    console.log(`  ${stem}: ${info.slides} slides, math ${info.math}, images ${info.images.length}`);
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
for (const f of axeFailures(axeResults)) fail(f.page, f.message);
const [, axeTxt] = writeAxeReport(OUT, "axe-report", axeResults);
console.log(`slides_check: accessibility report ${path.relative(ROOT, axeTxt)}`);
if (failures.length) {
  console.error(`slides_check: ${failures.length} problem(s)\n  ` + failures.join("\n  "));
  process.exit(1);
}
console.log(`slides_check: OK (${decks.length} decks; screenshots in ${path.relative(ROOT, OUT)}/)`);
