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
// screenshots. Exits 1 with a list of failures.
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
