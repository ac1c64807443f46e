// The status page on a fleet of 10,000 nodes in 10 zones (`switchyard serve` of a generated
// fleet file, no probes): zone summaries first, a zone's nodes only when it is opened.

import { after, before } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { browserTest as browserTestOf, launch, shot as shotOf, startSwitchyard } from "./harness.mjs";

const ZONES = 10;
const PER_ZONE = 1000;
const ROWS_PER_ZONE = 500;

let sy;
let dir;
let browser;
let page;
let pageErrors = [];
const fleetRequests = [];
const notModified = [];
const shot = (name) => shotOf(page, name);
const browserTest = (name, body) => browserTestOf(name, () => page, body);
const zone = (i) => `z${String(i).padStart(2, "0")}`;

function writeFleet() {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "switchyard-large-"));
  const parts = [];
  for (let z = 0; z < ZONES; z++) parts.push(`[[zones]]\nname = "${zone(z)}"\n`);
  let n = 0;
  for (let z = 0; z < ZONES; z++) {
    for (let i = 1; i <= PER_ZONE; i++, n++) {
      // Addresses nothing listens on; without a probe the nodes stay `unknown`.
      const ip = `127.1.${Math.floor(n / 250)}.${(n % 250) + 1}`;
      parts.push(`[[nodes]]\nid = "${zone(z)}-${i}"\nzone = "${zone(z)}"\nipv4 = "${ip}"\n`);
    }
  }
  parts.push('[[services]]\nname = "video"\nhostnames = ["video.example"]\n');
  fs.writeFileSync(path.join(dir, "fleet.toml"), parts.join("\n"));
  const config = path.join(dir, "switchyard.toml");
  fs.writeFileSync(
    config,
    '[lifecycle]\nshutdown_delay_seconds = 0\n\n[inventory]\nfleet_file = "fleet.toml"\n',
  );
  return config;
}

before(async () => {
  const config = writeFleet();
  sy = await startSwitchyard("large", ["serve", "--config", config, "--admin-listen", "127.0.0.1:0"]);
  ({ browser, page, errors: pageErrors } = await launch());
  page.on("request", (r) => {
    if (r.url().includes("/api/v1/fleet")) fleetRequests.push(new URL(r.url()).search);
  });
  page.on("response", (r) => {
    if (r.url().includes("/api/v1/fleet") && r.status() === 304) notModified.push(r.url());
  });
});

after(async () => {
  if (browser) await browser.close();
  if (sy) await sy.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

browserTest("10,000 nodes: the zone summaries come first, no node list", async (t) => {
  const started = Date.now();
  await page.goto(`http://${sy.admin}/`);
  await page.waitForFunction(
    (total) => document.querySelector("#fleet-totals").textContent.startsWith(`${total} nodes`),
    ZONES * PER_ZONE,
    { timeout: 10000 },
  );
  t.diagnostic(`zone summaries of ${ZONES * PER_ZONE} nodes shown after ${Date.now() - started} ms`);
  const zones = await page.$$eval("#zones .zone", (els) => els.map((e) => e.dataset.expanded));
  assert.equal(zones.length, ZONES);
  assert.ok(zones.every((x) => x === "false"), "every zone starts closed");
  assert.equal((await page.$$("#zones tr[data-node]")).length, 0);
  assert.match(await page.textContent('.zone[data-zone="z03"] .zone-counts'), /^1000 nodes · 1000 unknown/);
  assert.ok(fleetRequests.length > 0 && fleetRequests.every((q) => q === "?summary"), fleetRequests.join(" "));
  await shot("10-large-summaries");
});

browserTest("opening a zone loads its nodes only, problem nodes first, 500 rows at a time", async (t) => {
  const drained = "z03-700";
  const r = await sy.api(`/admin/nodes/${drained}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ admin: "drain" }),
  });
  assert.equal(r.status, 200, r.text);
  const started = Date.now();
  fleetRequests.length = 0;
  await page.click('.zone[data-zone="z03"] .zone-head');
  await page.waitForFunction(
    (n) => document.querySelectorAll('.zone[data-zone="z03"] tr[data-node]').length === n,
    ROWS_PER_ZONE,
    { timeout: 10000 },
  );
  t.diagnostic(`${ROWS_PER_ZONE} rows of z03 drawn ${Date.now() - started} ms after the click`);
  assert.ok(fleetRequests.includes("?zone=z03"), fleetRequests.join(" "));
  assert.ok(!fleetRequests.includes(""), "the whole fleet is never asked for");
  const first = await page.getAttribute('.zone[data-zone="z03"] tbody tr:first-child', "data-node");
  assert.equal(first, drained, "the drained node sorts before the others");
  await page.click('.zone[data-zone="z03"] .more button');
  await page.waitForFunction(
    (n) => document.querySelectorAll('.zone[data-zone="z03"] tr[data-node]').length === n,
    PER_ZONE,
    { timeout: 10000 },
  );
  await shot("11-large-zone-open");
});

browserTest("the filter finds a listed node, Enter opens any node by id", async () => {
  await page.fill("#node-filter", "z03-999");
  const visible = await page.$$eval("#zones tr[data-node]", (rows) =>
    rows.filter((r) => !r.hidden).map((r) => r.dataset.node),
  );
  assert.deepEqual(visible, ["z03-999"]);
  await page.fill("#node-filter", "z07-5");
  await page.press("#node-filter", "Enter");
  await page.waitForFunction(
    () => document.querySelector("#node-title").textContent === "z07-5" &&
      /z07/.test(document.querySelector("#node-facts").textContent),
    null,
    { timeout: 5000 },
  );
  await page.fill("#node-filter", "");
  await shot("12-large-node");
});

browserTest("polling revalidates: an unchanged fleet answers 304", async () => {
  const before = notModified.length;
  await page.waitForFunction(() => true, null, { timeout: 100 });
  const deadline = Date.now() + 5000;
  while (notModified.length === before && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(notModified.length > before, "some poll of the unchanged fleet got 304");
  assert.ok(notModified.every((u) => u.includes("zone=z03")), notModified.join(" "));
});

browserTest("the page raised no script error on the large fleet", async () => {
  assert.deepEqual(pageErrors, []);
});
