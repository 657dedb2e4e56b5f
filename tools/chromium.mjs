// What the headless-Chromium checks share (browser_check, lab_check, slides_check): command-line options and
// launching Debian's chromium through puppeteer-core, offline (no browser download, no background traffic).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import puppeteer from "puppeteer-core";

// Flags for a quiet, reproducible headless Chromium on a machine with no network but loopback.
export const CHROMIUM_FLAGS = [
  "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--disable-quic",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-default-apps", "--disable-extensions", "--mute-audio",
  "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
];

// `option(name, default)` for this process's arguments: the value after `name`, else the default.
export function options(argv = process.argv.slice(2)) {
  return (name, dflt) => {
    const i = argv.indexOf(name);
    return i >= 0 && i + 1 < argv.length ? argv[i + 1] : dflt;
  };
}

// Launch `executablePath` headless with a fresh profile in a temporary folder named after `tag`; the folder is
// `browser.profileDir` (remove it after browser.close()).
export async function launchChromium(executablePath, { tag = "check", protocolTimeout = 120000 } = {}) {
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-chrome-`));
  const browser = await puppeteer.launch({
    executablePath, headless: true, protocolTimeout, userDataDir: profileDir, args: CHROMIUM_FLAGS,
  });
  browser.profileDir = profileDir;
  return browser;
}
