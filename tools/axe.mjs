// Accessibility checks the headless-Chromium checks share (browser_check for the book, slides_check for the decks):
// axe-core (npm, from package-lock.json; read from node_modules and injected into the page, so no network) with the
// WCAG 2.2 A/AA rule set, and a report of every finding written beside the screenshots.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const AXE_FILE = path.join(ROOT, "node_modules", "axe-core", "axe.min.js");

// The WCAG 2.0, 2.1 and 2.2 level A and AA rules (axe-core's tags).
export const AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];
// Impacts that fail the check; "minor" and "moderate" findings are reported only.
export const FAILING_IMPACTS = new Set(["serious", "critical"]);

let axeSource = null;
function axeCore() {
  if (axeSource === null) {
    if (!fs.existsSync(AXE_FILE)) {
      throw new Error(`axe-core not found at ${path.relative(ROOT, AXE_FILE)}: run npm ci (package-lock.json lists it)`);
    }
    axeSource = fs.readFileSync(AXE_FILE, "utf8");
  }
  return axeSource;
}

// Run axe-core on the page as it is now. Returns [{id, impact, help, helpUrl, nodes: [{target, summary}]}], one
// entry per violated rule (every impact; filter with FAILING_IMPACTS).
export async function runAxe(page) {
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.addScriptTag({ content: axeCore() });
  return page.evaluate(async (tags) => {
    const res = await window.axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] });
    return res.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: (n.failureSummary || "").slice(0, 400) })),
    }));
  }, AXE_TAGS);
}

// The violations of `results` ({page: violations}) that fail the check, as one message per page and rule.
export function axeFailures(results) {
  const out = [];
  for (const [page, violations] of Object.entries(results)) {
    for (const v of violations) {
      if (!FAILING_IMPACTS.has(v.impact)) continue;
      const where = v.nodes.slice(0, 3).map((n) => n.target).join(", ");
      out.push({ page, message: `axe ${v.impact} "${v.id}" (${v.help}) on ${v.nodes.length} element(s), e.g. ${where}` });
    }
  }
  return out;
}

// Count findings by rule id and impact over all pages: {"rule (impact)": elements}.
export function axeCounts(results) {
  const counts = {};
  for (const violations of Object.values(results)) {
    for (const v of violations) {
      const key = `${v.id} (${v.impact})`;
      counts[key] = (counts[key] || 0) + v.nodes.length;
    }
  }
  return counts;
}

// Write <dir>/<stem>.json (every finding, per page) and <stem>.txt (a readable summary); returns the two paths.
export function writeAxeReport(dir, stem, results, extra = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, `${stem}.json`), txt = path.join(dir, `${stem}.txt`);
  const axeVersion = JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", "axe-core", "package.json"), "utf8")).version;
  fs.writeFileSync(json, JSON.stringify({ axe: axeVersion, tags: AXE_TAGS, ...extra, pages: results }, null, 1));
  const lines = [`axe-core ${axeVersion}, tags ${AXE_TAGS.join(", ")}; failing impacts: ${[...FAILING_IMPACTS].join(", ")}`];
  for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${JSON.stringify(v)}`);
  const counts = axeCounts(results);
  lines.push("", "findings by rule (elements, all pages):");
  if (!Object.keys(counts).length) lines.push("  none");
  for (const [k, n] of Object.entries(counts).sort()) lines.push(`  ${k}: ${n}`);
  for (const [page, violations] of Object.entries(results)) {
    if (!violations.length) continue;
    lines.push("", `${page}:`);
    for (const v of violations) {
      lines.push(`  ${v.impact} ${v.id}: ${v.help} (${v.nodes.length} element(s)) ${v.helpUrl}`);
      for (const n of v.nodes.slice(0, 5)) lines.push(`    - ${n.target}`);
    }
  }
  fs.writeFileSync(txt, lines.join("\n") + "\n");
  return [json, txt];
}
