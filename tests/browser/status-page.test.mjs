// The status page in a real browser: headless Debian Chromium, driven by playwright-core,
// against a `switchyard demo` of this build with every listener on a free loopback port.
// Run by scripts/test-browser.sh, which installs what is needed and builds the binary.
// Screenshots of every step (and of any failure) go to $BROWSER_ARTIFACTS.

import { after, before } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";

import { browserTest as browserTestOf, launch, shot as shotOf, startSwitchyard } from "./harness.mjs";

const TOKEN = `browser-test-${randomBytes(8).toString("hex")}`;

// The demo's probe settings (crates/server/src/demo.rs): interval 1000 ms, transition
// interval 500 ms, timeout 400 ms, fall 3, jitter 10 %, and the engine's 100 ms publish
// debounce. A node that starts failing right after a probe is down after one interval and two
// transition intervals, so the prober's detection time is at most:
const DETECTION_MS = 1000 * 1.1 + 2 * 500 * 1.1 + 400 + 100;
// The page polls the fleet every second; the rest is for a busy two-core machine.
const PAGE_POLL_MS = 1000;
const SLACK_MS = 2000;
// Faults are injected every half period and cleared the half period after.
const CHAOS_PERIOD_S = 12;
const NODES_PER_ZONE = 4;
const ZONES = ["ams", "fra", "lon"];

let demo;
let admin;
let browser;
let page;
let pageErrors = [];
const api = (...args) => demo.api(...args);
const shot = (name) => shotOf(page, name);
const browserTest = (name, body) => browserTestOf(name, () => page, body);

before(async () => {
  demo = await startSwitchyard(
    "demo",
    [
      "demo",
      "--admin-listen",
      "127.0.0.1:0",
      "--http-listen",
      "127.0.0.1:0",
      "--dns-listen",
      "127.0.0.1:0",
      "--nodes-per-zone",
      String(NODES_PER_ZONE),
      "--chaos-period-seconds",
      String(CHAOS_PERIOD_S),
    ],
    { SWITCHYARD_ADMIN_TOKEN: TOKEN },
  );
  admin = demo.admin;
  ({ browser, page, errors: pageErrors } = await launch());
});

after(async () => {
  if (browser) await browser.close();
  if (demo) await demo.stop();
});

browserTest("the page and its files come from the binary, with validators", async () => {
  const index = await api("/");
  assert.equal(index.status, 200);
  assert.match(index.headers.get("content-type"), /^text\/html/);
  assert.match(index.headers.get("content-security-policy"), /frame-ancestors 'none'/);
  const etag = index.headers.get("etag");
  assert.ok(etag, "the page has an ETag");
  const again = await api("/", { headers: { "If-None-Match": etag } });
  assert.equal(again.status, 304);
  assert.match((await api("/ui/app.js")).headers.get("content-type"), /^text\/javascript/);
  assert.match((await api("/ui/app.css")).headers.get("content-type"), /^text\/css/);
  // No file is loaded from anywhere but this listener.
  const outside = [];
  const watch = (r) => {
    if (!r.url().startsWith(`http://${admin}/`) && !r.url().startsWith("data:")) outside.push(r.url());
  };
  page.on("request", watch);
  await page.goto(`http://${admin}/`);
  await page.waitForSelector("#zones tr[data-node]");
  page.off("request", watch);
  assert.deepEqual(outside, []);
});

browserTest("the fleet renders by zone with every node", async (t) => {
  await page.goto(`http://${admin}/`);
  await page.waitForFunction(
    (n) => document.querySelectorAll("#zones tr[data-node]").length === n,
    ZONES.length * NODES_PER_ZONE,
    { timeout: 15000 },
  );
  const zones = await page.$$eval("#zones .zone", (els) => els.map((e) => e.dataset.zone));
  assert.deepEqual(zones, ZONES);
  for (const z of ZONES) {
    const counts = await page.textContent(`.zone[data-zone="${z}"] .zone-counts`);
    assert.match(counts, new RegExp(`^${NODES_PER_ZONE} nodes`), counts);
    const rows = await page.$$(`.zone[data-zone="${z}"] tr[data-node]`);
    assert.equal(rows.length, NODES_PER_ZONE);
  }
  // Every node row carries its state colour, utilization, latency, weight and operator state.
  const fleet = (await api("/api/v1/fleet")).json;
  const up = fleet.nodes.find((n) => n.health === "up");
  assert.ok(up, "some node is up");
  const row = `tr[data-node="${up.id}"]`;
  const colour = await page.$eval(`${row} .dot`, (d) => getComputedStyle(d).backgroundColor);
  const cells = await page.$$eval(`${row} td`, (tds) => tds.map((td) => td.textContent));
  t.diagnostic(`row of ${up.id}: ${cells.join(" | ")} (dot ${colour})`);
  if ((await page.getAttribute(row, "data-health")) === "up") {
    assert.equal(colour, "rgb(26, 127, 55)", "an up node is green");
  }
  assert.equal(cells[1], `${up.ipv4}:${up.port}`);
  assert.match(cells[4], /ms$/);
  assert.match(cells[5], /^[\d.]+ \/ [\d.]+$/);
  assert.equal(cells[6], "enabled");
  // The SNMP-polled first node of each zone shows a utilization.
  await page.waitForFunction(
    () => /\d+%/.test(document.querySelector('tr[data-node="ams-1"] td.util').textContent),
    null,
    { timeout: 15000 },
  );
  // The zone summaries and the header read from the same view.
  assert.match(await page.textContent("#fleet-totals"), /^12 nodes in 3 zones/);
  assert.match(await page.textContent("#live"), /live/);
  await shot("01-fleet");
});

