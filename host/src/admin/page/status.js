// The status page: polls /metrics (and the plugin API), shows the numbers in
// elements carrying data-metric/data-value (read by the browser test) and
// draws rolling charts on canvases. No libraries: it ships in the binary.
"use strict";
const POLL_MS = Number(new URLSearchParams(location.search).get("poll_ms")) || 1000;
const WINDOW = 120; // points per chart
const history = []; // {t, m} of recent scrapes (one minute kept)
const series = { throughput: [], success: [], p95: [], p99: [], cache: [] };

function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const l of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return samples;
}
const pick = (s, name, f = () => true) => s.filter(x => x.name === name && f(x.labels));
const sum = (s, name, f) => pick(s, name, f).reduce((a, x) => a + x.value, 0);
function buckets(s, name) {
  return pick(s, name + "_bucket").map(x => [/^\+?inf$/i.test(x.labels.le) ? Infinity : Number(x.labels.le), x.value])
    .sort((a, b) => a[0] - b[0]);
}
// Like Prometheus's histogram_quantile: linear within the bucket; the +Inf bucket answers its lower bound.
function quantile(q, bs) {
  if (!bs.length) return NaN;
  const total = bs[bs.length - 1][1];
  if (total <= 0) return NaN;
  const rank = q * total;
  let prevBound = 0, prevCount = 0;
  for (const [bound, count] of bs) {
    if (count >= rank) {
      if (bound === Infinity) return prevBound;
      const inBucket = count - prevCount;
      return inBucket > 0 ? prevBound + (bound - prevBound) * (rank - prevCount) / inBucket : bound;
    }
    prevBound = bound; prevCount = count;
  }
  return prevBound;
}
const minus = (a, b) => a.map(([bound, c], i) => [bound, c - (b[i] ? b[i][1] : 0)]);

function show(key, value, text) {
  const el = document.querySelector(`[data-metric="${key}"]`);
  el.dataset.value = String(value);
  el.textContent = text;
}
const fmtInt = n => Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
const fmtPct = r => Number.isFinite(r) ? (100 * r).toFixed(2) + " %" : "–";
const fmtMs = s => Number.isFinite(s) ? (1000 * s).toFixed(s < 0.01 ? 2 : 1) + " ms" : "–";

