// What the browser tests share: a `switchyard` of this build on free loopback ports with its
// JSON log followed, Debian Chromium launched through playwright-core, and screenshots.

import { test } from "node:test";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = process.env.SWITCHYARD_BIN || path.join(ROOT, "target/debug/switchyard");
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const ARTIFACTS =
  process.env.BROWSER_ARTIFACTS || path.join(ROOT, "target/browser-artifacts");

function requireFile(what, file) {
  if (!fs.existsSync(file)) {
    throw new Error(`${what} is missing at ${file}: run scripts/test-browser.sh`);
  }
}

/**
 * Runs `switchyard ARGS` (with `--log-format json`; every listener should be on port 0) and
 * waits until its admin listener is bound and `/readyz` answers 200. `name` names its log
 * file in the artefacts.
 */
export async function startSwitchyard(name, args, env = {}) {
  requireFile("the switchyard binary", BIN);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const logFile = fs.createWriteStream(path.join(ARTIFACTS, `${name}.log`));
  const child = spawn(BIN, ["--log-format", "json", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.pipe(fs.createWriteStream(path.join(ARTIFACTS, `${name}.stdout`)));
  const sy = new Running(child);
  readline.createInterface({ input: child.stderr }).on("line", (line) => {
    logFile.write(`${line}\n`);
    sy.onLogLine(line);
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const ready = sy.waitForLog((e) => e.message === "admin listener ready", 30000);
  const code = await Promise.race([ready.then(() => null), exited]);
  if (code !== null) throw new Error(`switchyard ${name} exited (${code}) before binding; see ${name}.log`);
  sy.admin = (await ready).addr;
  await until("/readyz 200", async () => (await sy.api("/readyz")).status === 200, 60000);
  return sy;
}

class Running {
  constructor(child) {
    this.child = child;
    this.admin = null;
    this.log = [];
    this.waiters = new Set();
  }

  onLogLine(line) {
    let entry;
    try {
      entry = JSON.parse(line);
    } catch (_) {
      entry = { message: line };
    }
    this.log.push(entry);
    for (const w of this.waiters) w(entry);
  }

  /** The first log entry from `since` (an index into the log) on that `matches`. */
  waitForLog(matches, timeoutMs, since = 0) {
    const seen = this.log.slice(since).find(matches);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no matching log line within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (entry) => {
        if (matches(entry)) {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(entry);
        }
      };
      this.waiters.add(waiter);
    });
  }

  /** A request to the admin listener; the body parsed as JSON when it is. */
  async api(pathAndQuery, init) {
    const r = await fetch(`http://${this.admin}${pathAndQuery}`, init);
    const text = await r.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch (_) {
      // Text bodies (/readyz) stay text.
    }
    return { status: r.status, text, json, headers: r.headers };
  }

  /** SIGTERM, and SIGKILL if the drain takes too long. */
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 15000);
    await gone;
    clearTimeout(timer);
  }
}

/** Polls `fn` every 100 ms until it returns something truthy. */
export async function until(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Debian Chromium, headless, and one page whose script errors and content-policy violations
 * are collected in `errors` (Chromium's notes on 4xx/5xx answers are not: the page expects
 * 401 before the token, 500 from /readyz in maintenance, 400 for a bad pick).
 */
export async function launch() {
  requireFile("Debian chromium", CHROMIUM);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) {
      errors.push(`console error: ${m.text()}`);
    }
  });
  return { browser, page, errors };
}

/** A full-page screenshot kept as a test artefact. */
export async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** `test(name, body)`, keeping a screenshot of `page()` as it was when the body failed. */
export function browserTest(name, page, body) {
  test(name, async (t) => {
    try {
      await body(t);
    } catch (e) {
      const slug = name.replace(/[^a-z0-9]+/gi, "-").toLowerCase();
      if (page()) await shot(page(), `FAILED-${slug}`).catch(() => {});
      throw e;
    }
  });
}