browserTest("a node the simulator fails turns red within its detection time", async (t) => {
  const budget = DETECTION_MS + PAGE_POLL_MS + SLACK_MS;
  await page.goto(`http://${admin}/`);
  await page.waitForSelector("#zones tr[data-node]");
  // The next fault the chaos task injects from now on.
  const entry = await demo.waitForLog(
    (e) => e.message === "demo: injecting faults",
    CHAOS_PERIOD_S * 1000 + 5000,
    demo.log.length,
  );
  const injectedAt = Date.parse(entry.timestamp);
  const [ip, port] = entry.failing.split(":");
  const fleet = (await api("/api/v1/fleet")).json;
  const node = fleet.nodes.find((n) => n.ipv4 === ip && String(n.port) === port);
  assert.ok(node, `a node at ${entry.failing}`);
  const row = `tr[data-node="${node.id}"]`;
  const before = await page.getAttribute(row, "data-health");
  t.diagnostic(`the demo fails ${node.id} (${entry.failing}); the page shows it ${before}`);
  await page.waitForSelector(`${row}[data-health="down"]`, {
    timeout: Math.max(1, injectedAt + budget - Date.now()),
  });
  const elapsed = Date.now() - injectedAt;
  t.diagnostic(
    `${node.id} red on the page ${elapsed} ms after the fault (detection ${DETECTION_MS} ms, budget ${budget} ms)`,
  );
  assert.ok(elapsed <= budget, `${elapsed} ms > ${budget} ms`);
  const colour = await page.$eval(`${row} .dot`, (d) => getComputedStyle(d).backgroundColor);
  assert.equal(colour, "rgb(207, 34, 46)", "a down node is red");
  assert.equal(await page.getAttribute(`.zone[data-zone="${node.zone}"]`, "data-down"), "true");
  await shot("02-node-down");

  // Its node view: the failed probes, the change to down, the charts.
  await page.click(row);
  await page.waitForSelector(`#node-panel[data-health="down"]`, { timeout: 5000 });
  await page.waitForSelector('#node-changes li[data-to="down"]', { timeout: 5000 });
  const failed = await page.$$('#node-probes tr[data-verdict="fail"]');
  assert.ok(failed.length >= 3, `fall = 3 failed probes are listed, got ${failed.length}`);
  assert.match(await page.textContent("#node-probes"), /bad_status/);
  await page.waitForSelector("#chart-latency svg polyline");
  await shot("03-node-view");

  // The SNMP-polled node of a zone has a utilization chart.
  await page.click('tr[data-node="fra-1"]');
  await page.waitForSelector("#chart-utilization svg polyline", { timeout: 10000 });
  await shot("04-node-utilization");
  await page.click("#node-close");
});