function update(m, now) {
  const recordsIn = sum(m, "enricher_records_in_total");
  const enriched = sum(m, "enricher_records_out_total", l => l.output === "enriched");
  const failed = sum(m, "enricher_records_out_total", l => l.output === "failed");
  const success = sum(m, "enricher_records_out_total", l => l.status === "SUCCESS");
  const out = enriched + failed;
  const hits = sum(m, "enricher_lookup_cache_hits_total"), misses = sum(m, "enricher_lookup_cache_misses_total");
  const latency = buckets(m, "enricher_processing_latency_seconds");
  const lag = pick(m, "enricher_consumer_lag_records");
  const state = pick(m, "enricher_pipeline_state").find(x => x.value === 1);
  const plugin = pick(m, "enricher_plugin_info")[0];

  // Rates per second of the host's own clock (right in a browser's virtual time too).
  const uptime = sum(m, "enricher_uptime_seconds");
  history.push({ t: now, uptime, m, recordsIn, success, out, hits, misses, latency });
  while (history.length > 2 && now - history[0].t > 60000) history.shift();
  const prev = history.length > 1 ? history[history.length - 2] : null;
  const old = history[0];

  if (state) {
    const el = document.getElementById("state");
    el.className = "pill " + state.labels.state;
    show("state", state.labels.state, `${state.labels.mode} · ${state.labels.state}`);
  }
  if (plugin) show("plugin", `${plugin.labels.name}@${plugin.labels.version}`,
    `plugin ${plugin.labels.name} ${plugin.labels.version} (${plugin.labels.sha256.slice(0, 12)})`);
  show("records_in", recordsIn, fmtInt(recordsIn));
  show("enriched", enriched, fmtInt(enriched));
  show("failed", failed, fmtInt(failed));
  // The rate between two polls at least a second apart (host uptime); before
  // there are two such polls, the average since the host started.
  const base = [...history].reverse().find((h) => uptime - h.uptime >= 1);
  const rate = base
    ? (recordsIn - base.recordsIn) / (uptime - base.uptime)
    : uptime > 0 ? recordsIn / uptime : NaN;
  show("throughput", Number.isFinite(rate) ? rate : "", fmtInt(rate));
  const successRate = out > 0 ? success / out : NaN;
  show("success_rate", Number.isFinite(successRate) ? successRate : "", fmtPct(successRate));
  const p95 = quantile(0.95, latency), p99 = quantile(0.99, latency);
  show("latency_p95", Number.isFinite(p95) ? p95 : "", fmtMs(p95));
  show("latency_p99", Number.isFinite(p99) ? p99 : "", fmtMs(p99));
  const ratio = hits + misses > 0 ? hits / (hits + misses) : NaN;
  show("cache_hit_ratio", Number.isFinite(ratio) ? ratio : "", fmtPct(ratio));
  const lagTotal = lag.reduce((a, x) => a + x.value, 0);
  show("lag", lag.length ? lagTotal : "", lag.length ? fmtInt(lagTotal) : "–");
  const blocked = sum(m, "enricher_backpressure_seconds_total");
  show("backpressure", blocked, blocked.toFixed(3));
  const commits = sum(m, "enricher_commits_total"), aborts = sum(m, "enricher_aborts_total");
  show("commits", commits, `${fmtInt(commits)} / ${fmtInt(aborts)}`);
  const storeP95 = quantile(0.95, buckets(m, "enricher_store_query_duration_seconds"));
  show("store_p95", Number.isFinite(storeP95) ? storeP95 : "", fmtMs(storeP95));
  show("updated", now, "updated " + new Date(now).toLocaleTimeString());

  // Charts: rates over the last poll, quantiles over the last ten seconds.
  const recent = history.find(h => now - h.t <= 10000) || old;
  const dOut = prev ? out - prev.out : 0;
  push("throughput", rate);
  push("success", dOut > 0 ? 100 * (success - prev.success) / dOut : successRate * 100);
  const windowed = recent !== history[history.length - 1] ? minus(latency, recent.latency) : latency;
  push("p95", 1000 * quantile(0.95, windowed));
  push("p99", 1000 * quantile(0.99, windowed));
  const dAsk = prev ? (hits + misses) - (prev.hits + prev.misses) : 0;
  push("cache", dAsk > 0 ? 100 * (hits - prev.hits) / dAsk : ratio * 100);
  draw("chart-throughput", [series.throughput], ["#3567d6"]);
  draw("chart-success", [series.success], ["#2e9d58"], 0, 100);
  draw("chart-latency", [series.p95, series.p99], ["#d08a1b", "#c2413b"]);
  draw("chart-cache", [series.cache], ["#7a4ec9"], 0, 100);

  failures(m, old.m);
  lagTable(lag);
}
function push(name, v) {
  const s = series[name];
  s.push(Number.isFinite(v) ? v : null);
  if (s.length > WINDOW) s.shift();
}
function draw(id, lines, colors, min, max) {
  const c = document.getElementById(id), g = c.getContext("2d");
  const w = c.width, h = c.height, pad = 28;
  g.clearRect(0, 0, w, h);
  const values = lines.flat().filter(v => v !== null);
  const lo = min ?? 0, hi = max ?? Math.max(1, ...values) * 1.1;
  g.strokeStyle = "#e3e6ec"; g.fillStyle = "#8a93a6"; g.font = "10px system-ui";
  for (let i = 0; i <= 2; i++) {
    const y = h - pad / 2 - (h - pad) * i / 2;
    g.beginPath(); g.moveTo(pad, y); g.lineTo(w, y); g.stroke();
    g.fillText(((lo + (hi - lo) * i / 2)).toFixed(hi < 10 ? 1 : 0), 0, y + 3);
  }
  lines.forEach((line, k) => {
    g.strokeStyle = colors[k]; g.lineWidth = 2; g.beginPath();
    let started = false;
    line.forEach((v, i) => {
      if (v === null) { started = false; return; }
      const x = pad + (w - pad) * i / (WINDOW - 1);
      const y = h - pad / 2 - (h - pad) * (Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo);
      started ? g.lineTo(x, y) : g.moveTo(x, y); started = true;
    });
    g.stroke();
  });
}
function failures(m, oldM) {
  const now = pick(m, "enricher_records_out_total", l => l.output === "failed");
  const rows = now.map(x => {
    const before = oldM === m ? 0 : sum(oldM, "enricher_records_out_total", l => l.output === "failed" && l.status === x.labels.status);
    return [x.labels.status, x.value - before, x.value];
  }).sort((a, b) => b[1] - a[1] || b[2] - a[2]);
  const body = document.getElementById("failures");
  body.innerHTML = rows.length ? "" : '<tr><td colspan="3" class="muted">none</td></tr>';
  for (const [status, recent, total] of rows) {
    const tr = body.insertRow();
    tr.dataset.failure = status; tr.dataset.total = String(total);
    [status, fmtInt(recent), fmtInt(total)].forEach(t => { tr.insertCell().textContent = t; });
  }
}
function lagTable(lag) {
  if (!lag.length) return;
  const body = document.getElementById("lag");
  body.innerHTML = "";
  for (const x of lag) {
    const tr = body.insertRow();
    [x.labels.topic, x.labels.partition, fmtInt(x.value)].forEach(t => { tr.insertCell().textContent = t; });
  }
}
async function pollPlugins() {
  try {
    const [versions, status] = await Promise.all([
      fetch("/v1/plugins").then(r => r.json()), fetch("/v1/status").then(r => r.json())]);
    const body = document.getElementById("versions");
    body.innerHTML = "";
    for (const v of versions) {
      const tr = body.insertRow();
      tr.dataset.version = v.key;
      [v.key, v.sha256.slice(0, 12), new Date(v.loaded_at_ms).toLocaleString(), v.active ? "active" : ""]
        .forEach(t => { tr.insertCell().textContent = t; });
    }
    document.getElementById("plugin-status").textContent =
      `swaps ${status.swaps}, rollbacks ${status.rollbacks}` + (status.previous ? `, rollback returns to ${status.previous}` : "") +
      (status.last_event ? ` · ${status.last_event}` : "");
  } catch (e) { /* the next poll tries again */ }
}
async function poll() {
  try {
    const text = await fetch("/metrics").then(r => r.text());
    update(parseMetrics(text), Date.now());
  } catch (e) {
    document.getElementById("updated").textContent = "host not answering";
  }
}
poll(); pollPlugins();
setInterval(poll, POLL_MS);
setInterval(pollPlugins, 5000);
