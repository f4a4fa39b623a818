// Refreshes the recent alerts and the workers' table from /api/alerts and /api/status.
// The charts are drawn by the server; reload the page to redraw them.
"use strict";

(function () {
  const body = document.body;
  const refreshMs = Math.max(5, Number(body.dataset.refreshS || 15)) * 1000;

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function emptyRow(tbody, columns, text) {
    const tr = document.createElement("tr");
    tr.className = "none";
    const td = cell(tr, text);
    td.colSpan = columns;
    tbody.replaceChildren(tr);
  }

  function renderAlerts(alerts) {
    const tbody = document.getElementById("alerts-body");
    if (!alerts.length) { emptyRow(tbody, 6, "no alerts yet"); return; }
    const rows = alerts.map((a) => {
      const tr = document.createElement("tr");
      // the same classes and label as the server's rows (dashboard.alert_marker)
      let kind = "", marker = "";
      if (a.provisional) {
        if (a.fired === false) { kind = " provisional withdrawn"; marker = " · provisional, withdrawn"; }
        else if (a.superseded_by) { kind = " provisional superseded"; marker = " · provisional, superseded"; }
        else { kind = " provisional"; marker = " · provisional"; }
      }
      tr.className = "alert " + (a.severity || "") + kind;
      tr.dataset.rule = a.rule || "";
      cell(tr, a.period_text || "").className = "period";
      cell(tr, String(a.fired_at || "").slice(0, 19));
      cell(tr, (a.severity || "") + marker);
      cell(tr, a.rule || "");
      cell(tr, Object.entries(a.scope || {}).map(([k, v]) => k + "=" + v).join(", "));
      cell(tr, a.text || "");
      return tr;
    });
    tbody.replaceChildren(...rows);
  }

  function renderWorkers(status) {
    const tbody = document.getElementById("workers-body");
    const workers = status.workers || [];
    if (!workers.length) { emptyRow(tbody, 7, "no status record yet"); return; }
    const rows = workers.map((w) => {
      const r = w.record;
      const flags = w.flags || [];
      const topics = Object.values(r.topics || {});
      const tr = document.createElement("tr");
      tr.className = "worker " + (w.stale ? "stale" : flags.length ? "flagged" : "ok");
      tr.dataset.worker = r.worker_id;
      tr.dataset.events = String(topics.reduce((s, t) => s + (t.events || 0), 0));
      tr.dataset.source = "api";
      cell(tr, r.worker_id);
      cell(tr, String(r.published || "").slice(0, 19));
      cell(tr, String((r.partitions || []).length));
      cell(tr, String((r.lag || []).reduce((s, p) => s + (p.lag || 0), 0)));
      cell(tr, topics.reduce((s, t) => s + (t.events_per_s || 0), 0).toFixed(1));
      cell(tr, r.redis && r.redis.ok && r.redis.rtt_ms != null ? r.redis.rtt_ms.toFixed(1) + " ms" : "down");
      cell(tr, flags.map((f) => f.text).join("; ") || "ok");
      return tr;
    });
    tbody.replaceChildren(...rows);
  }

  async function getJSON(path) {
    const response = await fetch(path, { cache: "no-store" });
    if (!response.ok) throw new Error(path + ": HTTP " + response.status);
    return response.json();
  }

  async function refresh() {
    try {
      const [alerts, status] = await Promise.all([getJSON("/api/alerts"), getJSON("/api/status")]);
      renderAlerts(alerts.alerts || []);
      renderWorkers(status);
      body.dataset.ready = "1";
      body.dataset.refreshed = new Date().toISOString();
    } catch (err) {
      body.dataset.ready = "error";
      console.error("dashboard refresh failed:", err);
    }
  }

  refresh();
  setInterval(refresh, refreshMs);
})();
