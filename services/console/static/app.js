/* Kizuna console: one page, a view per hash (overview, RFM, repeat, customers, ...), drawn from the same
   /v1 JSON routes partner tools use. The session cookie (HttpOnly) authenticates every
   call; every change echoes the CSRF cookie in X-CSRF-Token. Japanese by default, English
   by the toggle; every label comes from the message catalogue of the language. */
"use strict";
(function () {
  const CSRF_COOKIE = "__Host-kizuna-csrf";
  const LANGS = { ja: "ja-JP", en: "en-US" };
  const RANKS = ["loyal", "semi_loyal", "general", "dormant"];
  const STATES = ["new", "repeat", "loyal", "dormant", "lost"];
  const COLORS = { new: "#2b59c3", repeat: "#1e7b4f", loyal: "#b8860b", dormant: "#8a8f9c", lost: "#b3261e" };
  const main = document.getElementById("main");
  let lang = localStorage.getItem("kizuna.lang") === "en" ? "en" : "ja";
  let messages = {};
  let session = null;
  let charts = [];

  // ------------------------------------------------------------------ text and form
  function t(key, vars) {
    let text = messages[key];
    if (text === undefined) { text = key; }
    for (const [k, v] of Object.entries(vars || {})) { text = text.split("{" + k + "}").join(String(v)); }
    return text;
  }
  function locale() { return LANGS[lang]; }
  function yen(value) {
    if (value === null || value === undefined) { return "—"; }
    return "¥" + new Intl.NumberFormat(locale(), { maximumFractionDigits: 0 }).format(Math.round(Number(value)));
  }
  function num(value) {
    if (value === null || value === undefined) { return "—"; }
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: 1 }).format(Number(value));
  }
  function pct(value) {
    if (value === null || value === undefined) { return "—"; }
    return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(Number(value));
  }
  function day(iso) {
    if (!iso) { return "—"; }
    return new Intl.DateTimeFormat(locale(), { year: "numeric", month: "long", day: "numeric", timeZone: "Asia/Tokyo" }).format(new Date(iso));
  }
  function month(ym) {
    const [y, m] = ym.split("-").map(Number);
    return new Intl.DateTimeFormat(locale(), { year: "numeric", month: "short", timeZone: "UTC" }).format(new Date(Date.UTC(y, m - 1, 1)));
  }
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) { continue; }
      if (k === "text") { node.textContent = v; } else if (k.startsWith("on")) { node.addEventListener(k.slice(2), v); } else { node.setAttribute(k, v === true ? "" : v); }
    }
    for (const child of [].concat(children || [])) { if (child !== null && child !== undefined) { node.append(child); } }
    return node;
  }
  function table(headers, rows, attrs) {
    return el("table", attrs, [
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col", text: h })))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c, i) => i === 0 ? el("th", { scope: "row" }, c) : el("td", {}, c))))),
    ]);
  }
  function bar(value, max, colour) {
    const share = max ? Math.max(0, Math.min(1, Number(value) / max)) : 0;
    const fill = el("span", { class: "bar-fill" });
    fill.style.width = (100 * share).toFixed(1) + "%";
    if (colour) { fill.style.background = colour; }
    return el("span", { class: "bar", "aria-hidden": "true" }, fill);
  }
  function withBar(text, value, max, colour) { return el("span", { class: "barred" }, [bar(value, max, colour), el("span", { text: text })]); }
  function heat(td, share, rgb) {
    if (share === null || share === undefined) { return td; }
    const s = Math.max(0, Math.min(1, share));
    td.style.background = "rgba(" + rgb + ", " + (0.06 + 0.84 * s).toFixed(3) + ")";
    td.style.color = s > 0.55 ? "#fff" : "inherit";
    return td;
  }
  function fieldOf(err) {
    const fields = err && err.body && err.body.error && err.body.error.fields;
    return fields && fields.length ? fields[0].field : null;
  }
  function problem(err) {
    const field = fieldOf(err);
    return field ? t("error.field", { field: field, message: err.message }) : t("error.save", { message: err.message });
  }
  function can(scope) { return !!session && (session.scopes.includes("admin") || session.scopes.includes(scope)); }

  // ------------------------------------------------------------------ the API
  function csrf() {
    const found = document.cookie.split("; ").find((c) => c.startsWith(CSRF_COOKIE + "="));
    return found ? decodeURIComponent(found.slice(CSRF_COOKIE.length + 1)) : "";
  }
  class ApiError extends Error {
    constructor(status, body) { super((body && body.error && body.error.message) || String(status)); this.status = status; this.body = body; }
  }
  async function api(path, options) {
    const opts = Object.assign({ method: "GET", credentials: "same-origin", headers: {} }, options || {});
    if (opts.json !== undefined) { opts.body = JSON.stringify(opts.json); opts.headers["Content-Type"] = "application/json"; delete opts.json; }
    if (opts.method !== "GET") { opts.headers["X-CSRF-Token"] = csrf(); }
    const response = await fetch(path, opts);
    const body = response.status === 204 ? null : await response.json().catch(() => null);
    if (response.status === 401 && path !== "/console/session") { session = null; render(); }
    if (!response.ok) { throw new ApiError(response.status, body); }
    return { status: response.status, body: body, next: response.headers.get("X-Next-Cursor") };
  }

  // ------------------------------------------------------------------ frame
  async function loadMessages() {
    const response = await fetch("/console/assets/i18n/" + lang + ".json", { credentials: "same-origin" });
    messages = await response.json();
    document.documentElement.lang = lang;
    document.title = t("app.title");
    for (const node of document.querySelectorAll("[data-i18n]")) { node.textContent = t(node.dataset.i18n); }
  }
  function frame() {
    document.getElementById("nav").hidden = !session;
    document.getElementById("signout").hidden = !session;
    document.getElementById("shop").textContent = session ? t("frame.shop", { shop: session.shop_id }) + (can("segments:write") ? "" : " · " + t("frame.readonly")) : "";
    const view = currentView().name;
    for (const a of document.querySelectorAll("#nav a")) {
      if (a.dataset.view === view) { a.setAttribute("aria-current", "page"); } else { a.removeAttribute("aria-current"); }
    }
  }
  function currentView() {
    const parts = location.hash.replace(/^#\/?/, "").split("/");
    const name = Object.prototype.hasOwnProperty.call(VIEWS, parts[0]) ? parts[0] : "overview";
    return { name: name, args: parts.slice(1).map(decodeURIComponent) };
  }
  function clearCharts() { for (const c of charts) { c.destroy(); } charts = []; }
  async function render() {
    main.dataset.ready = "false";
    clearCharts();
    frame();
    main.replaceChildren();
    if (!session) { signInView(); return; }
    const view = currentView();
    const draw = VIEWS[view.name];
    main.setAttribute("aria-busy", "true");
    try {
      await draw(view.args);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) { return; }
      main.append(el("p", { class: "error", role: "alert", text: t("error.load", { message: err.message }) }));
    } finally {
      main.removeAttribute("aria-busy");
      main.dataset.view = view.name;
      main.dataset.ready = "true";
    }
  }

  // ------------------------------------------------------------------ sign in
  function signInView() {
    const status = el("p", { id: "signin-status", role: "alert" });
    const form = el("form", { class: "signin", method: "post", action: "/console/session", autocomplete: "off" }, [
      el("h1", { text: t("signin.title") }),
      el("label", { for: "api_key", text: t("signin.key") }),
      el("input", { id: "api_key", name: "api_key", type: "password", required: true, autocomplete: "off", spellcheck: "false" }),
      el("p", { class: "muted", text: t("signin.help") }),
      el("button", { class: "primary", type: "submit", text: t("signin.submit") }),
      status,
    ]);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const key = form.elements.api_key.value;
      form.elements.api_key.value = "";
      await signIn(new URLSearchParams({ api_key: key }), status);
    });
    main.append(form);
    main.dataset.view = "signin";
    main.dataset.ready = "true";
  }
  async function signIn(params, status) {
    try {
      const result = await api("/console/session", { method: "POST", body: params, headers: { "Content-Type": "application/x-www-form-urlencoded" } });
      session = result.body;
      if (!location.hash || location.hash.startsWith("#link=")) { history.replaceState(null, "", "#/overview"); }
      await render();
    } catch (err) {
      if (status) { status.className = "error"; status.textContent = t("signin.failed", { message: err.message }); }
    }
  }

  // ------------------------------------------------------------------ overview
  async function report(name) {
    const result = await api("/v1/analytics/" + name);
    return result.status === 202 ? { pending: result.body } : result.body;
  }
  function pending(result) {
    if (!result.pending) { return false; }
    main.append(el("p", { class: "notice", id: "pending", text: t("overview.pending", { status: t("status." + result.pending.status) }) }));
    return true;
  }
  function kpi(label, value, id) {
    return el("div", { class: "kpi", id: id }, [el("div", { class: "label", text: label }), el("div", { class: "value", text: value })]);
  }
  /* A tile whose number counts customers: the number (or a line under it) leads to them. */
  function kpiDrill(label, value, id, below) {
    return el("div", { class: "kpi", id: id }, [el("div", { class: "label", text: label }),
      el("div", { class: "value" }, value), below ? el("div", { class: "below" }, below) : null]);
  }
  async function overviewView() {
    main.append(el("h1", { text: t("overview.title") }));
    const [list, repeat, ltv, forecast, sales] = await Promise.all(["list-analysis", "repeat", "ltv", "forecast", "revenue"].map(report));
    if (list.pending) {
      main.append(el("p", { class: "notice", id: "pending", text: t("overview.pending", { status: t("status." + list.pending.status) }) }));
      if (can("segments:write")) {
        const button = el("button", { type: "button", class: "primary", id: "refresh", text: t("overview.refresh") });
        button.addEventListener("click", async () => {
          button.disabled = true;
          await api("/v1/analytics/refresh", { method: "POST" });
          button.textContent = t("overview.refresh_requested");
        });
        main.append(el("div", { class: "row" }, button));
      }
      return;
    }
    const rows = list.rows;
    const last = rows.length ? rows[rows.length - 1] : null;
    const f2 = (repeat.rows || []).find((r) => r.from_stage === "F1");
    let ltvSum = 0, ltvCustomers = 0;
    for (const r of (ltv.rows || []).filter((x) => x.dimension === "cohort")) {
      if (r.ltv_365d !== null) { ltvSum += r.ltv_365d * r.customers_365d; ltvCustomers += r.customers_365d; }
    }
    main.append(el("p", { class: "muted", text: t("overview.as_of", { date: day(list.as_of) }) }));
    const active = last ? last.new + last.repeat + last.loyal : 0;
    main.append(el("div", { class: "kpis" }, [
      last && last.total ? kpiDrill(t("kpi.customers"), drillLink("tile", last.month + ".all", num(last.total)), "kpi-customers") : kpi(t("kpi.customers"), last ? num(last.total) : "—", "kpi-customers"),
      active ? kpiDrill(t("kpi.active"), drillLink("tile", last.month + ".active", num(active)), "kpi-active") : kpi(t("kpi.active"), last ? num(active) : "—", "kpi-active"),
      f2 && f2.customers_to ? kpiDrill(t("kpi.f2"), pct(f2.rate), "kpi-f2", drillLink("reached", "2", t("kpi.repeaters", { n: num(f2.customers_to) }))) : kpi(t("kpi.f2"), f2 ? pct(f2.rate) : "—", "kpi-f2"),
      kpi(t("kpi.ltv365"), ltvCustomers ? yen(ltvSum / ltvCustomers) : "—", "kpi-ltv"),
    ]));
    const months = sales.pending ? [] : sales.rows;
    main.append(el("h2", { text: t("overview.revenue") }));
    const revenueChart = el("div", { class: "card chart", id: "revenue-chart", role: "img", "aria-label": t("overview.revenue_alt") });
    main.append(revenueChart);
    drawRevenue(revenueChart, months);
    main.append(el("details", { class: "card" }, [el("summary", { text: t("overview.revenue_table") }), table(
      [t("table.month"), t("table.revenue"), t("overview.orders"), t("overview.buyers"), t("overview.first_orders"), t("profile.aov")],
      months.map((r) => [month(r.month), yen(r.revenue), num(r.orders), num(r.customers), num(r.first_orders), yen(r.average_order_value)]), { id: "revenue" })]));
    if (can("messages:read")) { await weekSection(); }
    main.append(el("h2", { text: t("overview.trend") }));
    const chart = el("div", { class: "card chart", id: "trend-chart", role: "img", "aria-label": t("overview.trend_alt") });
    main.append(chart);
    drawTrend(chart, rows);
    const trendTable = table([t("table.month"), ...STATES.map((s) => t("state." + s)), t("table.total")],
      rows.map((r) => [month(r.month), ...STATES.map((s) => r[s] ? drillLink("listed", r.month + "." + s, num(r[s])) : num(r[s])), num(r.total)]));
    main.append(el("details", { class: "card" }, [el("summary", { text: t("overview.trend_table") }), trendTable]));
    main.append(el("h2", { text: t("overview.forecast") }));
    if (forecast.pending || !forecast.rows.length) {
      main.append(el("p", { class: "notice", text: t("overview.no_forecast") }));
    } else {
      main.append(el("div", { class: "card" }, table(
        [t("table.state"), t("forecast.now"), t("forecast.in", { n: 3 }), t("forecast.in", { n: 6 }), t("forecast.in", { n: 12 })],
        forecast.rows.map((r) => [t("state." + r.state), STATES.includes(r.state) && r.customers ? drillLink("listed", r.month + "." + r.state, num(r.customers)) : num(r.customers), num(r.in_3_months), num(r.in_6_months), num(r.in_12_months)]),
        { id: "forecast" })));
    }
  }
  async function weekSection() {
    /* This week's sends, opens, clicks and conversions: the calendar week so far (from
       Monday 00:00, Tokyo, the shop time the journeys count weeks in, by the platform's
       clock). `GET /v1/deliveries/week` splits them by source (each campaign scheduled in
       the week, each journey) from counted figures, reading no recipient record; each
       tile's number is the sum the table below splits (its drill-down's `messages`), and
       `people` the distinct customers behind each tile, from counters written with the
       messages: one request, however many campaigns, journeys and people. A week before
       the shop's people mark (`people` null) asks each tile's drill-down for its `count`
       (four requests more, which read the week's records). */
    const sources = (await api("/v1/deliveries/week")).body;
    const monday = sources.week;
    const keys = ["sent", "opened", "clicked", "converted"];
    const sum = (rows, k) => rows.reduce((a, r) => a + (r[k] || 0), 0);
    const people = sources.people
      ? keys.map((k) => ({ count: sources.people[k], messages: sum(sources.campaigns, k) + sources.journeys[k] }))
      : await Promise.all(keys.map((k) => api("/v1/deliveries/customers?" + new URLSearchParams({ metric: k, week: monday, limit: "1" })).then((r) => r.body)));
    const n = sources.campaigns.length;
    main.append(el("h2", { text: t("overview.week") }));
    main.append(el("div", { class: "kpis", id: "week" }, keys.map((k, i) => weekTile(k, people[i].messages, people[i], monday))));
    /* One row per journey, by name (`journey_rows`, adding up to `journeys`); numbers
       counted before the week's totals named their journey are a row of their own. */
    const journeyRows = sources.journey_rows.length
      ? sources.journey_rows.map((j) => [j.journey_id === null ? t("overview.week_journeys_unnamed") : t("overview.week_journey", { name: j.name || j.journey_id }), ...keys.map((k) => num(j[k]))])
      : [[t("overview.week_journeys"), ...keys.map((k) => num(sources.journeys[k]))]];
    main.append(el("details", { class: "card" }, [el("summary", { text: t("overview.week_table") }), table(
      ["", ...keys.map((k) => t("stats." + k))],
      [[t("overview.week_campaigns", { n: num(n) }), ...keys.map((k) => num(sum(sources.campaigns, k)))],
        ...journeyRows], { id: "week-sources" })]));
    main.append(el("p", { class: "muted", text: t("overview.week_help", { n: num(n), date: day(monday) }) }));
  }
  /* A week tile: its messages, and under them the distinct customers behind them
     (`GET /v1/deliveries/customers`), who lead to the list and a segment. */
  function weekTile(metric, messages, behind, monday) {
    if (!behind.count) { return kpi(t("stats." + metric), num(messages), "week-" + metric); }
    const link = drillLink("week", metric + "." + monday, t("overview.week_people", { n: num(behind.count) }));
    return kpiDrill(t("stats." + metric), num(messages), "week-" + metric, [t("overview.week_messages", { n: num(messages) }) + " · ", link]);
  }
  function drawRevenue(container, rows) {
    if (!rows.length || typeof uPlot === "undefined") { return; }
    const xs = rows.map((r) => Date.UTC(Number(r.month.slice(0, 4)), Number(r.month.slice(5, 7)) - 1, 1) / 1000);
    const opts = {
      width: Math.max(280, container.clientWidth - 24), height: 220,
      legend: { live: false },
      series: [{ label: t("table.month") }, { label: t("table.revenue"), stroke: "#b8860b", fill: "rgba(184, 134, 11, 0.25)", width: 2, value: (u, v) => yen(v) }],
      axes: [{ values: (u, vals) => vals.map((v) => month(new Date(v * 1000).toISOString().slice(0, 7))) }, { size: 80, values: (u, vals) => vals.map(yen) }],
      scales: { x: { time: false } },
    };
    charts.push(new uPlot(opts, [xs, rows.map((r) => r.revenue)], container));
  }
  function drawTrend(container, rows) {
    if (!rows.length || typeof uPlot === "undefined") { return; }
    const xs = rows.map((r) => Date.UTC(Number(r.month.slice(0, 4)), Number(r.month.slice(5, 7)) - 1, 1) / 1000);
    const width = Math.max(280, container.clientWidth - 24);
    const opts = {
      width: width, height: 240,
      legend: { live: false },
      series: [{ label: t("table.month") },
        ...STATES.map((s) => ({ label: t("state." + s), stroke: COLORS[s], width: 2, value: (u, v) => num(v) }))],
      axes: [{ values: (u, vals) => vals.map((v) => month(new Date(v * 1000).toISOString().slice(0, 7))) }, { values: (u, vals) => vals.map(num) }],
      scales: { x: { time: false } },
    };
    charts.push(new uPlot(opts, [xs, ...STATES.map((s) => rows.map((r) => r[s]))], container));
  }

  // ------------------------------------------------------------------ RFM
  function cellRule(r, f) {
    return { all: [{ field: "r_score", op: "eq", value: r }, { field: "f_score", op: "eq", value: f }] };
  }
  async function rfmView(args) {
    main.append(el("h1", { text: t("rfm.title") }));
    const grid = (await api("/v1/segments/rfm-grid")).body;
    let colourBy = "customers";
    const holder = el("div", { class: "card" });
    const toggle = el("button", { type: "button", id: "rfm-colour", "aria-pressed": "false", text: t("rfm.colour_m") });
    toggle.addEventListener("click", () => {
      colourBy = colourBy === "customers" ? "mean_m" : "customers";
      toggle.setAttribute("aria-pressed", String(colourBy === "mean_m"));
      toggle.textContent = colourBy === "mean_m" ? t("rfm.colour_customers") : t("rfm.colour_m");
      holder.replaceChildren(gridTable(grid, colourBy));
    });
    main.append(el("p", { class: "muted", text: t("rfm.help") }), el("div", { class: "row" }, toggle), holder);
    holder.append(gridTable(grid, colourBy));
    main.append(el("h2", { text: t("rfm.ranks") }));
    main.append(el("div", { class: "card" }, table([t("table.rank"), t("table.customers")],
      RANKS.map((r) => [drillLink("rank", r, t("rank." + r)), num(grid.ranks[r] || 0)]).concat([[t("rfm.unscored"), num(grid.unscored)]]), { id: "ranks" })));
    const drill = el("section", { id: "drill", "aria-live": "polite" });
    main.append(drill);
    if (args.length === 2) { await drillDown(drill, Number(args[0]), Number(args[1])); }
  }
  function gridTable(grid, colourBy) {
    const max = Math.max(1, ...grid.cells.map((c) => colourBy === "customers" ? c.customers : (c.mean_m || 0)));
    const byKey = new Map(grid.cells.map((c) => [c.r + ":" + c.f, c]));
    const rows = [];
    for (let r = 5; r >= 1; r--) {
      const cells = [el("th", { scope: "row", text: "R" + r })];
      for (let f = 1; f <= 5; f++) {
        const c = byKey.get(r + ":" + f);
        const share = (colourBy === "customers" ? c.customers : (c.mean_m || 0)) / max;
        const label = t("rfm.cell", { r: r, f: f, n: num(c.customers) });
        const button = el("button", { type: "button", "data-r": r, "data-f": f, "aria-label": label, title: label,
          onclick: () => { location.hash = "#/rfm/" + r + "/" + f; } }, [el("strong", { text: num(c.customers) }), el("br"), el("small", { text: yen(c.revenue) })]);
        const td = el("td", {}, button);
        td.style.background = "rgba(43, 89, 195, " + (0.08 + 0.82 * share).toFixed(3) + ")";
        td.style.color = share > 0.5 ? "#fff" : "inherit";
        cells.push(td);
      }
      rows.push(el("tr", {}, cells));
    }
    return el("table", { class: "grid", id: "rfm-grid" }, [
      el("caption", { class: "sr-only", text: t("rfm.caption") }),
      el("thead", {}, el("tr", {}, [el("th", { scope: "col", text: "R \\ F" }), ...[1, 2, 3, 4, 5].map((f) => el("th", { scope: "col", text: "F" + f }))])),
      el("tbody", {}, rows),
    ]);
  }
  // A new segment is counted by the segmenter's event function, not in the POST: the
  // status says so, then shows the count once GET answers `ready` (polled each 1.5 s).
  async function showWhenCounted(status, created) {
    status.textContent = t("segments.computing", { id: created.segment_id });
    status.dataset.counted = "false";
    let sg = created;
    for (let i = 0; sg.status !== "ready" && i < 120; i++) {
      await new Promise((done) => setTimeout(done, 1500));
      sg = (await api("/v1/segments/" + enc(created.segment_id))).body;
    }
    if (sg.status === "ready") {
      status.textContent = t("rfm.saved", { id: sg.segment_id, n: num(sg.member_count) });
      status.dataset.counted = "true";
    }
    return sg;
  }
  async function drillDown(section, r, f) {
    await drillSection(section, ruleSource(cellRule(r, f)), "rfm-r" + r + "-f" + f, "R" + r + " × F" + f, (n) => t("rfm.drill", { r: r, f: f, n: num(n) }));
  }
  /* Drill-downs of the other charts: the customers behind a rank, as a rule of the
     segment language over today's profiles (the same preview and save as an RFM cell's). */
  function retainedParts(v) { const [ym, k] = v.split("."); return { ym: ym, k: Number(k) }; }
  const DRILLS = {
    rank: { rules: (v) => [{ field: "rfm_rank", op: "eq", value: v }], label: (v) => t("rank." + v) },
  };
  /* Cells of the cohort reports, as the analytics pass counted them (not today's
     profiles, whose purchase history is capped): a funnel stage, a second-purchase
     bucket, an LTV row (cohort, channel, first product) and a retention cell. */
  const ltvCell = (dimension) => ({
    report: "ltv",
    cohort: true,
    cell: (v) => ({ dimension: dimension, key: v }),
  });
  Object.assign(DRILLS, {
    reached: { report: "repeat", cohort: true, valid: (v) => /^([1-9]|10)$/.test(v), cell: (v) => ({ stage: v }), label: (v) => t("drill.reached", { n: v }) },
    gap: { report: "second-purchase", cohort: true, valid: (v) => /^(same_day|later|\d+-\d+)$/.test(v), cell: (v) => ({ bucket: v }), label: (v) => t("drill.gap", { bucket: bucketName(v) }) },
    channel: Object.assign(ltvCell("channel"), { label: (v) => t("drill.channel", { channel: v }) }),
    /* An LTV first product: the customers whose first order's first line was the SKU. */
    first_product: Object.assign(ltvCell("first_product"), { label: (v) => t("drill.first_product", { sku: v }) }),
    /* A first-purchase month (the retention heatmap's and the LTV table's cohort rows). */
    cohort: Object.assign(ltvCell("cohort"), { valid: (v) => /^\d{4}-\d{2}$/.test(v), label: (v) => t("drill.cohort", { month: month(v) }) }),
    /* A retention cell: the cohort's customers who bought in its k-th month after. */
    retained: {
      report: "retention",
      cohort: true,
      valid: (v) => /^\d{4}-\d{2}\.\d{1,3}$/.test(v),
      cell: (v) => { const p = retainedParts(v); return { month: p.ym, month_offset: String(p.k) }; },
      label: (v) => { const p = retainedParts(v); return t("drill.retained", { month: month(p.ym), n: p.k }); },
    },
  });
  /* Cells of any month the analytics pass kept (the month's end, not today's profiles):
     a list-analysis state, a lifecycle flow (from "none": the first month), and a
     calendar cell of an earlier month. */
  const STATE_RE = "(new|repeat|loyal|dormant|lost)";
  Object.assign(DRILLS, {
    listed: {
      report: "list-analysis",
      valid: (v) => new RegExp("^\\d{4}-\\d{2}\\." + STATE_RE + "$").test(v),
      cell: (v) => { const [ym, s] = v.split("."); return { month: ym, state: s }; },
      label: (v) => { const [ym, s] = v.split("."); return t("drill.listed", { month: month(ym), state: t("state." + s) }); },
    },
    flow: {
      report: "lifecycle",
      valid: (v) => new RegExp("^\\d{4}-\\d{2}\\.(none|" + STATE_RE.slice(1, -1) + ")\\." + STATE_RE + "$").test(v),
      cell: (v) => { const [ym, a, b] = v.split("."); return { month: ym, from_state: a, to_state: b }; },
      label: (v) => { const [ym, a, b] = v.split("."); return t("drill.flow", { month: month(ym), from: a === "none" ? t("diagnosis.first_order") : t("state." + a), to: t("state." + b) }); },
    },
    was: {
      report: "calendar",
      valid: (v) => /^\d{4}-\d{2}\.(0|1|2|3-5|6-11|12\+)\.([1-4]|5\+)$/.test(v),
      cell: (v) => { const [ym, rec, f] = v.split("."); return { month: ym, recency: rec, frequency: f }; },
      label: (v) => { const [ym, rec, f] = v.split("."); return t("drill.was", { month: month(ym), recency: t("diagnosis.months_ago", { n: rec }), orders: t("diagnosis.orders_n", { n: f }) }); },
    },
  });
  function drillLink(kind, value, text) { return el("a", { href: "#/drill/" + kind + "/" + enc(value), "data-drill": kind + ":" + value, text: text }); }
  async function drillView(args) {
    const kind = Object.prototype.hasOwnProperty.call(DRILLS, args[0]) ? args[0] : null;
    const d = kind ? DRILLS[kind] : null;
    if (!d || !args[1] || (d.valid && !d.valid(args[1]))) { main.append(el("p", { class: "notice", text: t("drill.unknown") })); return; }
    const label = d.label(args[1]);
    const slug = String(args[1]).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "x";
    main.append(el("h1", { text: label }));
    const section = el("section", { id: "drill", "aria-live": "polite" });
    main.append(section);
    const source = d.source ? d.source(args[1], label) : d.cell ? cellSource(d.report, d.cell(args[1]), d.cohort ? "drill.saved_cohort_description" : "drill.saved_description") : ruleSource({ all: d.rules(args[1]) });
    await drillSection(section, source, (kind + "-" + slug).slice(0, 63), label, source.title || ((n) => t("drill.title", { label: label, n: num(n) })));
  }
  /* Where a drill-down's customers come from, and how they are saved: a rule of the
     segment language (today's profiles), or a cell of an earlier month the analytics pass
     kept (`/v1/analytics/{report}/customers`), saved as a segment of exactly those. */
  function ruleSource(rule) {
    return {
      load: async () => { const b = (await api("/v1/segments/preview", { method: "POST", json: { rule: rule, sample: 500 } })).body; return { count: b.count, ids: b.sample_customer_ids }; },
      save: async (id, name) => (await api("/v1/segments", { method: "POST", json: { segment_id: id, name: name, rule: rule, description: t("rfm.saved_description") } })).body,
    };
  }
  function cellSource(report, cell, description) {
    const path = "/v1/analytics/" + report + "/customers";
    return {
      load: async () => { const b = (await api(path + "?" + new URLSearchParams(Object.assign({ limit: "500" }, cell)))).body; return { count: b.count, ids: b.customer_ids }; },
      save: async (id, name) => (await api(path + "/segment", { method: "POST", json: Object.assign({ segment_id: id, name: name, description: t(description) }, cell) })).body,
    };
  }
  async function drillSection(section, source, id, name, titleOf) {
    const preview = await source.load();
    section.append(el("h2", { id: "drill-title", text: titleOf(preview.count) }));
    const status = el("p", { id: "save-status", role: "status" });
    if (can("segments:write")) {
      const save = el("button", { type: "button", class: "primary", id: "save-segment", text: t("rfm.save") });
      save.addEventListener("click", async () => {
        try {
          const created = await source.save(id, name);
          status.className = "ok";
          showWhenCounted(status, created).catch(() => {});
        } catch (err) {
          status.className = "error";
          status.textContent = err.status === 409 ? t("rfm.exists", { id: id }) : t("error.save", { message: err.message });
          if (err.status !== 409) { return; }
        }
        if (can("messages:send") && !document.getElementById("send-campaign")) {
          const next = el("div", {});
          section.insertBefore(next, status.nextSibling);
          next.append(el("div", { class: "row" }, linkButton("#/campaigns/new/" + enc(id), t("rfm.send_campaign"), "send-campaign")));
          await journeyEnrol(next, id);
        }
      });
      section.append(el("div", { class: "row" }, save));
    } else {
      section.append(el("p", { class: "muted", id: "readonly-note", text: t("rfm.readonly") }));
    }
    section.append(status);
    const list = el("ul", { class: "ids card", id: "drill-customers" }, preview.ids.map((cid) =>
      el("li", {}, el("a", { href: "#/customers/" + encodeURIComponent(cid), text: cid }))));
    section.append(list);
    if (preview.count > preview.ids.length) {
      section.append(el("p", { class: "muted", text: t("rfm.more", { n: num(preview.count - preview.ids.length) }) }));
    }
  }

  // ------------------------------------------------------------------ repeat
  function bucketName(b) {
    if (b === "same_day" || b === "later") { return t("bucket." + b); }
    return t("bucket.days", { range: b });
  }
  async function repeatView() {
    main.append(el("h1", { text: t("repeat.title") }));
    const [funnel, second, retention] = await Promise.all(["repeat", "second-purchase", "retention"].map(report));
    if (pending(funnel)) { return; }
    main.append(el("p", { class: "muted", text: t("overview.as_of", { date: day(funnel.as_of) }) }));
    main.append(el("h2", { text: t("repeat.funnel") }));
    const rows = funnel.rows;
    const first = rows.length ? rows[0].customers_from : 0;
    const stages = rows.length ? [{ stage: rows[0].from_stage, customers: first, rate: null }].concat(rows.map((r) => ({ stage: r.to_stage, customers: r.customers_to, rate: r.rate }))) : [];
    main.append(el("div", { class: "card" }, table([t("repeat.stage"), t("table.customers"), t("repeat.rate"), t("repeat.of_first")],
      stages.map((s) => [drillLink("reached", s.stage.replace(/^F/, ""), s.stage), withBar(num(s.customers), s.customers, first), s.rate === null ? "—" : pct(s.rate), first ? pct(s.customers / first) : "—"]),
      { id: "funnel", "aria-label": t("repeat.funnel") })));
    main.append(el("h2", { text: t("repeat.second") }));
    const buckets = second.rows || [];
    const most = Math.max(1, ...buckets.map((b) => b.customers));
    main.append(el("div", { class: "card" }, table([t("repeat.days"), t("table.customers"), t("repeat.share"), t("repeat.cumulative")],
      buckets.map((b) => [b.customers ? drillLink("gap", b.bucket, bucketName(b.bucket)) : bucketName(b.bucket), withBar(num(b.customers), b.customers, most, "#1e7b4f"), pct(b.share_of_repeaters), pct(b.cumulative_share_of_repeaters)]),
      { id: "second-purchase" })));
    main.append(el("h2", { text: t("repeat.retention") }));
    main.append(el("p", { class: "muted", text: t("repeat.retention_help") }));
    main.append(el("div", { class: "card" }, retentionTable(retention.rows || [])));
  }
  function retentionTable(rows) {
    const width = rows.reduce((w, r) => Math.max(w, Object.keys(r).filter((k) => /^m\d+$/.test(k)).length), 0);
    const offsets = Array.from({ length: width }, (_, k) => k);
    const max = Math.max(0.0001, ...rows.flatMap((r) => offsets.slice(1).map((k) => r["m" + k] || 0)));
    return el("table", { class: "heat", id: "retention" }, [
      el("caption", { class: "sr-only", text: t("repeat.retention_caption") }),
      el("thead", {}, el("tr", {}, [el("th", { scope: "col", text: t("repeat.cohort") }), el("th", { scope: "col", text: t("table.customers") }),
        ...offsets.map((k) => el("th", { scope: "col", text: t("repeat.month_n", { n: k }) }))])),
      el("tbody", {}, rows.map((r) => el("tr", {}, [el("th", { scope: "row" }, drillLink("cohort", r.month, month(r.month))), el("td", { text: num(r.customers) }),
        ...offsets.map((k) => {
          const v = r["m" + k];
          const td = el("td", { "data-k": k }, k > 0 && v ? drillLink("retained", r.month + "." + k, pct(v)) : el("span", { text: v === null || v === undefined ? "" : pct(v) }));
          return k === 0 ? td : heat(td, v === null || v === undefined ? null : v / max, "30, 123, 79");
        })]))),
    ]);
  }

  // ------------------------------------------------------------------ LTV and channels
  const LTV_WINDOWS = ["90d", "180d", "365d", "lifetime"];
  const LTV_DIMENSIONS = ["cohort", "channel", "first_product"];
  function keyLabel(dimension, key) { return dimension === "cohort" && /^\d{4}-\d{2}$/.test(key) ? month(key) : key; }
  async function ltvView() {
    main.append(el("h1", { text: t("ltv.title") }));
    const [ltv, channels] = await Promise.all(["ltv", "channels"].map(report));
    if (pending(ltv)) { return; }
    main.append(el("p", { class: "muted", text: t("overview.as_of", { date: day(ltv.as_of) }) }));
    main.append(el("h2", { text: t("ltv.channels") }));
    main.append(el("p", { class: "muted", text: t("ltv.channels_help") }));
    const channelCard = el("div", { class: "card" });
    main.append(channelCard);
    const drawChannels = (rows) => channelCard.replaceChildren(table(
      [t("table.channel"), t("ltv.ad_spend"), t("ltv.new_customers"), t("ltv.cpa"), t("ltv.ltv365"), t("ltv.ltv_to_cpa"), t("ltv.payback"), t("ltv.allowable_cpa")],
      rows.map((r) => [r.new_customers ? drillLink("channel", r.channel, r.channel) : r.channel, yen(r.ad_spend), num(r.new_customers), yen(r.cpa), yen(r.ltv_365d), r.ltv_to_cpa === null ? "—" : num(r.ltv_to_cpa),
        r.payback_month === null ? "—" : t("ltv.payback_months", { n: r.payback_month }), yen(r.allowable_cpa)]), { id: "channels" }));
    drawChannels(channels.rows || []);
    await adSpendSection(async () => drawChannels((await report("channels")).rows || []));
    for (const dimension of LTV_DIMENSIONS) {
      const rows = ltv.rows.filter((r) => r.dimension === dimension);
      const most = Math.max(1, ...rows.map((r) => r.ltv_365d || 0));
      main.append(el("h2", { text: t("ltv_by." + dimension) }));
      if (dimension === LTV_DIMENSIONS[0]) main.append(el("p", { class: "muted", text: t("ltv.windows_help") }));
      main.append(el("div", { class: "card" }, table([t("ltv_key." + dimension), t("table.customers"), ...LTV_WINDOWS.map((w) => t("ltv_window." + w))],
        rows.map((r) => [drillLink(dimension, r.key, keyLabel(dimension, r.key)), num(r.customers), ...LTV_WINDOWS.map((w) => w === "365d" && r.ltv_365d !== null ? withBar(yen(r.ltv_365d), r.ltv_365d, most, "#b8860b") : yen(r["ltv_" + w]))]),
        { id: "ltv-" + dimension.replace("_", "-") })));
    }
  }
  async function adSpendSection(redraw) {
    main.append(el("h2", { text: t("ltv.ad_spend_title") }));
    const listCard = el("div", { class: "card" });
    const drawList = async () => {
      const entries = (await api("/v1/analytics/ad-spend?limit=200")).body;
      listCard.replaceChildren(entries.length ? table([t("table.channel"), t("table.month"), t("ltv.amount")],
        entries.map((e) => [e.channel, month(e.month), yen(e.amount)]), { id: "ad-spend" }) : el("p", { class: "muted", id: "ad-spend", text: t("ltv.no_ad_spend") }));
    };
    if (can("segments:write")) {
      const status = el("p", { id: "ad-spend-status", role: "status" });
      const done = async (stored) => {
        status.className = "ok";
        status.textContent = t("ltv.stored", { n: num(stored) });
        await Promise.all([drawList(), redraw()]);
      };
      const failed = (err) => { status.className = "error"; status.textContent = problem(err); };
      const form = el("form", { id: "ad-spend-form", class: "card form" }, [
        el("label", { for: "spend-channel", text: t("table.channel") }), el("input", { id: "spend-channel", name: "channel", type: "text", required: true }),
        el("label", { for: "spend-month", text: t("table.month") }), el("input", { id: "spend-month", name: "month", type: "text", placeholder: "2026-10", required: true }),
        el("label", { for: "spend-amount", text: t("ltv.amount") }), el("input", { id: "spend-amount", name: "amount", type: "text", inputmode: "decimal", required: true }),
        el("button", { type: "submit", class: "primary", text: t("ltv.save_spend") }),
      ]);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const f = form.elements;
        try {
          const r = await api("/v1/analytics/ad-spend", { method: "PUT", json: { entries: [{ channel: f.channel.value.trim(), month: f.month.value.trim(), amount: f.amount.value.trim() }] } });
          await done(r.body.stored);
        } catch (err) { failed(err); }
      });
      const file = el("input", { id: "spend-csv", type: "file", accept: ".csv,text/csv" });
      const upload = el("button", { type: "button", id: "spend-upload", text: t("ltv.upload") });
      upload.addEventListener("click", async () => {
        if (!file.files.length) { status.className = "error"; status.textContent = t("ltv.choose_file"); return; }
        try {
          const r = await api("/v1/analytics/ad-spend", { method: "PUT", body: await file.files[0].text(), headers: { "Content-Type": "text/csv" } });
          await done(r.body.stored);
        } catch (err) { failed(err); }
      });
      main.append(form, el("div", { class: "row" }, [el("label", { for: "spend-csv", text: t("ltv.csv") }), file, upload]), el("p", { class: "muted", text: t("ltv.csv_help") }), status);
    }
    main.append(listCard);
    await drawList();
  }

  // ------------------------------------------------------------------ list diagnosis
  const RECENCY = ["0", "1", "2", "3-5", "6-11", "12+"];
  const FREQUENCY = ["1", "2", "3", "4", "5+"];
  async function diagnosisView() {
    main.append(el("h1", { text: t("diagnosis.title") }));
    const [list, calendar, lifecycle, forecast] = await Promise.all(["list-analysis", "calendar", "lifecycle", "forecast"].map(report));
    if (pending(list)) { return; }
    main.append(el("p", { class: "muted", text: t("overview.as_of", { date: day(list.as_of) }) }));
    main.append(el("h2", { text: t("diagnosis.list") }));
    const most = Math.max(1, ...list.rows.map((r) => r.total));
    main.append(el("div", { class: "card" }, table([t("table.month"), ...STATES.map((s) => t("state." + s)), t("table.total"), t("diagnosis.mix")],
      list.rows.map((r) => [month(r.month), ...STATES.map((s) => r[s] ? drillLink("listed", r.month + "." + s, num(r[s])) : num(r[s])), num(r.total), stacked(r, most)]), { id: "list-analysis" })));
    const months = [...new Set(calendar.rows.map((r) => r.month))].sort();
    const picker = el("select", { id: "diagnosis-month" }, months.map((m) => el("option", { value: m, text: month(m) })));
    picker.value = months[months.length - 1] || "";
    const calendarCard = el("div", { class: "card" });
    const flowCard = el("div", { class: "card" });
    const draw = () => {
      calendarCard.replaceChildren(calendarTable(calendar.rows.filter((r) => r.month === picker.value)));
      flowCard.replaceChildren(flowTable(lifecycle.rows.filter((r) => r.month === picker.value)));
    };
    picker.addEventListener("change", draw);
    main.append(el("div", { class: "row" }, [el("label", { for: "diagnosis-month", text: t("diagnosis.month") }), picker]));
    main.append(el("h2", { text: t("diagnosis.calendar") }), el("p", { class: "muted", text: t("diagnosis.calendar_help") }), calendarCard);
    main.append(el("h2", { text: t("diagnosis.lifecycle") }), el("p", { class: "muted", text: t("diagnosis.lifecycle_help") }), flowCard);
    draw();
    main.append(el("h2", { text: t("diagnosis.forecast") }));
    if (forecast.pending || !forecast.rows.length) {
      main.append(el("p", { class: "notice", text: t("overview.no_forecast") }));
      return;
    }
    const back = forecast.rows[0].backtest_from;
    main.append(el("p", { class: "muted", text: back ? t("diagnosis.backtest_help", { from: month(back), to: month(forecast.rows[0].month) }) : t("diagnosis.no_backtest") }));
    main.append(el("div", { class: "card" }, table(
      [t("table.state"), t("forecast.now"), t("forecast.in", { n: 3 }), t("forecast.in", { n: 6 }), t("forecast.in", { n: 12 }), t("diagnosis.backtest_forecast"), t("diagnosis.backtest_error"), t("diagnosis.backtest_error_pct")],
      forecast.rows.map((r) => [t("state." + r.state), STATES.includes(r.state) && r.customers ? drillLink("listed", r.month + "." + r.state, num(r.customers)) : num(r.customers), num(r.in_3_months), num(r.in_6_months), num(r.in_12_months),
        num(r.backtest_forecast), r.backtest_error === undefined ? "—" : (r.backtest_error > 0 ? "+" : "") + num(r.backtest_error),
        r.backtest_error_pct === undefined || r.backtest_error_pct === null ? "—" : num(r.backtest_error_pct) + "%"]),
      { id: "diagnosis-forecast" })));
  }
  function stacked(row, most) {
    const holder = el("span", { class: "stack", "aria-hidden": "true" });
    holder.style.width = (100 * row.total / most).toFixed(1) + "%";
    for (const s of STATES) {
      const part = el("span", {});
      part.style.width = row.total ? (100 * row[s] / row.total).toFixed(2) + "%" : "0";
      part.style.background = COLORS[s];
      holder.append(part);
    }
    return el("span", { class: "stack-holder" }, holder);
  }
  /* Every cell of every month, the latest too, leads to the customers the analytics
     pass counted in it at the month's end (or the pass's day). */
  function calendarTable(rows) {
    const max = Math.max(1, ...rows.flatMap((r) => FREQUENCY.map((f) => r["f" + f])));
    const byRecency = new Map(rows.map((r) => [r.months_since_last_order, r]));
    return el("table", { class: "heat", id: "calendar" }, [
      el("caption", { class: "sr-only", text: t("diagnosis.calendar_caption") }),
      el("thead", {}, el("tr", {}, [el("th", { scope: "col", text: t("diagnosis.recency") }), ...FREQUENCY.map((f) => el("th", { scope: "col", text: t("diagnosis.orders_n", { n: f }) })), el("th", { scope: "col", text: t("table.total") })])),
      el("tbody", {}, RECENCY.map((rec) => {
        const r = byRecency.get(rec) || { total: 0 };
        return el("tr", {}, [el("th", { scope: "row", text: t("diagnosis.months_ago", { n: rec }) }),
          ...FREQUENCY.map((f) => {
            const n = r["f" + f] || 0;
            const td = n > 0 ? el("td", {}, drillLink("was", r.month + "." + rec + "." + f, num(n))) : el("td", { text: num(n) });
            return heat(td, n / max, "43, 89, 195");
          }), el("td", { text: num(r.total) })]);
      })),
    ]);
  }
  function flowTable(rows) {
    const from = ["none", ...STATES];
    const cell = new Map(rows.map((r) => [r.from_state + ">" + r.to_state, r]));
    return el("table", { class: "heat", id: "lifecycle" }, [
      el("caption", { class: "sr-only", text: t("diagnosis.lifecycle_caption") }),
      el("thead", {}, el("tr", {}, [el("th", { scope: "col", text: t("diagnosis.from_to") }), ...STATES.map((s) => el("th", { scope: "col", text: t("state." + s) }))])),
      el("tbody", {}, from.map((a) => el("tr", {}, [el("th", { scope: "row", text: a === "none" ? t("diagnosis.first_order") : t("state." + a) }),
        ...STATES.map((b) => {
          const r = cell.get(a + ">" + b);
          const text = r ? num(r.customers) + (r.rate === null ? "" : " (" + pct(r.rate) + ")") : "0";
          const td = el("td", { "data-from": a, "data-to": b }, r && r.customers ? drillLink("flow", r.month + "." + a + "." + b, text) : text);
          return r && r.rate !== null ? heat(td, r.rate, "184, 134, 11") : td;
        })]))),
    ]);
  }

  // ------------------------------------------------------------------ campaigns
  function enc(id) { return encodeURIComponent(id); }
  function when(iso) {
    if (!iso) { return "—"; }
    return new Intl.DateTimeFormat(locale(), { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "Asia/Tokyo" }).format(new Date(iso));
  }
  function escapeHtml(text) { return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]); }
  function linkButton(href, text, id) { return el("a", { class: "button primary", href: href, id: id, text: text }); }
  async function campaignsView(args) {
    if (args[0] === "new") { await campaignForm(args[1] || ""); return; }
    if (args[1] === "customers") { await campaignDrill(args[0], args[2], args[3], args[4]); return; }
    if (args.length) { await campaignDetail(args[0]); return; }
    main.append(el("h1", { text: t("campaigns.title") }));
    if (can("messages:send")) { main.append(el("div", { class: "row" }, linkButton("#/campaigns/new", t("campaigns.new"), "new-campaign"))); }
    const campaigns = (await api("/v1/campaigns?limit=100")).body;
    if (!campaigns.length) { main.append(el("p", { class: "muted", id: "campaigns", text: t("campaigns.none") })); return; }
    const results = await Promise.all(campaigns.map((c) => api("/v1/campaigns/" + enc(c.campaign_id) + "/results").then((r) => r.body)));
    main.append(el("div", { class: "card" }, table(
      [t("campaigns.name"), t("campaigns.segment"), t("table.status"), t("campaigns.scheduled"), t("stats.sent"), t("stats.opened"), t("stats.clicked"), t("stats.converted"), t("table.revenue")],
      results.map((r) => [el("a", { href: "#/campaigns/" + enc(r.campaign.campaign_id), text: r.campaign.name }), r.campaign.segment_id, t("campaign_status." + r.campaign.status),
        when(r.campaign.scheduled_at), num(r.total.sent), num(r.total.opened), num(r.total.clicked), num(r.total.converted), yen(r.total.revenue)]),
      { id: "campaigns" })));
  }
  const RESULT_HEADERS = () => [t("stats.sent"), t("stats.delivered"), t("stats.opened"), t("stats.clicked"), t("stats.converted"), t("table.revenue")];
  async function campaignDetail(id) {
    const r = (await api("/v1/campaigns/" + enc(id) + "/results")).body;
    const c = r.campaign;
    main.append(el("h1", { id: "campaign-title", text: c.name }));
    main.append(el("dl", { class: "profile card", id: "campaign" }, [
      ["campaigns.segment", c.segment_id], ["table.status", t("campaign_status." + c.status)], ["campaigns.scheduled", when(c.scheduled_at)],
      ["campaigns.processed", num(c.processed)], ["campaigns.waves", num(c.waves)], ["campaigns.completed", when(c.completed_at)],
    ].flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", { text: v })])));
    const known = new Set((c.variants || []).map((v) => v.name));
    const row = (label, variant, rank, counts, extra) => campaignResultRow(id, known.has(variant) ? variant : null, rank, label, counts, extra, variant !== null && !known.has(variant));
    main.append(el("h2", { text: t("campaigns.by_variant") }));
    main.append(el("p", { class: "muted", text: t("campaigns.drill_help") }));
    main.append(el("div", { class: "card" }, table([t("campaigns.variant"), ...RESULT_HEADERS(), t("campaigns.win")],
      Object.entries(r.by_variant).map(([v, counts]) => row(v, v, null, counts, [r.win_probability[v] === undefined ? "—" : pct(r.win_probability[v])])).concat([row(t("table.total"), null, null, r.total, [""])]),
      { id: "campaign-variants" })));
    main.append(el("h2", { text: t("campaigns.by_rank") }));
    const rankRows = [];
    for (const [rank, variants] of Object.entries(r.by_rank)) {
      for (const [v, counts] of Object.entries(variants)) { rankRows.push(row(t("rank." + rank) + " · " + v, v, rank, counts)); }
    }
    main.append(el("div", { class: "card" }, table([t("table.rank"), ...RESULT_HEADERS()], rankRows, { id: "campaign-ranks" })));
    if (can("messages:send") && (c.status === "scheduled" || c.status === "running")) {
      const cancel = el("button", { type: "button", id: "cancel-campaign", text: t("campaigns.cancel") });
      cancel.addEventListener("click", async () => { await api("/v1/campaigns/" + enc(id) + "/cancel", { method: "POST" }); await render(); });
      main.append(el("div", { class: "row" }, cancel));
    }
  }
  /* A count of the results → its customers (`GET /v1/campaigns/{id}/customers`, the JSON
     partner tools read), saved as a segment of exactly those (`POST /v1/segments/listed`,
     tagged like a saved analytics cell). "*": all variants, or all ranks. */
  const CAMPAIGN_METRICS = ["sent", "delivered", "opened", "clicked", "converted"];
  function campaignCountLink(id, metric, variant, rank, n, plain) {
    if (!n || plain) { return num(n); }
    const path = [metric, variant || "*", rank || "*"];
    return el("a", { href: "#/campaigns/" + enc(id) + "/customers/" + path.map(enc).join("/"), class: "count-link", "data-campaign-drill": path.join(":"),
      title: t("campaigns.drill_link", { who: t("campaign_who." + metric) }), text: num(n) });
  }
  function campaignResultRow(id, variant, rank, label, counts, extra, plain) {
    return [label, ...CAMPAIGN_METRICS.map((m) => campaignCountLink(id, m, variant, rank, counts[m], plain)), yen(counts.revenue)].concat(extra || []);
  }
  function campaignSource(id, who) {
    const params = Object.assign({ metric: who.metric }, who.variant ? { variant: who.variant } : {}, who.rank ? { rank: who.rank } : {});
    return messengerListSource("/v1/campaigns/" + enc(id) + "/customers", params, "campaigns.drill_description");
  }
  /* The customers a messenger drill-down route lists (`count`, `customer_ids`,
     `next_cursor`), and how they are saved: every page read, then one listed segment. */
  function messengerListSource(path, params, description) {
    const query = (extra) => path + "?" + new URLSearchParams(Object.assign({}, params, extra));
    return {
      load: async () => { const b = (await api(query({ limit: "500" }))).body; return { count: b.count, ids: b.customer_ids, times: b.times, stats: b.stats }; },
      save: async (segmentId, name) => {
        const ids = [];
        let cursor = null;
        do {
          const b = (await api(query(Object.assign({ limit: "1000" }, cursor ? { cursor: cursor } : {})))).body;
          ids.push(...b.customer_ids);
          cursor = b.next_cursor;
        } while (cursor);
        const body = { segment_id: segmentId, name: name.slice(0, 100), description: t(description), customer_ids: ids };
        return (await api("/v1/segments/listed", { method: "POST", json: body })).body;
      },
    };
  }
  function listedSegmentId(parts) {
    const id = parts.filter(Boolean).join("-").toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^[-_]+/, "").slice(0, 63).replace(/[-_]+$/, "");
    return id || "listed";
  }
  async function campaignDrill(id, metric, variant, rank) {
    const c = (await api("/v1/campaigns/" + enc(id))).body;
    main.append(el("p", {}, el("a", { href: "#/campaigns/" + enc(id), id: "campaign-back", text: t("campaigns.back", { name: c.name }) })));
    if (!CAMPAIGN_METRICS.includes(metric) || !variant || !rank) { main.append(el("p", { class: "notice", text: t("drill.unknown") })); return; }
    const who = { metric: metric, variant: variant === "*" ? null : variant, rank: rank === "*" ? null : rank };
    const label = t("campaigns.drill", { campaign: c.name, who: t("campaign_who." + metric),
      variant: who.variant ? t("campaigns.variant_n", { name: who.variant }) : t("campaigns.all_variants"), rank: who.rank ? t("rank." + who.rank) : t("campaigns.all_ranks") });
    main.append(el("h1", { text: label }));
    const section = el("section", { id: "drill", "aria-live": "polite" });
    main.append(section);
    const segmentId = listedSegmentId(["campaign", id, who.variant, who.rank, metric]);
    await drillSection(section, campaignSource(id, who), segmentId, label, (n) => t("drill.title", { label: label, n: num(n) }));
  }
  async function campaignForm(segmentId) {
    main.append(el("h1", { text: t("campaigns.new") }));
    if (!can("messages:send")) { main.append(el("p", { class: "notice", id: "readonly-note", text: t("campaigns.readonly") })); return; }
    const segments = (await api("/v1/segments?limit=200")).body;
    const status = el("p", { id: "campaign-status", role: "status" });
    const select = el("select", { id: "campaign-segment", name: "segment", required: true },
      segments.map((sg) => el("option", { value: sg.segment_id, text: segmentName(sg) + " (" + sg.segment_id + ")" })));
    if (segmentId) { select.value = segmentId; }
    const variants = el("div", { id: "campaign-variant-list" });
    const addVariant = () => {
      const n = variants.children.length;
      const letter = String.fromCharCode(65 + n);
      const suffix = n ? "-" + letter : "";
      variants.append(el("fieldset", { class: "variant", "data-variant": letter }, [
        el("legend", { text: t("campaigns.variant_n", { name: letter }) }),
        el("label", { for: "campaign-subject" + suffix, text: t("campaigns.subject") }), el("input", { id: "campaign-subject" + suffix, class: "variant-subject", type: "text", required: true }),
        el("label", { for: "campaign-body" + suffix, text: t("campaigns.body") }), el("textarea", { id: "campaign-body" + suffix, class: "variant-body", rows: "6", required: true }),
      ]));
      add.hidden = variants.children.length >= 8;
      metricRow.hidden = variants.children.length < 2;
    };
    const add = el("button", { type: "button", id: "add-variant", text: t("campaigns.add_variant") });
    const metric = el("select", { id: "campaign-metric", name: "metric" }, [["opens", t("campaigns.metric_opens")], ["clicks", t("campaigns.metric_clicks")]].map(([m, label]) => el("option", { value: m, text: label })));
    const metricRow = el("div", { class: "form", id: "campaign-metric-row" }, [el("label", { for: "campaign-metric", text: t("campaigns.metric") }), metric, el("p", { class: "muted", text: t("campaigns.ab_help") })]);
    add.addEventListener("click", addVariant);
    const form = el("form", { id: "campaign-form", class: "card form" }, [
      el("label", { for: "campaign-name", text: t("campaigns.name") }), el("input", { id: "campaign-name", name: "name", type: "text", required: true }),
      el("label", { for: "campaign-segment", text: t("campaigns.segment") }), select,
      variants, el("div", { class: "row" }, add), metricRow,
      el("label", { for: "campaign-when", text: t("campaigns.when") }), el("input", { id: "campaign-when", name: "when", type: "datetime-local" }),
      el("button", { type: "submit", class: "primary", text: t("campaigns.create") }),
    ]);
    addVariant();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const f = form.elements;
      const id = "console-" + Date.now().toString(36);
      const blocks = [...variants.children];
      try {
        const chosen = [];
        for (const block of blocks) {
          const letter = block.dataset.variant;
          const messageId = blocks.length > 1 ? id + "-" + letter.toLowerCase() : id;
          const body = block.querySelector(".variant-body").value;
          const html = body.split(/\n{2,}/).map((p) => "<p>" + escapeHtml(p).replace(/\n/g, "<br>") + "</p>").join("\n");
          await api("/v1/messages", { method: "POST", json: { message_id: messageId, name: f.name.value + (blocks.length > 1 ? " " + letter : ""), email: { subject: block.querySelector(".variant-subject").value, html: html, text: body } } });
          chosen.push({ name: letter, message_id: messageId });
        }
        const campaign = { campaign_id: id, name: f.name.value, segment_id: f.segment.value, variants: chosen };
        if (chosen.length > 1) { campaign.metric = metric.value; }
        if (f.when.value) { campaign.scheduled_at = new Date(f.when.value).toISOString(); }
        await api("/v1/campaigns", { method: "POST", json: campaign });
        location.hash = "#/campaigns/" + enc(id);
      } catch (err) { status.className = "error"; status.textContent = problem(err); }
    });
    main.append(form, status);
  }

  // ------------------------------------------------------------------ journeys
  function lift(l) {
    if (!l) { return "—"; }
    const signed = (v) => (v > 0 ? "+" : "") + pct(v);
    const [lo, hi] = l.ci95;
    return t("journeys.lift_value", { d: signed(l.difference), lo: lo === null ? "—" : signed(lo), hi: hi === null ? "—" : signed(hi) });
  }
  async function journeysView(args) {
    if (args && args[1] === "customers") { await journeyDrill(args[0], args[2], args[3]); return; }
    main.append(el("h1", { text: t("journeys.title") }));
    const [builtins, journeys] = await Promise.all([api("/v1/journeys/builtins"), api("/v1/journeys?limit=100")].map((p) => p.then((r) => r.body)));
    main.append(el("h2", { text: t("journeys.builtins") }));
    const writer = can("messages:send");
    main.append(el("div", { class: "card" }, table([t("journeys.name"), t("journeys.steps"), t("table.status"), writer ? t("journeys.switch") : ""],
      builtins.map((b) => {
        const on = b.status === "active";
        let control = "";
        if (writer) {
          control = el("button", { type: "button", "data-builtin": b.name, "aria-pressed": String(on), text: on ? t("journeys.disable") : t("journeys.enable") });
          control.addEventListener("click", async () => {
            control.disabled = true;
            await api("/v1/journeys/builtins/" + enc(b.name) + "/" + (on ? "disable" : "enable"), { method: "POST" });
            await render();
          });
        }
        return [b.title[lang] || b.title.ja || b.name, num(b.steps), t("journey_status." + (b.status || "off")), control];
      }), { id: "builtins" })));
    main.append(el("h2", { text: t("journeys.running") }));
    if (!journeys.length) { main.append(el("p", { class: "muted", id: "journeys", text: t("journeys.none") })); return; }
    const stats = await Promise.all(journeys.map((j) => api("/v1/journeys/" + enc(j.journey_id) + "/stats").then((r) => r.body)));
    main.append(el("p", { class: "muted", text: t("journeys.lift_help") }));
    const link = (j, metric, n, step) => journeyCountLink(j.journey_id, metric, step, n);
    main.append(el("div", { class: "card" }, table(
      [t("journeys.name"), t("table.status"), t("journeys.entered"), t("journeys.holdout"), t("stats.sent"), t("stats.opened"), t("stats.clicked"), t("stats.converted"), t("journeys.lift")],
      journeys.map((j, i) => [j.name, t("journey_status." + j.status), link(j, "entered", stats[i].entered), link(j, "holdout", stats[i].holdout), link(j, "sent", stats[i].sent), link(j, "opened", stats[i].opened),
        link(j, "clicked", stats[i].clicked), link(j, "converted", stats[i].converted), lift(stats[i].lift.conversion)]), { id: "journeys" })));
    const definitions = await Promise.all(journeys.map((j) => api("/v1/journeys/" + enc(j.journey_id)).then((r) => r.body.definition)));
    for (const [i, j] of journeys.entries()) {
      const steps = Object.entries(stats[i].steps);
      const groups = el("p", { class: "journey-groups" }, [t("journeys.treated") + " ", link(j, "treated", stats[i].entered - stats[i].holdout),
        " · " + t("journeys.holdout_converted") + " ", link(j, "holdout_converted", stats[i].holdout_converted)]);
      main.append(el("details", { class: "card", "data-journey": j.journey_id }, [el("summary", { text: t("journeys.steps_of", { name: j.name }) }),
        journeyPicture(definitions[i], stats[i].steps, j.journey_id), groups,
        weeksTable(stats[i].weeks || []),
        steps.length ? table([t("journeys.step"), t("stats.sent"), t("stats.delivered"), t("stats.opened"), t("stats.clicked")],
          steps.map(([step, c]) => [step, ...JOURNEY_STEP_METRICS.map((m) => link(j, m, c[m] || 0, step))]), { class: "journey-steps" }) : null]));
    }
  }
  /* A count of a journey's stats → its customers (`GET /v1/journeys/{id}/customers`):
     journey-wide (entered, treated, holdout, converted in either group) or a step's. */
  const JOURNEY_STEP_METRICS = ["sent", "delivered", "opened", "clicked"];
  function journeyCountLink(id, metric, step, n) {
    if (!n) { return num(n); }
    const path = [metric, step || "*"];
    return el("a", { href: "#/journeys/" + enc(id) + "/customers/" + path.map(enc).join("/"), class: "count-link", "data-journey-drill": path.join(":"),
      title: t("journeys.drill_link", { who: t("journey_who." + metric) }), text: num(n) });
  }
  async function journeyDrill(id, metric, step) {
    main.append(el("p", {}, el("a", { href: "#/journeys", id: "journey-back", text: t("journeys.back") })));
    const steps = JOURNEY_STEP_METRICS;
    const groups = ["entered", "treated", "holdout", "converted", "holdout_converted"];
    if (!step || (step === "*" ? !groups.includes(metric) && !steps.includes(metric) : !steps.includes(metric))) { main.append(el("p", { class: "notice", text: t("drill.unknown") })); return; }
    const j = (await api("/v1/journeys/" + enc(id))).body;
    const who = t("journey_who." + metric);
    const label = step !== "*" ? t("journeys.drill_step", { journey: j.name, step: step, who: who })
      : steps.includes(metric) ? t("journeys.drill_all_steps", { journey: j.name, who: who }) : t("journeys.drill", { journey: j.name, who: who });
    main.append(el("h1", { text: label }));
    const section = el("section", { id: "drill", "aria-live": "polite" });
    main.append(section);
    const params = Object.assign({ metric: metric }, step === "*" ? {} : { step: step });
    const source = messengerListSource("/v1/journeys/" + enc(id) + "/customers", params, "journeys.drill_description");
    const load = source.load;
    source.load = async () => {
      const found = await load();
      if (found.times !== found.count) { main.insertBefore(el("p", { class: "muted", id: "drill-times", text: t("journeys.drill_times", { n: num(found.count), times: num(found.times) }) }), section); }
      if (found.stats > found.times) { main.insertBefore(el("p", { class: "notice", id: "drill-before", text: t("journeys.drill_before", { n: num(found.stats - found.times) }) }), section); }
      return found;
    };
    const segmentId = listedSegmentId(["journey", id, step === "*" ? null : step, metric]);
    await drillSection(section, source, segmentId, label, (n) => t("drill.title", { label: label, n: num(n) }));
  }
  /* A journey's numbers per calendar week (Monday, Tokyo; the newest 8): "come back a
     week later to see whether it worked". */
  function weeksTable(weeks) {
    const recent = weeks.slice(-8).reverse();
    return el("div", {}, [el("h3", { text: t("journeys.weeks") }), recent.length ? table([t("journeys.week"), t("stats.sent"), t("stats.opened"), t("stats.clicked"), t("stats.converted")],
      recent.map((w) => [t("journeys.week_of", { date: day(w.week + "T00:00:00+09:00") }), num(w.sent), num(w.opened), num(w.clicked), num(w.converted)]), { class: "weeks" })
      : el("p", { class: "muted weeks", text: t("journeys.no_weeks") })]);
  }
  function duration(raw) {
    const parts = [["days", "step.days"], ["hours", "step.hours"], ["minutes", "step.minutes"]].filter(([k]) => raw[k]).map(([k, key]) => t(key, { n: num(raw[k]) }));
    return parts.join(" ") || t("step.minutes", { n: 0 });
  }
  function stepDetail(raw) {
    switch (raw.type) {
      case "wait": return t("step.wait_for", { d: duration(raw) });
      case "wait_until": return t("step.wait_until", { d: duration(raw), anchor: raw.anchor });
      case "wait_local_time": return t("step.wait_local_time", { time: String(raw.hour).padStart(2, "0") + ":" + String(raw.minute || 0).padStart(2, "0") });
      case "wait_event": return t("step.wait_event", { event: raw.event, d: duration(raw) });
      case "send": return t("step.send", { message: raw.message_id }) + (raw.coupon_pool ? " · " + t("step.coupon", { pool: raw.coupon_pool }) : "");
      case "branch": return t("step.branch", { rule: JSON.stringify(raw.condition) });
      case "split": return t("step.split", { n: (raw.variants || []).length });
      case "tag": return t("step.tag", { tag: raw.tag });
      default: return t("step.exit");
    }
  }
  function journeyPicture(definition, counts, journeyId) {
    /* A read-only picture of a journey: its trigger, then each step from the start in
       the order it is reached, with where it leads and its counts (a list of boxes and
       arrows, read by a screen reader as the same text). */
    const steps = definition.steps || {};
    const trigger = definition.trigger || {};
    const start = trigger.segment ? t("trigger.segment", { segment: trigger.segment }) : trigger.event ? t("trigger.event", { event: trigger.event }) : t("trigger.date", { field: trigger.date_field || "" });
    const order = [];
    const queue = [definition.start];
    while (queue.length) {
      const id = queue.shift();
      if (!id || order.includes(id) || !steps[id]) { continue; }
      order.push(id);
      const raw = steps[id];
      queue.push(raw.next, raw.timeout_next, raw.else_next, ...(raw.variants || []).map((v) => v.next));
    }
    const edges = (raw) => [
      raw.next ? [raw.type === "branch" ? t("step.if_yes") : raw.type === "wait_event" ? t("step.on_event") : "", raw.next] : null,
      raw.else_next ? [t("step.if_no"), raw.else_next] : null,
      raw.timeout_next ? [t("step.on_timeout"), raw.timeout_next] : null,
      ...(raw.variants || []).map((v) => [v.name, v.next]),
    ].filter(Boolean);
    const graph = journeyGraph(definition.start, steps, order, edges, counts, start, journeyId);
    return el("div", {}, [graph, el("ol", { class: "flow", "aria-label": t("journeys.picture") }, [
      el("li", { class: "flow-step flow-trigger" }, [el("strong", { text: t("journeys.trigger") }), el("span", { text: start })]),
      ...order.map((id) => {
        const raw = steps[id];
        const c = counts[id] || {};
        const next = edges(raw);
        return el("li", { class: "flow-step flow-" + raw.type, "data-step": id }, [
          el("strong", { text: id + " · " + t("step_type." + raw.type) }),
          el("span", { text: stepDetail(raw) }),
          raw.type === "send" ? el("span", { class: "muted step-counts" }, ["sent", "opened", "clicked"].flatMap((m, k) =>
            [(k ? " · " : "") + t("stats." + m) + " ", journeyCountLink(journeyId, m, id, c[m] || 0)])) : null,
          next.length ? el("span", { class: "flow-next", text: next.map(([label, to]) => "→ " + (label ? label + ": " : "") + to).join("  ") }) : el("span", { class: "flow-next", text: t("step.end") }),
        ]);
      }),
    ])]);
  }
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) { if (k === "text") { node.textContent = v; } else { node.setAttribute(k, v); } }
    for (const child of [].concat(children || [])) { if (child) { node.append(child); } }
    return node;
  }
  const NODE_COLOURS = { trigger: "#b8860b", send: "#1e7b4f", exit: "#b3261e", branch: "#2b59c3", split: "#2b59c3", wait_event: "#2b59c3" };
  function clip(text, most) { return text.length > most ? text.slice(0, most - 1) + "…" : text; }
  /* The journey drawn as a graph: the trigger on top, then each step on the row of its
     distance from the start (the first way it is reached), an arrow per way on (labelled:
     yes / no, on the event, on timeout, a variant), a send's counts in its box. The list
     below it says the same in text (the picture is hidden from screen readers). */
  let graphs = 0;
  function journeyGraph(first, steps, order, edges, counts, startText, journeyId) {
    const arrow = "flow-arrow-" + (++graphs);
    const W = 190, H = 58, GX = 28, GY = 46;
    const depth = new Map([["__start", 0]]);
    const queue = [[first, 1]];
    while (queue.length) {
      const [id, d] = queue.shift();
      if (!steps[id] || depth.has(id)) { continue; }
      depth.set(id, d);
      for (const [, to] of edges(steps[id])) { queue.push([to, d + 1]); }
    }
    const rows = [];
    for (const id of ["__start", ...order]) { const d = depth.get(id); (rows[d] = rows[d] || []).push(id); }
    const widest = Math.max(...rows.map((r) => r.length));
    const width = widest * (W + GX) + GX, height = rows.length * (H + GY) + GY / 2;
    const at = new Map();
    rows.forEach((ids, d) => ids.forEach((id, i) => {
      const offset = (width - ids.length * (W + GX) + GX) / 2;
      at.set(id, { x: offset + i * (W + GX), y: GY / 2 + d * (H + GY) });
    }));
    const lines = [], labels = [];
    const link = (from, to, label) => {
      const a = at.get(from), b = at.get(to);
      if (!a || !b) { return; }
      const x1 = a.x + W / 2, y1 = a.y + H, x2 = b.x + W / 2, y2 = b.y;
      const back = y2 <= y1;
      const bend = back ? Math.max(a.x, b.x) + W + GX / 2 : null;
      const d = back ? `M${a.x + W},${a.y + H / 2} C${bend},${a.y + H / 2} ${bend},${b.y + H / 2} ${b.x + W},${b.y + H / 2}`
        : `M${x1},${y1} C${x1},${y1 + GY / 2} ${x2},${y2 - GY / 2} ${x2},${y2 - 4}`;
      lines.push(svg("path", { d: d, fill: "none", stroke: "#8a8f9c", "stroke-width": "1.5", "marker-end": "url(#" + arrow + ")", "data-edge": from + ">" + to }));
      if (label) { labels.push(svg("text", { x: back ? bend : (x1 + x2) / 2 + 4, y: back ? (a.y + b.y + H) / 2 : y1 + GY / 2 + 4, "font-size": "11", fill: "#555", text: clip(label, 18) })); }
    };
    link("__start", first, "");
    for (const id of order) { for (const [label, to] of edges(steps[id])) { link(id, to, label); } }
    const box = (id) => {
      const p = at.get(id);
      const raw = id === "__start" ? { type: "trigger" } : steps[id];
      const c = counts[id] || {};
      const colour = NODE_COLOURS[raw.type] || "#6b7280";
      const title = id === "__start" ? t("journeys.trigger") : id + " · " + t("step_type." + raw.type);
      const detail = id === "__start" ? startText : raw.type === "send" ? t("journeys.step_counts", { sent: num(c.sent || 0), opened: num(c.opened || 0), clicked: num(c.clicked || 0) }) : stepDetail(raw);
      const node = svg("g", { "data-node": id === "__start" ? "" : id, class: "flow-node" }, [
        svg("rect", { x: p.x, y: p.y, width: W, height: H, rx: 6, fill: "#fff", stroke: colour, "stroke-width": "1.5" }),
        svg("rect", { x: p.x, y: p.y, width: 6, height: H, fill: colour }),
        svg("text", { x: p.x + 14, y: p.y + 22, "font-size": "13", "font-weight": "600", fill: "#1d2230", text: clip(title, 24) }),
        svg("text", { x: p.x + 14, y: p.y + 42, "font-size": "11", fill: "#555", text: clip(detail, 30) }),
      ]);
      /* A send with sends leads to the people it was sent to (the list below offers
         each count by keyboard: the picture is hidden from screen readers). */
      if (raw.type !== "send" || !c.sent || !journeyId) { return node; }
      return svg("a", { href: "#/journeys/" + enc(journeyId) + "/customers/sent/" + enc(id), "data-node-drill": id, tabindex: "-1" }, node);
    };
    return svg("svg", { class: "flow-graph", viewBox: `0 0 ${width} ${height}`, width: width, height: height, "aria-hidden": "true" }, [
      svg("defs", {}, svg("marker", { id: arrow, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8a8f9c" }))),
      ...lines, ...labels, ...["__start", ...order].map(box),
    ]);
  }

  async function journeyEnrol(holder, segmentId) {
    /* "Put these customers into a journey": the shop's active journeys that a segment
       triggers take a segment's members on demand, a page per call until none is left. */
    const journeys = (await api("/v1/journeys?limit=100")).body.filter((j) => j.status === "active" && (j.enrols_on || []).includes("segment.entered"));
    if (!journeys.length) {
      holder.append(el("p", { class: "muted", id: "enrol-none" }, [t("enrol.none") + " ", el("a", { href: "#/journeys", text: t("nav.journeys") })]));
      return;
    }
    const select = el("select", { id: "enrol-journey", "aria-label": t("enrol.journey") }, journeys.map((j) => el("option", { value: j.journey_id, text: j.name })));
    const button = el("button", { type: "button", class: "primary", id: "enrol", text: t("enrol.submit") });
    const status = el("p", { id: "enrol-status", role: "status" });
    button.addEventListener("click", async () => {
      button.disabled = true;
      status.className = "";
      status.textContent = t("enrol.running");
      let entered = 0, not = 0, after = null;
      try {
        do {
          const page = (await api("/v1/journeys/" + enc(select.value) + "/enrolments", { method: "POST", json: after ? { segment_id: segmentId, after: after } : { segment_id: segmentId } })).body;
          entered += page.entered; not += page.not_entered; after = page.next_after;
        } while (after);
        status.className = "ok";
        status.textContent = t("enrol.done", { entered: num(entered), not: num(not) });
      } catch (err) { status.className = "error"; status.textContent = problem(err); }
      button.disabled = false;
    });
    holder.append(el("div", { class: "row" }, [el("label", { for: "enrol-journey", text: t("enrol.journey") }), select, button]), status);
  }

  // ------------------------------------------------------------------ segments
  const FIELDS = {
    order_count: "number", revenue: "number", average_order_value: "number", r_score: "number", f_score: "number", m_score: "number",
    p_alive: "number", predicted_clv_365d: "number", rfm_rank: "string", f_stage: "string", acquisition_channel: "string",
    prefecture: "string", gender: "string", age_band: "string", last_order_at: "datetime", first_order_at: "datetime",
    categories: "set", skus: "set", tags: "set", has_email: "bool", has_line: "bool",
  };
  const OPS = {
    number: ["eq", "ne", "gt", "gte", "lt", "lte"], string: ["eq", "ne", "contains"], datetime: ["within_last_days", "older_than_days"],
    set: ["contains"], bool: ["eq"],
  };
  function segmentName(sg) {
    const key = "builtin_segment." + sg.segment_id;
    return sg.builtin && messages[key] !== undefined ? t(key) : sg.name;
  }
  function conditionRow(onChange, initial) {
    const start = initial || { field: "order_count", op: "gte", value: "2" };
    const field = el("select", { class: "cond-field", "aria-label": t("segments.field") }, Object.keys(FIELDS).map((f) => el("option", { value: f, text: t("field." + f) })));
    const op = el("select", { class: "cond-op", "aria-label": t("segments.op") });
    const value = el("input", { class: "cond-value", type: "text", "aria-label": t("segments.value"), value: start.value });
    const remove = el("button", { type: "button", class: "cond-remove", text: t("segments.remove") });
    const fillOps = () => {
      const kind = FIELDS[field.value];
      const keep = op.value;
      op.replaceChildren(...OPS[kind].map((o) => el("option", { value: o, text: t("op." + o) })));
      if (OPS[kind].includes(keep)) { op.value = keep; }
      if (kind === "bool" && !["true", "false"].includes(value.value)) { value.value = "true"; }
    };
    field.value = start.field;
    fillOps();
    op.value = start.op;
    const row = el("div", { class: "row condition" }, [field, op, value, remove]);
    field.addEventListener("change", () => { fillOps(); onChange(); });
    op.addEventListener("change", onChange);
    value.addEventListener("input", onChange);
    remove.addEventListener("click", () => { row.remove(); onChange(); });
    row.rule = () => {
      const kind = FIELDS[field.value];
      const raw = value.value.trim();
      let v = raw;
      if ((kind === "number" || kind === "datetime") && raw !== "" && !isNaN(Number(raw))) { v = Number(raw); }
      if (kind === "bool") { v = raw === "true"; }
      return { field: field.value, op: op.value, value: v };
    };
    return row;
  }
  async function segmentsView(args) {
    if (args.length) { await segmentMembers(args[0]); return; }
    main.append(el("h1", { text: t("segments.title") }));
    main.append(el("h2", { text: t("segments.builder") }));
    main.append(el("p", { class: "muted", text: t("segments.builder_help") }));
    const match = el("select", { id: "builder-match", "aria-label": t("segments.match") }, [el("option", { value: "all", text: t("segments.all") }), el("option", { value: "any", text: t("segments.any") })]);
    const conditions = el("div", { id: "conditions" });
    const count = el("p", { id: "builder-count", role: "status", "aria-live": "polite" });
    const ruleText = el("pre", { id: "builder-rule", class: "rule" });
    let timer = null;
    let asked = 0;
    const rule = () => ({ [match.value]: [...conditions.children].map((row) => row.rule()) });
    const refresh = () => {
      clearTimeout(timer);
      count.dataset.ready = "false";
      timer = setTimeout(async () => {
        const mine = ++asked;
        const current = rule();
        ruleText.textContent = JSON.stringify(current);
        try {
          const preview = (await api("/v1/segments/preview", { method: "POST", json: { rule: current, sample: 0 } })).body;
          if (mine !== asked) { return; }
          count.className = "count";
          count.textContent = t("segments.count", { n: num(preview.count) });
        } catch (err) {
          if (mine !== asked) { return; }
          count.className = "error";
          count.textContent = problem(err);
        }
        count.dataset.ready = "true";
      }, 250);
    };
    const add = el("button", { type: "button", id: "add-condition", text: t("segments.add") });
    add.addEventListener("click", () => { conditions.append(conditionRow(refresh)); refresh(); });
    match.addEventListener("change", refresh);
    conditions.append(conditionRow(refresh));
    main.append(el("div", { class: "card", id: "builder" }, [el("div", { class: "row" }, [el("label", { for: "builder-match", text: t("segments.match") }), match]), conditions, el("div", { class: "row" }, add), count, ruleText]));
    if (can("segments:write")) {
      const status = el("p", { id: "segment-status", role: "status" });
      const form = el("form", { id: "segment-form", class: "card form" }, [
        el("label", { for: "segment-id", text: t("segments.id") }), el("input", { id: "segment-id", name: "segment_id", type: "text", required: true }),
        el("label", { for: "segment-name", text: t("segments.name") }), el("input", { id: "segment-name", name: "name", type: "text", required: true }),
        el("button", { type: "submit", class: "primary", text: t("segments.save") }),
      ]);
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          const created = (await api("/v1/segments", { method: "POST", json: { segment_id: form.elements.segment_id.value.trim(), name: form.elements.name.value, rule: rule() } })).body;
          status.className = "ok";
          await drawList();
          await showWhenCounted(status, created);
          await drawList();
        } catch (err) { status.className = "error"; status.textContent = problem(err); }
      });
      main.append(form, status);
    }
    refresh();
    main.append(el("h2", { text: t("segments.list") }));
    const listCard = el("div", { class: "card" });
    main.append(listCard);
    const drawList = async () => {
      const segments = (await api("/v1/segments?limit=200")).body;
      listCard.replaceChildren(table([t("segments.name"), t("segments.id"), t("table.customers"), t("segments.kind"), ""],
        segments.map((sg) => [el("a", { href: "#/segments/" + enc(sg.segment_id), text: segmentName(sg) }), sg.segment_id, sg.member_count === null ? "—" : num(sg.member_count),
          sg.builtin ? t("segments.builtin") : t("segments.custom"),
          can("messages:send") ? el("a", { href: "#/campaigns/new/" + enc(sg.segment_id), text: t("segments.send") }) : ""]), { id: "segments" }));
    };
    await drawList();
  }
  async function segmentMembers(id) {
    const segment = (await api("/v1/segments/" + enc(id))).body;
    main.append(el("h1", { id: "segment-title", text: segmentName(segment) }));
    main.append(el("pre", { class: "rule card", text: JSON.stringify(segment.rule) }));
    const members = (await api("/v1/segments/" + enc(id) + "/members?limit=500")).body;
    main.append(el("div", { class: "row" }, [
      el("a", { class: "button", href: "/v1/segments/" + enc(id) + "/export?format=csv", download: id + ".csv", text: t("segments.export_csv") }),
      el("a", { class: "button", href: "/v1/segments/" + enc(id) + "/export?format=hashed", download: id + "-hashed.csv", text: t("segments.export_hashed") }),
      can("messages:send") ? linkButton("#/campaigns/new/" + enc(id), t("segments.send"), "send-campaign") : null,
    ]));
    if (can("messages:send")) { const holder = el("div", {}); main.append(holder); await journeyEnrol(holder, id); }
    main.append(el("h2", { text: t("segments.members", { n: num(segment.member_count ?? members.customer_ids.length) }) }));
    // The count is live (every entry and exit since the recount is in it): say when it was recounted.
    main.append(el("p", { class: "muted", id: "segment-counted", "data-at": segment.counted_at || "",
      text: segment.counted_at ? t("segments.counted_at", { when: when(segment.counted_at) }) : t("segments.not_counted") }));
    main.append(el("ul", { class: "ids card", id: "members" }, members.customer_ids.map((c) => el("li", {}, el("a", { href: "#/customers/" + enc(c), text: c })))));
  }

  // ------------------------------------------------------------------ deliveries
  const DELIVERY_ROWS = [20, 50, 200, 500];
  function deliveryRows() {
    const chosen = Number(localStorage.getItem("kizuna.deliveries.rows"));
    return DELIVERY_ROWS.includes(chosen) ? chosen : 200;
  }
  const DELIVERY_STATUSES = ["sent", "skipped", "failed", "deferred", "retry_scheduled", "dead_letter", "sending", "packed", "dropped"];
  async function deliveriesView(args) {
    main.append(el("h1", { text: t("deliveries.title") }));
    const wanted = args[0] && args[0] !== "all" ? args[0] : "";
    const cursor = args[1] || "";
    const filter = el("select", { id: "delivery-status", "aria-label": t("table.status") }, [el("option", { value: "", text: t("deliveries.all") }),
      ...DELIVERY_STATUSES.map((st) => el("option", { value: st, text: t("delivery." + st) }))]);
    filter.value = wanted;
    filter.addEventListener("change", () => { location.hash = "#/deliveries" + (filter.value ? "/" + filter.value : ""); });
    main.append(el("div", { class: "row" }, [el("label", { for: "delivery-status", text: t("deliveries.filter") }), filter]));
    const rows = el("select", { id: "delivery-rows", "aria-label": t("deliveries.rows") }, DELIVERY_ROWS.map((n) => el("option", { value: String(n), text: t("deliveries.rows_n", { n: n }) })));
    rows.value = String(deliveryRows());
    rows.addEventListener("change", () => { localStorage.setItem("kizuna.deliveries.rows", rows.value); render(); });
    main.lastChild.append(el("label", { for: "delivery-rows", text: t("deliveries.rows") }), rows);
    const read = await api("/v1/deliveries?limit=" + deliveryRows() + (wanted ? "&status=" + enc(wanted) : "") + (cursor ? "&cursor=" + enc(cursor) : ""));
    const log = read.body;
    const here = "#/deliveries/" + (wanted || "all");
    const paging = el("nav", { class: "row paging", "aria-label": t("deliveries.pages") }, [
      cursor ? el("a", { class: "button", id: "deliveries-newest", href: here, text: t("deliveries.newest") }) : null,
      read.next ? el("a", { class: "button", id: "deliveries-older", href: here + "/" + enc(read.next), text: t("deliveries.older") }) : null,
    ]);
    const channels = [...new Set(log.map((d) => d.channel))].sort();
    const seen = DELIVERY_STATUSES.filter((st) => log.some((d) => d.status === st));
    if (!log.length) main.append(el("p", { class: "muted", id: "deliveries-empty", text: t("deliveries.none") }));
    main.append(el("h2", { text: t("deliveries.per_channel") }));
    main.append(el("div", { class: "card" }, table([t("table.channel"), ...seen.map((st) => t("delivery." + st)), t("table.total")],
      channels.map((ch) => [ch, ...seen.map((st) => num(log.filter((d) => d.channel === ch && d.status === st).length)), num(log.filter((d) => d.channel === ch).length)]),
      { id: "delivery-channels" })));
    main.append(el("h2", { text: t("deliveries.recent") }));
    const redrive = can("messages:send");
    main.append(el("div", { class: "card" }, table([t("table.date"), t("table.customer"), t("table.channel"), t("deliveries.trigger"), t("table.status"), t("deliveries.reason"), ""],
      log.map((d) => {
        let action = "";
        if (redrive && d.status === "dead_letter") {
          action = el("button", { type: "button", "data-redrive": d.delivery_id, text: t("deliveries.redrive") });
          action.addEventListener("click", async () => {
            action.disabled = true;
            try { await api("/v1/deliveries/" + enc(d.delivery_id) + "/redrive", { method: "POST", json: { customer_id: d.customer_id } }); await render(); } catch (err) { action.replaceWith(el("span", { class: "error", text: problem(err) })); }
          });
        }
        return [when(d.sent_at || d.created_at), el("a", { href: "#/customers/" + enc(d.customer_id), text: d.customer_id }), d.channel, d.trigger, t("delivery." + d.status), d.skip_reason || "", action];
      }), { id: "deliveries" })), paging);
  }

  // ------------------------------------------------------------------ surveys
  async function surveysView(args) {
    main.append(el("h1", { text: t("surveys.title") }));
    if (!can("feedback:read")) { main.append(el("p", { class: "notice", id: "surveys-scope", text: t("surveys.scope") })); return; }
    await surveyResults();
    await restockSection(args[0] || "");
  }
  /* Drill-downs of the feedback figures (survey respondents, restock sign-ups): the
     customers another service lists, a page at a time (`customer_ids`, `next_cursor`),
     saved as a segment of exactly those ids by `saveIdsAsSegment` (every page of them,
     `POST /v1/segments/listed`: the segmenter tags them as it does an analytics cell's).
     `figure` is the number the page showed (responses, sign-ups), `count` the distinct
     customers behind it. */
  async function allPagedIds(path, params) {
    const ids = [];
    let cursor = null;
    do {
      const query = new URLSearchParams(Object.assign({ limit: "1000" }, params, cursor ? { cursor: cursor } : {}));
      const b = (await api(path + "?" + query)).body;
      ids.push(...b.customer_ids);
      cursor = b.next_cursor;
    } while (cursor);
    return ids;
  }
  async function saveIdsAsSegment(id, name, description, ids) {
    return (await api("/v1/segments/listed", { method: "POST", json: { segment_id: id, name: name, description: description, customer_ids: ids } })).body;
  }
  function pagedIdsSource(path, params, label, figureKey, figureText, description) {
    const shown = {};
    return {
      load: async () => {
        const b = (await api(path + "?" + new URLSearchParams(Object.assign({ limit: "500" }, params)))).body;
        shown.figure = b[figureKey];
        return { count: b.count, ids: b.customer_ids };
      },
      save: async (id, name) => {
        const ids = await allPagedIds(path, params);
        if (!ids.length) { throw new Error(t("drill.nobody")); }
        return saveIdsAsSegment(id, name.slice(0, 100), t(description || "drill.saved_feedback_description"), ids);
      },
      title: (n) => t("drill.behind", { label: label, n: num(n), figure: figureText(num(shown.figure)) }),
    };
  }
  const NPS_GROUPS = ["promoters", "passives", "detractors"];
  const FEEDBACK_ID = "[A-Za-z0-9][A-Za-z0-9_-]{0,62}";
  Object.assign(DRILLS, {
    /* survey.question.group: an NPS group of a survey's question */
    nps: {
      valid: (v) => new RegExp("^" + FEEDBACK_ID + "\\." + FEEDBACK_ID + "\\.(" + NPS_GROUPS.join("|") + ")$").test(v),
      label: (v) => { const [sv, q, g] = v.split("."); return t("drill.nps", { survey: sv, question: q, group: t("surveys." + g) }); },
      source: (v, label) => { const [sv, q, g] = v.split("."); return pagedIdsSource("/v1/surveys/" + enc(sv) + "/respondents", { question_id: q, group: g }, label, "responses", (n) => t("drill.responses", { n: n })); },
    },
    /* survey.question.answer: one option (or score) of a survey's question */
    answer: {
      valid: (v) => new RegExp("^" + FEEDBACK_ID + "\\." + FEEDBACK_ID + "\\." + FEEDBACK_ID + "$").test(v),
      label: (v) => { const [sv, q, a] = v.split("."); return t("drill.answer", { survey: sv, question: q, answer: a }); },
      source: (v, label) => { const [sv, q, a] = v.split("."); return pagedIdsSource("/v1/surveys/" + enc(sv) + "/respondents", { question_id: q, answer: a }, label, "responses", (n) => t("drill.responses", { n: n })); },
    },
    /* status.sku: a SKU's sign-ups of one status (the SKU may hold any character) */
    signup: {
      valid: (v) => /^(pending|active|unsubscribed)\../.test(v),
      label: (v) => { const i = v.indexOf("."); return t("drill.signup", { sku: v.slice(i + 1), status: t("signup." + v.slice(0, i)) }); },
      source: (v, label) => { const i = v.indexOf("."); return pagedIdsSource("/v1/restock/customers", { sku: v.slice(i + 1), status: v.slice(0, i) }, label, "signups", (n) => t("drill.signups", { n: n })); },
    },
    /* outcome.release.sku: a release's notified / clicked / purchased sign-ups */
    released: {
      valid: (v) => /^(notified|clicked|purchased)\.[A-Za-z0-9_-]+\../.test(v),
      label: (v) => { const [o, r] = v.split("."); return t("drill.released", { sku: v.slice(o.length + r.length + 2), outcome: t("outcome." + o) }); },
      source: (v, label) => { const [o, r] = v.split("."); return pagedIdsSource("/v1/restock/customers", { sku: v.slice(o.length + r.length + 2), release_id: r, outcome: o }, label, "signups", (n) => t("drill.signups", { n: n })); },
    },
    /* metric.monday: an overview week tile (the campaigns scheduled that week and the
       journeys' counters of it); `messages` is the tile's number, `count` its people */
    week: {
      valid: (v) => /^(sent|opened|clicked|converted)\.\d{4}-\d{2}-\d{2}$/.test(v),
      label: (v) => { const [m, d] = v.split("."); return t("drill.week", { who: t("campaign_who." + m), date: day(d + "T00:00:00+09:00") }); },
      source: (v, label) => { const [m, d] = v.split("."); return pagedIdsSource("/v1/deliveries/customers", { metric: m, week: d }, label, "messages", (n) => t("drill.messages", { n: n }), "drill.week_description"); },
    },
    /* month.all|active: the overview's customers and active customers tiles (the list
       analysis at that month's end, as the tiles count them) */
    tile: {
      report: "list-analysis",
      valid: (v) => /^\d{4}-\d{2}\.(all|active)$/.test(v),
      cell: (v) => { const [ym, s] = v.split("."); return { month: ym, state: s }; },
      label: (v) => { const [ym, s] = v.split("."); return t("tile." + s, { month: month(ym) }); },
    },
  });
  function barLink(link, value, max, colour) { return el("span", { class: "barred" }, [bar(value, max, colour), link]); }
  const SIGNUP_STATUSES = ["pending", "active", "unsubscribed"];
  async function restockSection(sku) {
    /* Restock: one SKU's sign-ups by status and every release of it with its early-access
       messages, clicks and purchases (`GET /v1/restock/skus/{sku}`). */
    main.append(el("h2", { text: t("restock.title") }));
    const form = el("form", { class: "row", id: "restock-form", role: "search" }, [
      el("label", { for: "restock-sku", text: t("restock.sku") }),
      el("input", { id: "restock-sku", name: "sku", type: "text", required: true, value: sku, maxlength: "64" }),
      el("button", { type: "submit", class: "primary", text: t("restock.show") }),
    ]);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const wanted = form.elements.sku.value.trim();
      if (wanted) { location.hash = "#/surveys/" + enc(wanted); }
    });
    main.append(form);
    await signupSkus();
    if (!sku) { main.append(el("p", { class: "muted", text: t("restock.help") })); return; }
    const r = (await api("/v1/restock/skus/" + enc(sku))).body;
    main.append(el("div", { class: "card", id: "restock" }, [
      el("p", { id: "restock-stock", text: t("restock.stock", { n: r.stock === null ? "—" : num(r.stock) }) }),
      table([t("restock.signups"), t("restock.signups_col")], SIGNUP_STATUSES.map((st) => [t("signup." + st), signupLink(sku, st, r.signups[st] || 0)]), { id: "restock-signups" }),
      el("h3", { text: t("restock.releases") }),
      r.releases.length ? table([t("restock.started"), t("table.status"), t("restock.stock_at_start"), t("restock.waves"), t("restock.notified"), t("stats.clicked"), t("restock.purchased"), t("restock.early_until"), t("restock.ended")],
        r.releases.map((x) => [when(x.started_at), t("release." + x.status), num(x.stock_at_start), num(x.waves), ...RELEASE_OUTCOMES.map((o) => releaseLink(sku, x, o)), when(x.early_access_until), when(x.ended_at)]),
        { id: "restock-releases" }) : el("p", { class: "muted", id: "restock-releases", text: t("restock.no_releases") }),
    ]));
  }
  /* A restock figure, leading to the customers behind it when there are any. */
  const RELEASE_OUTCOMES = ["notified", "clicked", "purchased"];
  function signupLink(sku, status, n) { return n ? drillLink("signup", status + "." + sku, num(n)) : el("span", { text: num(n) }); }
  function releaseLink(sku, release, outcome) {
    const n = release[outcome];
    return n ? drillLink("released", outcome + "." + release.release_id + "." + sku, num(n)) : el("span", { text: num(n) });
  }
  async function signupSkus() {
    /* The SKUs people signed up for (`GET /v1/restock/skus`, 20 a page by its cursor),
       each leading to its releases: a SKU is picked, not typed. */
    const body = el("tbody", {});
    const more = el("button", { type: "button", id: "restock-more", text: t("restock.more_skus"), hidden: true });
    let cursor = null;
    const load = async () => {
      const page = await api("/v1/restock/skus?limit=20" + (cursor ? "&cursor=" + enc(cursor) : ""));
      for (const x of page.body) {
        body.append(el("tr", {}, [el("th", { scope: "row" }, el("a", { href: "#/surveys/" + enc(x.sku), "data-sku": x.sku, text: x.sku })),
          ...SIGNUP_STATUSES.map((st) => el("td", {}, signupLink(x.sku, st, x.signups[st] || 0)))]));
      }
      cursor = page.next;
      more.hidden = !cursor;
    };
    more.addEventListener("click", () => { load().catch(() => {}); });
    await load();
    main.append(el("div", { class: "card" }, body.children.length ? [el("table", { id: "restock-skus" }, [
      el("caption", { text: t("restock.skus") }),
      el("thead", {}, el("tr", {}, [t("restock.sku"), ...SIGNUP_STATUSES.map((st) => t("signup." + st))].map((h) => el("th", { scope: "col", text: h })))), body]), more]
      : el("p", { class: "muted", id: "restock-skus", text: t("restock.no_skus") })));
  }
  async function surveyResults() {
    const surveys = (await api("/v1/surveys?limit=50")).body;
    if (!surveys.length) { main.append(el("p", { class: "muted", id: "surveys", text: t("surveys.none") })); return; }
    const results = await Promise.all(surveys.map((sv) => api("/v1/surveys/" + enc(sv.survey_id) + "/results").then((r) => r.body)));
    for (const [i, sv] of surveys.entries()) {
      const r = results[i];
      const section = el("section", { class: "card survey", "data-survey": sv.survey_id }, [el("h2", { text: sv.title }), el("p", { class: "muted", text: t("surveys.responses", { n: num(r.total.responses) }) })]);
      for (const q of r.total.questions) {
        section.append(el("h3", { text: q.text }));
        if (q.nps) {
          const n = q.nps;
          const all = Math.max(1, n.promoters + n.passives + n.detractors);
          section.append(el("p", { class: "nps", text: t("surveys.nps", { score: n.score === null ? "—" : num(n.score) }) }));
          const colours = { promoters: "#1e7b4f", passives: "#8a8f9c", detractors: "#b3261e" };
          const split = (g) => (n[g] ? drillLink("nps", sv.survey_id + "." + q.question_id + "." + g, num(n[g])) : el("span", { text: num(n[g]) }));
          section.append(table([t("surveys.group"), t("surveys.responses_col"), t("repeat.share")],
            NPS_GROUPS.map((g) => [t("surveys." + g), barLink(split(g), n[g], all, colours[g]), pct(n[g] / all)]), { class: "nps-split" }));
        } else if (q.kind === "text") {
          section.append(el("ul", {}, q.texts.slice(0, 10).map((x) => el("li", { text: x.text }))));
        } else {
          const most = Math.max(1, ...Object.values(q.counts));
          const chose = (k, v) => (v ? drillLink("answer", sv.survey_id + "." + q.question_id + "." + k, num(v)) : el("span", { text: num(v) }));
          section.append(table([t("surveys.answer"), t("surveys.count")], Object.entries(q.counts).map(([k, v]) => [k, barLink(chose(k, v), v, most)]), { class: "answer-counts", "data-question": q.question_id }));
          if (q.average !== null && q.average !== undefined) { section.append(el("p", { text: t("surveys.average", { n: num(q.average) }) })); }
        }
      }
      main.append(section);
    }
  }

  // ------------------------------------------------------------------ customers
  async function customersView(args) {
    main.append(el("h1", { text: t("customers.title") }));
    const form = el("form", { class: "row", role: "search" }, [
      el("label", { for: "customer-search", class: "sr-only", text: t("customers.search") }),
      el("input", { id: "customer-search", type: "search", name: "q", placeholder: t("customers.search"), value: args[0] || "" }),
      el("button", { type: "submit", class: "primary", text: t("customers.find") }),
    ]);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const q = form.elements.q.value.trim();
      if (q) { location.hash = "#/customers/" + encodeURIComponent(q); }
    });
    main.append(form);
    if (args.length) { await profileView(args[0]); return; }
    const page = (await api("/v1/customers?limit=50")).body;
    main.append(el("div", { class: "card" }, table([t("table.customer"), t("table.stage"), t("table.revenue"), t("table.last_order"), t("table.rank")],
      page.customers.map((p) => [el("a", { href: "#/customers/" + encodeURIComponent(p.customer_id), text: p.customer_id }), p.f_stage, yen(p.revenue), day(p.last_order_at), p.rfm ? t("rank." + p.rfm.rank) : "—"]),
      { id: "customer-list" })));
  }
  /* A topic (step mails, newsletter, ...) is consented as the category "topic:<name>",
     recorded per channel when the person leaves it through an unsubscribe link. */
  function isTopic(consent) { return consent.category.startsWith("topic:"); }
  function topicOf(consent) { return consent.category.slice("topic:".length); }
  async function profileView(id) {
    let profile;
    try {
      profile = (await api("/v1/customers/" + encodeURIComponent(id))).body;
    } catch (err) {
      if (err.status === 404) { main.append(el("p", { class: "notice", id: "not-found", text: t("customers.not_found") })); return; }
      throw err;
    }
    const name = [profile.last_name, profile.first_name].filter(Boolean).join(" ");
    main.append(el("h2", { id: "profile-title", text: name ? name + " (" + profile.customer_id + ")" : profile.customer_id }));
    const facts = [
      ["profile.stage", profile.f_stage], ["profile.orders", num(profile.order_count)], ["profile.revenue", yen(profile.revenue)],
      ["profile.aov", yen(profile.average_order_value)], ["profile.first_order", day(profile.first_order_at)],
      ["profile.last_order", day(profile.last_order_at)], ["profile.next_order", day(profile.expected_next_order_at)],
      ["profile.rfm", profile.rfm ? t("rank." + profile.rfm.rank) + " (R" + profile.rfm.r + " F" + profile.rfm.f + " M" + profile.rfm.m + ")" : "—"],
      ["profile.clv", profile.clv ? yen(profile.clv.predicted_clv_365d) : t("profile.no_clv")],
      ["profile.p_alive", profile.clv ? pct(profile.clv.p_alive) : "—"],
      ["profile.channel", profile.acquisition_channel || "—"],
      ["profile.segments", profile.segments.join(", ") || "—"],
      ["profile.preferences", Object.entries(profile.preferences || {}).map(([k, v]) => k + ": " + v.join(", ")).join("; ") || "—"],
      ["profile.tags", (profile.tags || []).join(", ") || "—"],
      ["profile.topics_left", [...new Set(profile.consents.filter((c) => isTopic(c) && !c.granted).map(topicOf))].sort().join(", ") || t("consent.no_topic_left")],
    ];
    main.append(el("dl", { class: "profile card", id: "profile" }, facts.flatMap(([k, v]) => [el("dt", { text: t(k) }), el("dd", { text: v })])));
    main.append(el("h2", { text: t("profile.consents") }));
    main.append(el("p", { class: "muted", text: t("consent.help") }));
    const consents = profile.consents.slice().sort((a, b) => (isTopic(a) - isTopic(b)) || a.category.localeCompare(b.category) || a.channel.localeCompare(b.channel));
    main.append(el("div", { class: "card" }, consents.length ? table([t("table.channel"), t("consent.what"), t("table.status"), t("table.date"), t("consent.source")],
      consents.map((c) => [c.channel, isTopic(c) ? t("consent.topic", { topic: topicOf(c) }) : t("consent." + c.category),
        c.granted ? t("consent.granted") : t("consent.withdrawn"), day(c.recorded_at), c.source || "—"]), { id: "consents" }) : el("p", { class: "muted", id: "consents", text: "—" })));
    const orders = (await api("/v1/customers/" + encodeURIComponent(profile.customer_id) + "/orders?limit=100")).body;
    main.append(el("h2", { text: t("profile.order_history") }));
    main.append(el("div", { class: "card" }, table([t("table.order"), t("table.date"), t("table.status"), t("table.total")],
      orders.map((o) => [o.order_id, day(o.placed_at), t("order." + o.status), yen(Number(o.total) - Number(o.refunded))]), { id: "orders" })));
    if (can("messages:read")) {
      const deliveries = (await api("/v1/deliveries?limit=20&customer_id=" + encodeURIComponent(profile.customer_id))).body;
      main.append(el("h2", { text: t("profile.deliveries") }));
      main.append(el("div", { class: "card" }, table([t("table.channel"), t("table.status"), t("table.date")],
        deliveries.map((d) => [d.channel || "—", t("delivery." + d.status), day(d.sent_at || d.created_at)]), { id: "deliveries" })));
      const [enrolments, journeys] = await Promise.all([api("/v1/journeys/enrolments?customer_id=" + enc(profile.customer_id)), api("/v1/journeys?limit=100")].map((p) => p.then((r) => r.body)));
      const names = new Map(journeys.map((j) => [j.journey_id, j.name]));
      main.append(el("h2", { text: t("profile.journeys") }));
      main.append(el("div", { class: "card" }, table([t("journeys.name"), t("table.status"), t("profile.entered"), t("journeys.step"), t("profile.converted")],
        enrolments.map((e) => [names.get(e.journey_id) || e.journey_id, t("enrolment." + e.status), day(e.entered_at), e.step || "—", e.converted_at ? day(e.converted_at) : "—"]),
        { id: "profile-journeys" })));
    }
  }

  // ------------------------------------------------------------------ start
  const VIEWS = { drill: drillView, overview: overviewView, rfm: rfmView, repeat: repeatView, ltv: ltvView, diagnosis: diagnosisView, segments: segmentsView, campaigns: campaignsView, journeys: journeysView, deliveries: deliveriesView, surveys: surveysView, customers: customersView };
  document.getElementById("lang").addEventListener("click", async () => {
    lang = lang === "ja" ? "en" : "ja";
    localStorage.setItem("kizuna.lang", lang);
    await loadMessages();
    await render();
  });
  document.getElementById("signout").addEventListener("click", async () => {
    await api("/console/session", { method: "DELETE" }).catch(() => null);
    session = null;
    await render();
  });
  document.querySelector("a.skip").addEventListener("click", (event) => {
    /* "Skip to the content" moves the focus; it must not become the route "#main". */
    event.preventDefault();
    main.focus();
  });
  window.addEventListener("hashchange", () => { if (session) { render(); } });
  (async function start() {
    await loadMessages();
    const link = location.hash.startsWith("#link=") ? location.hash.slice(6) : "";
    if (link) {
      history.replaceState(null, "", location.pathname);
      await signIn(new URLSearchParams({ link: link }), null);
      if (session) { return; }
    }
    try { session = (await api("/console/session")).body; } catch (err) { session = null; }
    await render();
  })();
})();