browserTest("the pick box answers where a client goes and why", async () => {
  await page.goto(`http://${admin}/`);
  await page.waitForSelector("#zones tr[data-node]");
  await page.fill('#pick-form input[name="host"]', "video.demo.example");
  await page.fill('#pick-form input[name="ip"]', "10.2.0.1");
  await page.fill('#pick-form input[name="path"]', "/movies/a/seg1.ts");
  await page.click('#pick-form button[type="submit"]');
  await page.waitForSelector('#pick-result .pick-result[data-status="200"]', { timeout: 5000 });
  const text = await page.textContent("#pick-result");
  assert.match(text, /client 10\.2\.0\.1 → zone fra by coverage_zone \(\/16\)/, text);
  const chosen = await page.getAttribute("#pick-result .pick-result", "data-node");
  const fleet = (await api("/api/v1/fleet")).json;
  assert.ok(fleet.nodes.some((n) => n.id === chosen), `${chosen} is a node of the fleet`);
  // The chosen node is marked in the fleet.
  await page.waitForSelector(`tr[data-node="${chosen}"].picked`);
  await shot("05-pick");

  // DNS answers choose two nodes (the service's dns_answers).
  await page.selectOption('#pick-form select[name="dns"]', "A");
  await page.click('#pick-form button[type="submit"]');
  await page.waitForFunction(
    () => document.querySelectorAll("#pick-result .pick-node a").length === 2,
    null,
    { timeout: 5000 },
  );
  await page.selectOption('#pick-form select[name="dns"]', "");

  // A bad address is the API's own error.
  await page.fill('#pick-form input[name="ip"]', "banana");
  await page.click('#pick-form button[type="submit"]');
  await page.waitForSelector('#pick-result .pick-result[data-status="400"]', { timeout: 5000 });
  assert.match(await page.textContent("#pick-result"), /`ip`/);
});

browserTest("maintenance needs the token and flips the health panel", async () => {
  await page.goto(`http://${admin}/`);
  await page.waitForSelector('#readyz[data-status="passed"]', { timeout: 10000 });
  await page.waitForSelector('#readyz .check[data-check="maintenance"][data-status="ok"]');
  await page.waitForSelector('#livez[data-status="passed"]');
  await shot("06-health");

  await page.click("#maintenance-on");
  await page.waitForSelector("#action-dialog[open]");
  await page.fill('#action-form input[name="reason"]', "browser test window");
  await page.fill('#action-form input[name="token"]', "");
  await page.click("#action-confirm");
  await page.waitForFunction(() => /401/.test(document.querySelector("#action-error").textContent));
  assert.match(await page.textContent("#action-error"), /needs the admin token/);
  await shot("07-maintenance-token-asked");
  assert.equal((await api("/readyz")).status, 200, "nothing changed without the token");

  await page.fill('#action-form input[name="token"]', "not-the-token");
  await page.click("#action-confirm");
  await page.waitForFunction(() => /refused/.test(document.querySelector("#action-error").textContent));
  assert.equal((await api("/readyz")).status, 200, "nothing changed with a wrong token");

  await page.fill('#action-form input[name="token"]', TOKEN);
  await page.click("#action-confirm");
  await page.waitForSelector("#action-dialog:not([open])", { state: "attached", timeout: 5000 });
  await page.waitForSelector('#readyz[data-status="failed"]', { timeout: 5000 });
  const check = '#readyz .check[data-check="maintenance"][data-status="failed"]';
  await page.waitForSelector(check);
  assert.match(await page.textContent(`${check} .why`), /in maintenance \(set by admin\): browser test window/);
  assert.equal((await api("/readyz")).status, 500);
  assert.ok(await page.isVisible("#maintenance-off"));
  await shot("08-maintenance-on");

  // Leaving asks again, with the token of this tab filled in.
  await page.click("#maintenance-off");
  await page.waitForSelector("#action-dialog[open]");
  assert.equal(await page.inputValue('#action-form input[name="token"]'), TOKEN);
  await page.click("#action-confirm");
  await page.waitForSelector('#readyz[data-status="passed"]', { timeout: 5000 });
  assert.equal((await api("/readyz")).status, 200);
});

browserTest("drain from the node view takes the token and shows in the fleet", async () => {
  await page.goto(`http://${admin}/`);
  await page.waitForSelector('tr[data-node="lon-2"]');
  await page.click('tr[data-node="lon-2"]');
  await page.waitForSelector("#node-panel:not([hidden])");
  await page.click('#node-controls button[data-admin="drain"]');
  await page.waitForSelector("#action-dialog[open]");
  await page.fill('#action-form input[name="token"]', TOKEN);
  await page.click("#action-confirm");
  await page.waitForSelector('tr[data-node="lon-2"][data-admin="drain"]', { timeout: 5000 });
  assert.match(await page.textContent('tr[data-node="lon-2"] td.admin'), /drain \(set here\)/);
  assert.equal((await api("/api/v1/nodes/lon-2")).json.admin, "drain");
  await shot("09-drained");
  await page.click('#node-controls button[data-admin="enabled"]');
  await page.waitForSelector("#action-dialog[open]");
  await page.click("#action-confirm");
  await page.waitForSelector('tr[data-node="lon-2"][data-admin="enabled"]', { timeout: 5000 });
});

browserTest("the page raised no script error and broke no content policy", async () => {
  assert.deepEqual(pageErrors, []);
});
