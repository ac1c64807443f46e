// Switchyard status page. It reads the JSON the admin API serves and builds every element
// with DOM calls (never from HTML strings), so names from the inventory cannot inject markup.
"use strict";

(() => {
  const FLEET_POLL_MS = 1000;
  const HEALTH_POLL_MS = 2000;
  const NODE_POLL_MS = 1000;
  // A fleet this small opens every zone at start; a larger one shows zone summaries and
  // loads a zone's nodes when it is opened.
  const AUTO_EXPAND_NODES = 200;
  // Rows drawn per open zone before a "show all" button (problem nodes sort first).
  const ROWS_PER_ZONE = 500;
  const STALE_AFTER_MS = 5000;

  const state = {
    initialised: false,
    zoneNames: [],
    expanded: new Set(),
    showAll: new Set(),
    etag: null,
    etagUrl: null,
    fleet: null,
    selected: null,
    picked: new Set(),
    token: "",
    lastOk: 0,
    lastError: null,
  };
  const zoneEls = new Map();
  const rowEls = new Map();

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k === "dataset") Object.assign(e.dataset, v);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  const pct = (u) => (u === null || u === undefined ? "–" : `${Math.round(u * 100)}%`);
  const ms = (v) =>
    v === null || v === undefined ? "–" : `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;
  const num = (v) => (v === null || v === undefined ? "–" : String(Math.round(v * 100) / 100));
  function ago(ageMs) {
    if (ageMs < 60000) return `${(ageMs / 1000).toFixed(1)} s ago`;
    if (ageMs < 3600000) return `${Math.round(ageMs / 60000)} min ago`;
    return `${(ageMs / 3600000).toFixed(1)} h ago`;
  }
  const health = (n) => n.health || "unknown";
  const address = (n) => {
    const ip = n.ipv4 || (n.ipv6 ? `[${n.ipv6}]` : "");
    return ip ? `${ip}:${n.port}` : `:${n.port}`;
  };

  async function errorText(r) {
    const text = await r.text();
    try {
      const v = JSON.parse(text);
      if (v && v.error && v.error.message) return `${r.status}: ${v.error.message}`;
    } catch (_) {
      // Not JSON: show the text.
    }
    return `${r.status}: ${text.trim() || r.statusText}`;
  }

  // One loop per data source: never two requests of one kind at once, and `now()` runs the
  // next round at once (after the running one, if any).
  class Poller {
    constructor(fn, every) {
      this.fn = fn;
      this.every = every;
      this.timer = null;
      this.running = false;
      this.again = false;
    }
    async now() {
      if (this.running) {
        this.again = true;
        return;
      }
      clearTimeout(this.timer);
      this.running = true;
      try {
        await this.fn();
      } catch (e) {
        console.error(e);
      } finally {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.now();
        } else {
          this.timer = setTimeout(() => this.now(), this.every);
        }
      }
    }
    stop() {
      clearTimeout(this.timer);
    }
  }

  // ---- Live indicator ----------------------------------------------------------------------

  function markLive() {
    state.lastOk = Date.now();
    state.lastError = null;
    showLive();
  }
  function markError(e) {
    state.lastError = String(e.message || e);
    showLive();
  }
  function showLive() {
    const live = $("live");
    const age = Date.now() - state.lastOk;
    if (state.lastError) {
      live.dataset.state = "error";
      live.textContent = `cannot update: ${state.lastError}`;
    } else if (!state.lastOk) {
      live.dataset.state = "connecting";
      live.textContent = "connecting…";
    } else if (age > STALE_AFTER_MS) {
      live.dataset.state = "stale";
      live.textContent = `stale: last update ${Math.round(age / 1000)} s ago`;
    } else {
      live.dataset.state = "live";
      live.textContent = `live · updated ${new Date(state.lastOk).toLocaleTimeString()}`;
    }
  }

  // ---- Fleet ---------------------------------------------------------------------------------

  function fleetUrl() {
    const open = state.zoneNames.filter((z) => state.expanded.has(z));
    if (!state.initialised || open.length === 0) return "/api/v1/fleet?summary";
    if (open.length === state.zoneNames.length) return "/api/v1/fleet";
    return `/api/v1/fleet?${open.map((z) => `zone=${encodeURIComponent(z)}`).join("&")}`;
  }

  async function pollFleet() {
    if (document.hidden && state.initialised) return;
    const url = fleetUrl();
    const headers = {};
    if (state.etag && state.etagUrl === url) headers["If-None-Match"] = state.etag;
    let r;
    try {
      r = await fetch(url, { headers, cache: "no-store" });
    } catch (e) {
      markError(e);
      return;
    }
    if (r.status === 304) {
      markLive();
      return;
    }
    if (r.status === 400 && state.expanded.size > 0) {
      // A zone that is open here is gone (a reload): start again from the summaries.
      state.expanded.clear();
      state.etag = null;
      fleetPoller.again = true;
      return;
    }
    if (!r.ok) {
      markError(new Error(await errorText(r)));
      return;
    }
    const view = await r.json();
    state.etag = r.headers.get("ETag");
    state.etagUrl = url;
    const first = !state.initialised;
    applyFleet(view);
    markLive();
    if (first) {
      state.initialised = true;
      const total = view.zones.reduce((s, z) => s + z.summary.total, 0);
      if (total <= AUTO_EXPAND_NODES) view.zones.forEach((z) => state.expanded.add(z.name));
      if (state.expanded.size > 0) fleetPoller.again = true;
    }
  }

  function applyFleet(view) {
    state.fleet = view;
    state.zoneNames = view.zones.map((z) => z.name);
    for (const z of [...state.expanded]) if (!state.zoneNames.includes(z)) state.expanded.delete(z);
    $("versions").textContent = `table v${view.table_version} · health v${view.health_version}`;
    renderTotals(view);
    renderServices(view.services);
    const byZone = new Map();
    (view.nodes || []).forEach((n, i) => {
      if (!byZone.has(n.zone)) byZone.set(n.zone, []);
      byZone.get(n.zone).push({ n, i });
    });
    const container = $("zones");
    const seen = new Set();
    for (const z of view.zones) {
      seen.add(z.name);
      let zel = zoneEls.get(z.name);
      if (!zel) {
        zel = makeZone(z.name);
        zoneEls.set(z.name, zel);
      }
      container.append(zel.root);
      updateZone(zel, z, z.nodes ? byZone.get(z.name) || [] : null);
    }
    for (const [name, zel] of zoneEls) {
      if (!seen.has(name)) {
        zel.root.remove();
        zoneEls.delete(name);
      }
    }
    const listed = new Set((view.nodes || []).map((n) => n.id));
    for (const [id, row] of rowEls) {
      if (!listed.has(id) && !state.expanded.has(row.dataset.zone)) rowEls.delete(id);
    }
  }

  function renderTotals(view) {
    const t = { total: 0, up: 0, degraded: 0, down: 0, unknown: 0 };
    for (const z of view.zones) {
      t.total += z.summary.total;
      for (const k of ["up", "degraded", "down", "unknown"]) t[k] += z.summary.health[k];
    }
    $("fleet-totals").textContent =
      `${t.total} nodes in ${view.zones.length} zones · ${t.up} up · ${t.degraded} degraded · ` +
      `${t.down} down · ${t.unknown} unknown`;
  }

  function renderServices(services) {
    const list = $("services");
    list.replaceChildren(
      ...services.map((s) =>
        el(
          "li",
          { dataset: { service: s.name } },
          el("strong", { text: s.name }),
          " ",
          s.in_panic ? el("span", { class: "badge panic", text: "panic" }) : null,
          el("div", { class: "muted small", text: s.hostnames.join(", ") }),
        ),
      ),
    );
    const hosts = services.flatMap((s) => s.hostnames.filter((h) => !h.startsWith("*.")));
    $("hosts").replaceChildren(...hosts.map((h) => el("option", { value: h })));
    const hostInput = $("pick-form").elements.host;
    if (!hostInput.value && hosts.length) hostInput.value = hosts[0];
  }

  function makeZone(name) {
    const root = el("div", { class: "zone", dataset: { zone: name, expanded: "false" } });
    const head = el("button", { type: "button", class: "zone-head", "aria-expanded": "false" });
    const chev = el("span", { class: "chev", "aria-hidden": "true" });
    const title = el("span", { class: "zone-name", text: name });
    const states = el("div", {});
    const stack = el("div", { class: "stack", role: "img" });
    const counts = el("div", { class: "zone-counts" });
    states.append(stack, counts);
    const util = el("div", { class: "zone-counts" });
    const lat = el("div", { class: "zone-counts" });
    head.append(chev, title, states, util, lat);
    head.addEventListener("click", () => {
      if (state.expanded.has(name)) state.expanded.delete(name);
      else state.expanded.add(name);
      root.dataset.expanded = String(state.expanded.has(name));
      head.setAttribute("aria-expanded", String(state.expanded.has(name)));
      body.hidden = !state.expanded.has(name);
      if (state.expanded.has(name) && !body.firstChild) {
        body.append(el("p", { class: "muted", text: "loading…" }));
      }
      fleetPoller.now();
    });
    const body = el("div", { class: "zone-body", hidden: true });
    root.append(head, body);
    return { root, head, stack, counts, util, lat, body, table: null, more: null };
  }

  function updateZone(zel, z, nodes) {
    const s = z.summary;
    const open = state.expanded.has(z.name);
    zel.root.dataset.expanded = String(open);
    zel.root.dataset.down = String(s.health.down > 0);
    zel.head.setAttribute("aria-expanded", String(open));
    zel.body.hidden = !open;
    const parts = ["up", "degraded", "down", "unknown"].filter((k) => s.health[k] > 0);
    zel.stack.replaceChildren(
      ...parts.map((k) => {
        const seg = el("span", { class: k, title: `${s.health[k]} ${k}` });
        seg.style.width = `${(100 * s.health[k]) / Math.max(1, s.total)}%`;
        return seg;
      }),
    );
    zel.stack.setAttribute("aria-label", parts.map((k) => `${s.health[k]} ${k}`).join(", "));
    const admin = [];
    if (s.admin.drain) admin.push(`${s.admin.drain} draining`);
    if (s.admin.maintenance) admin.push(`${s.admin.maintenance} in maintenance`);
    zel.counts.textContent =
      `${s.total} nodes · ` + parts.map((k) => `${s.health[k]} ${k}`).join(" · ") +
      (admin.length ? ` · ${admin.join(" · ")}` : "");
    zel.util.replaceChildren(
      bar(s.utilization_mean),
      s.utilization_mean === null ? "util –" : `util ${pct(s.utilization_mean)} (max ${pct(s.utilization_max)})`,
    );
    zel.lat.textContent = `latency ${ms(s.latency_ewma_ms_mean)}`;
    if (open && nodes) renderNodes(zel, z.name, nodes);
  }

  function bar(u) {
    const b = el("span", { class: "bar" });
    const fill = el("span", {});
    if (u !== null && u !== undefined) {
      fill.style.width = `${Math.min(100, Math.max(0, u * 100))}%`;
      if (u >= 0.85) fill.className = u >= 0.95 ? "hot" : "warn";
    } else {
      fill.style.width = "0";
    }
    b.append(fill);
    return b;
  }

  // Down, then degraded, then drained or in maintenance, then not probed yet, then up.
  function rank(n) {
    const h = health(n);
    if (h === "down") return 0;
    if (h === "degraded") return 1;
    if (n.admin !== "enabled") return 2;
    return h === "unknown" ? 3 : 4;
  }

  function renderNodes(zel, zone, nodes) {
    if (!zel.table) {
      zel.table = el(
        "table",
        { class: "grid nodes" },
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ...["node", "address", "health", "utilization", "latency", "weight", "operator", "last probe"].map(
              (h) => el("th", { text: h, class: ["latency", "weight"].includes(h) ? "num" : null }),
            ),
          ),
        ),
        el("tbody", {}),
      );
      zel.more = el("div", { class: "more" });
      zel.body.replaceChildren(zel.table, zel.more);
    }
    const sorted = nodes.slice().sort((a, b) => rank(a.n) - rank(b.n) || a.i - b.i);
    const limit = state.showAll.has(zone) ? Infinity : ROWS_PER_ZONE;
    const tbody = zel.table.tBodies[0];
    const rows = [];
    for (const { n } of sorted.slice(0, limit)) {
      let row = rowEls.get(n.id);
      if (!row) {
        row = makeRow(n.id);
        rowEls.set(n.id, row);
      }
      updateRow(row, n);
      rows.push(row);
    }
    tbody.replaceChildren(...rows);
    if (sorted.length > limit) {
      zel.more.replaceChildren(
        el("button", {
          type: "button",
          text: `Show all ${sorted.length} nodes of ${zone}`,
          onclick: () => {
            state.showAll.add(zone);
            state.etag = null;
            fleetPoller.now();
          },
        }),
      );
    } else {
      zel.more.replaceChildren();
    }
    applyFilter();
  }

  function makeRow(id) {
    const row = el("tr", { dataset: { node: id }, tabindex: "0" });
    for (const c of ["id", "address", "health", "util", "num latency", "num weight", "admin", "probe"]) {
      row.append(el("td", { class: c }));
    }
    row.addEventListener("click", () => openNode(id));
    row.addEventListener("keydown", (e) => {
      if (e.key === "Enter") openNode(id);
    });
    return row;
  }

  function updateRow(row, n) {
    const h = health(n);
    row.dataset.health = h;
    row.dataset.admin = n.admin;
    row.dataset.zone = n.zone;
    row.dataset.search = `${n.id} ${n.ipv4 || ""} ${n.ipv6 || ""}`.toLowerCase();
    row.classList.toggle("picked", state.picked.has(n.id));
    row.classList.toggle("selected", state.selected === n.id);
    const c = row.cells;
    c[0].replaceChildren(el("span", { class: `dot state-${h}`, title: h }), n.id);
    c[1].textContent = address(n);
    c[2].textContent = h;
    const u = n.utilization === undefined ? null : n.utilization;
    c[3].replaceChildren(bar(u), pct(u));
    c[4].textContent = ms(n.latency_ewma_ms === undefined ? null : n.latency_ewma_ms);
    c[5].textContent = `${num(n.effective_weight)} / ${num(n.configured_weight)}`;
    c[5].title = "effective / configured";
    c[6].replaceChildren(
      n.admin === "enabled" ? "enabled" : el("span", { class: `badge ${n.admin}`, text: n.admin }),
    );
    if (n.admin_overridden) c[6].append(el("span", { class: "muted small", text: " (set here)" }));
    const p = n.probe;
    c[7].textContent = !p
      ? "–"
      : !p.probed
        ? "not yet"
        : p.last_cause
          ? `failed: ${p.last_cause}`
          : p.degraded_by
            ? `degraded: ${p.degraded_by}`
            : "ok";
    c[7].title = c[7].textContent;
  }

  function applyFilter() {
    const q = $("node-filter").value.trim().toLowerCase();
    const problems = $("problems-only").checked;
    for (const row of rowEls.values()) {
      const hit = !q || row.dataset.search.includes(q);
      const problem = row.dataset.health !== "up" || row.dataset.admin !== "enabled";
      row.hidden = !hit || (problems && !problem);
    }
  }

  // ---- Self-health ---------------------------------------------------------------------------

  async function pollHealth() {
    await Promise.all([renderEndpoint("readyz"), renderEndpoint("livez")]);
  }

  async function renderEndpoint(endpoint) {
    const box = $(endpoint);
    let report;
    try {
      const r = await fetch(`/${endpoint}?verbose&format=json`, { cache: "no-store" });
      report = await r.json();
    } catch (e) {
      box.dataset.status = "unknown";
      box.replaceChildren(el("div", { class: "error", text: `${endpoint}: ${e.message || e}` }));
      return;
    }
    // The endpoint withholds why a check failed; each check's own path tells.
    const reasons = await Promise.all(
      report.checks.map(async (c) => {
        if (c.status !== "failed") return null;
        try {
          const r = await fetch(`/${endpoint}/${encodeURIComponent(c.name)}?format=json`, {
            cache: "no-store",
          });
          const one = await r.json();
          return (one.checks && one.checks[0] && one.checks[0].error) || null;
        } catch (_) {
          return null;
        }
      }),
    );
    box.dataset.status = report.status;
    const rows = report.checks.map((c, i) =>
      el(
        "div",
        { class: "check", dataset: { check: c.name, status: c.status } },
        el("span", { class: "mark", text: c.status === "failed" ? "−" : "+" }),
        el("span", { class: "name", text: c.name }),
        el("span", { class: "verdict-text muted", text: c.status }),
        reasons[i] ? el("span", { class: "why", text: reasons[i] }) : null,
      ),
    );
    box.replaceChildren(
      el(
        "div",
        { class: "endpoint" },
        el("span", { text: `/${endpoint}` }),
        el("span", { class: "verdict", text: report.status }),
      ),
      ...rows,
      ...(report.warnings || []).map((w) => el("div", { class: "muted small", text: w })),
    );
    if (endpoint === "readyz") {
      const m = report.checks.find((c) => c.name === "maintenance");
      const inMaintenance = !!m && m.status === "failed";
      $("maintenance-on").hidden = inMaintenance;
      $("maintenance-off").hidden = !inMaintenance;
    }
  }

  // ---- Operator actions ----------------------------------------------------------------------

  let pendingAction = null;

  function ask({ title, text, reason, apply }) {
    const form = $("action-form");
    $("action-title").textContent = title;
    $("action-text").textContent = text;
    $("action-reason-row").hidden = !reason;
    form.elements.reason.value = "";
    form.elements.token.value = state.token;
    $("action-error").textContent = "";
    pendingAction = apply;
    $("action-dialog").showModal();
    (reason ? form.elements.reason : form.elements.token).focus();
  }

  function adminPost(path, body, token) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    return fetch(path, { method: "POST", headers, body: JSON.stringify(body), cache: "no-store" });
  }

  async function submitAction(ev) {
    ev.preventDefault();
    const form = $("action-form");
    const token = form.elements.token.value.trim();
    const reason = form.elements.reason.value;
    const confirm = $("action-confirm");
    const error = $("action-error");
    confirm.disabled = true;
    error.textContent = "";
    try {
      const r = await pendingAction(token, reason);
      if (r.ok) {
        state.token = token;
        $("action-dialog").close();
        healthPoller.now();
        fleetPoller.now();
        if (state.selected) nodePoller.now();
      } else if (r.status === 401) {
        error.textContent = token
          ? "The admin token was refused (401). Check it and try again."
          : "This server needs the admin token (401). Enter it and apply again.";
        form.elements.token.focus();
        form.elements.token.select();
      } else {
        error.textContent = await errorText(r);
      }
    } catch (e) {
      error.textContent = String(e.message || e);
    } finally {
      confirm.disabled = false;
    }
  }

  // ---- Node view -----------------------------------------------------------------------------

  function openNode(id) {
    state.selected = id;
    history.replaceState(null, "", `#node=${encodeURIComponent(id)}`);
    $("node-panel").hidden = false;
    $("node-title").textContent = id;
    for (const row of rowEls.values()) row.classList.toggle("selected", row.dataset.node === id);
    nodePoller.now();
    $("node-panel").scrollIntoView({ block: "nearest" });
  }

  function closeNode() {
    state.selected = null;
    history.replaceState(null, "", location.pathname);
    $("node-panel").hidden = true;
    for (const row of rowEls.values()) row.classList.remove("selected");
  }

  async function pollNode() {
    const id = state.selected;
    if (!id || document.hidden) return;
    const r = await fetch(`/api/v1/nodes/${encodeURIComponent(id)}`, { cache: "no-store" });
    if (state.selected !== id) return;
    if (!r.ok) {
      $("node-facts").replaceChildren(el("div", { class: "error", text: await errorText(r) }));
      return;
    }
    renderNode(await r.json());
  }

  function renderNode(n) {
    const h = health(n);
    $("node-panel").dataset.health = h;
    $("node-title").replaceChildren(el("span", { class: `dot state-${h}` }), n.id);
    const p = n.probe || {};
    const facts = [
      ["zone", n.zone],
      ["address", address(n)],
      ["health (routing)", h],
      ["prober", p.probed === undefined ? "–" : `${p.state} (check alone: ${p.observed})`],
      ["operator", n.admin + (n.admin_overridden ? " (set here)" : "")],
      ["weight effective / configured", `${num(n.effective_weight)} / ${num(n.configured_weight)}`],
      ["agent weight", p.weight_percent === undefined ? "–" : `${p.weight_percent}%`],
      ["latency EWMA", ms(n.latency_ewma_ms === undefined ? null : n.latency_ewma_ms)],
      ["utilization", pct(n.utilization === undefined ? null : n.utilization)],
      ["load average", p.load_average === undefined || p.load_average === null ? "–" : num(p.load_average)],
      ["last failure", p.last_cause || "–"],
      ["degraded by", p.degraded_by || "–"],
      ["probes / changes", `${n.probes ?? "–"} / ${n.transitions ?? "–"}`],
      ["tags", n.tags.length ? n.tags.join(", ") : "–"],
    ];
    $("node-facts").replaceChildren(
      ...facts.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v }))),
    );
    for (const b of $("node-controls").querySelectorAll("button")) {
      b.disabled = b.dataset.admin === n.admin;
    }
    const probes = n.history || [];
    const util = probes.filter((r) => r.utilization !== null && r.utilization !== undefined);
    chart($("chart-utilization"), util.map((r) => ({ age: r.age_ms, y: r.utilization })), {
      max: 1,
      label: pct,
      empty: "no utilization readings (the node has no SNMP probe, or none answered yet)",
    });
    const maxLatency = Math.max(1, ...probes.map((r) => r.latency_ms));
    chart(
      $("chart-latency"),
      probes.map((r) => ({ age: r.age_ms, y: r.latency_ms, fail: r.verdict === "fail" })),
      { max: maxLatency * 1.15, label: (v) => `${v.toFixed(v < 10 ? 1 : 0)} ms`, empty: "no probe yet" },
    );
    $("node-probes").tBodies[0].replaceChildren(
      ...probes
        .slice()
        .reverse()
        .map((r) =>
          el(
            "tr",
            { dataset: { verdict: r.verdict } },
            el("td", { text: ago(r.age_ms) }),
            el("td", { class: `verdict-${r.verdict}`, text: r.verdict }),
            el("td", { text: r.tier }),
            el("td", { text: r.cause || "–" }),
            el("td", { text: r.status === null ? "–" : String(r.status) }),
            el("td", { class: "num", text: ms(r.latency_ms) }),
            el("td", { class: "num", text: pct(r.utilization) }),
          ),
        ),
    );
    const changes = (n.state_changes || []).slice().reverse();
    $("node-changes").replaceChildren(
      ...(changes.length
        ? changes.map((c) =>
            el(
              "li",
              { dataset: { to: c.to } },
              el("span", { class: `dot state-${c.from}` }),
              `${c.from} → `,
              el("span", { class: `dot state-${c.to}` }),
              `${c.to}, ${ago(c.age_ms)}`,
            ),
          )
        : [el("li", { class: "muted", text: "no change since the node was added" })]),
    );
  }

  // A small time chart: x is time before now (newest at the right), y from 0 to `max`.
  function chart(box, points, { max, label, empty }) {
    const W = 320;
    const H = 96;
    const L = 40;
    const B = 16;
    const T = 6;
    const R = 6;
    const root = svg("svg", {
      class: "chart",
      width: W,
      height: H,
      viewBox: `0 0 ${W} ${H}`,
      role: "img",
    });
    if (!points.length) {
      root.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, empty));
      box.replaceChildren(root);
      return;
    }
    const span = Math.max(10000, ...points.map((p) => p.age));
    const x = (age) => L + (W - L - R) * (1 - age / span);
    const y = (v) => T + (H - T - B) * (1 - Math.min(v, max) / max);
    for (const f of [0, 0.5, 1]) {
      root.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(max * f), y2: y(max * f) }));
      root.append(svg("text", { x: L - 4, y: y(max * f) + 3, "text-anchor": "end" }, label(max * f)));
    }
    root.append(svg("text", { x: L, y: H - 3 }, `−${Math.round(span / 1000)} s`));
    root.append(svg("text", { x: W - R, y: H - 3, "text-anchor": "end" }, "now"));
    const pts = points
      .slice()
      .sort((a, b) => b.age - a.age)
      .map((p) => `${x(p.age).toFixed(1)},${y(p.y).toFixed(1)}`);
    const first = pts[0].split(",")[0];
    const last = pts[pts.length - 1].split(",")[0];
    root.append(
      svg("polygon", { class: "area", points: `${first},${y(0)} ${pts.join(" ")} ${last},${y(0)}` }),
    );
    root.append(svg("polyline", { class: "line", points: pts.join(" ") }));
    for (const p of points.filter((q) => q.fail)) {
      root.append(svg("circle", { class: "fail", cx: x(p.age), cy: y(p.y), r: 2.5 }));
    }
    root.setAttribute("aria-label", `${points.length} points over the last ${Math.round(span / 1000)} s`);
    box.replaceChildren(root);
  }

  // ---- Pick box ------------------------------------------------------------------------------

  async function pick(ev) {
    ev.preventDefault();
    const f = ev.target.elements;
    const q = new URLSearchParams({ host: f.host.value.trim(), ip: f.ip.value.trim() });
    if (f.path.value.trim()) q.set("path", f.path.value.trim());
    if (f.dns.value) q.set("dns", f.dns.value);
    const out = $("pick-result");
    out.replaceChildren(el("p", { class: "muted", text: "asking…" }));
    let r;
    try {
      r = await fetch(`/debug/pick?${q}`, { cache: "no-store" });
    } catch (e) {
      out.replaceChildren(el("p", { class: "error", text: String(e.message || e) }));
      return;
    }
    const text = await r.text();
    let v = null;
    try {
      v = JSON.parse(text);
    } catch (_) {
      // Shown as text below.
    }
    state.picked = new Set();
    if (r.ok && v) {
      v.nodes.forEach((n) => state.picked.add(n.id));
      out.replaceChildren(pickView(v));
    } else if (v && v.error) {
      const lines = [el("p", { class: "error", text: `${r.status}: ${v.error.message}` })];
      if (v.client) lines.push(clientLine(v.client));
      out.replaceChildren(el("div", { class: "pick-result", dataset: { status: r.status } }, ...lines));
    } else {
      out.replaceChildren(el("p", { class: "error", text: `${r.status}: ${text}` }));
    }
    for (const row of rowEls.values()) row.classList.toggle("picked", state.picked.has(row.dataset.node));
  }

  function clientLine(c) {
    const prefix = c.matched_prefix_len === null ? "" : ` (/${c.matched_prefix_len})`;
    return el(
      "div",
      { class: "small" },
      `client ${c.ip} → zone ${c.zone || "none"} by ${c.localization}${prefix}`,
    );
  }

  function nodeLink(n) {
    return el("a", {
      href: `#node=${encodeURIComponent(n.id)}`,
      text: n.id,
      onclick: (e) => {
        e.preventDefault();
        openNode(n.id);
      },
    });
  }

  function pickView(v) {
    const chosen = v.nodes.map((n, i) => [
      i ? ", " : "",
      nodeLink(n),
      ` ${n.address || ""}${n.port ? `:${n.port}` : ""}`,
    ]);
    const flags = [];
    if (v.panic) flags.push("panic: health ignored");
    if (v.degraded) flags.push("only degraded nodes were usable");
    return el(
      "div",
      { class: "pick-result", dataset: { node: v.node.id, status: "200" } },
      el("div", { class: "pick-node" }, "→ ", ...chosen.flat()),
      el("div", { class: "small" }, `zone ${v.zone} (${v.zone_source}) · service ${v.service} · TTL ${v.ttl_seconds} s`),
      clientLine(v.client),
      flags.length ? el("div", { class: "error small", text: flags.join(" · ") }) : null,
      v.alternates.length
        ? el("div", { class: "small" }, "then: ", ...v.alternates.flatMap((n, i) => [i ? ", " : "", nodeLink(n)]))
        : null,
      v.skipped && v.skipped.length
        ? el(
            "div",
            { class: "small" },
            "skipped:",
            el(
              "ul",
              {},
              ...v.skipped.map((s) =>
                el(
                  "li",
                  { dataset: { reason: s.reason } },
                  `${s.node || `zone ${s.zone}`}: ${s.reason}` +
                    (s.utilization === undefined ? "" : ` (${pct(s.utilization)})`),
                ),
              ),
            ),
          )
        : null,
    );
  }

  // ---- Wiring --------------------------------------------------------------------------------

  const fleetPoller = new Poller(pollFleet, FLEET_POLL_MS);
  const healthPoller = new Poller(pollHealth, HEALTH_POLL_MS);
  const nodePoller = new Poller(pollNode, NODE_POLL_MS);

  function setMaintenance(enabled) {
    ask({
      title: enabled ? "Enter maintenance mode" : "Leave maintenance mode",
      text: enabled
        ? "/readyz fails at once, so load balancers take this instance out; traffic still " +
          "sent here keeps being served."
        : "/readyz passes again once its other checks do.",
      reason: enabled,
      apply: (token, reason) => adminPost("/admin/maintenance", { enabled, reason }, token),
    });
  }

  function setAdmin(admin) {
    const id = state.selected;
    const what = {
      enabled: "takes traffic again when healthy",
      drain: "gets no new clients; existing sessions finish",
      maintenance: "is never chosen, even in panic mode",
    };
    ask({
      title: `Set ${id} to ${admin}`,
      text: `The node ${what[admin]}. It holds on this instance across reloads, until it restarts.`,
      reason: false,
      apply: (token) => adminPost(`/admin/nodes/${encodeURIComponent(id)}`, { admin }, token),
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("maintenance-on").addEventListener("click", () => setMaintenance(true));
    $("maintenance-off").addEventListener("click", () => setMaintenance(false));
    $("maintenance-off").hidden = true;
    $("action-form").addEventListener("submit", submitAction);
    $("action-cancel").addEventListener("click", () => $("action-dialog").close());
    $("node-close").addEventListener("click", closeNode);
    for (const b of $("node-controls").querySelectorAll("button")) {
      b.addEventListener("click", () => setAdmin(b.dataset.admin));
    }
    $("pick-form").addEventListener("submit", pick);
    $("node-filter").addEventListener("input", applyFilter);
    $("node-filter").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && e.target.value.trim()) openNode(e.target.value.trim());
    });
    $("problems-only").addEventListener("change", applyFilter);
    $("expand-all").addEventListener("click", () => {
      state.zoneNames.forEach((z) => state.expanded.add(z));
      fleetPoller.now();
    });
    $("collapse-all").addEventListener("click", () => {
      state.expanded.clear();
      fleetPoller.now();
    });
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) {
        fleetPoller.now();
        healthPoller.now();
      }
    });
    setInterval(showLive, 1000);
    const m = location.hash.match(/^#node=(.+)$/);
    if (m) openNode(decodeURIComponent(m[1]));
    fleetPoller.now();
    healthPoller.now();
  });
})();
