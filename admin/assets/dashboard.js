// The dashboard, live: asks /dashboard.json every 2 seconds and updates the numbers and the
// chart in place. Text is only set with textContent, never parsed as HTML.
(function () {
  "use strict";
  const EVERY_MS = 2000;
  const SVG = "http://www.w3.org/2000/svg";
  const chart = document.getElementById("chart");
  const table = document.getElementById("stats");
  if (!chart || !table) return;

  function text(id, value) {
    const el = document.getElementById(id);
    if (el) el.textContent = String(value);
  }

  function svg(name, attrs, label) {
    const el = document.createElementNS(SVG, name);
    for (const k in attrs) el.setAttribute(k, String(attrs[k]));
    if (label !== undefined) el.textContent = label;
    return el;
  }

  // The grid, both axes' labels and the bars, as the page drew them first.
  function drawChart(data) {
    const left = chart.dataset.left, right = chart.dataset.right, base = Number(chart.dataset.base);
    while (chart.firstChild) chart.removeChild(chart.firstChild);
    for (const t of data.yTicks) {
      chart.appendChild(svg("line", { class: "grid", x1: left, y1: t.pos, x2: right, y2: t.pos }));
      chart.appendChild(svg("text", { class: "tick", x: left - 6, y: t.pos + 4, "text-anchor": "end" }, t.label));
    }
    for (const t of data.xTicks) {
      chart.appendChild(svg("text", { class: "tick", x: t.pos, y: base + 16, "text-anchor": "middle" }, t.label));
    }
    for (const bar of data.bars) {
      const rect = svg("rect", { x: bar.x, y: bar.y, width: bar.width, height: bar.height });
      rect.appendChild(svg("title", {}, bar.label));
      chart.appendChild(rect);
    }
  }

  function updateRows(products) {
    const body = table.tBodies[0];
    const known = new Set();
    for (const p of products) {
      known.add(String(p.id));
      let row = body.querySelector('tr[data-id="' + p.id + '"]');
      if (!row) {
        // A product added since the page loaded: reload once to get its row.
        window.location.reload();
        return;
      }
      for (const cell of row.querySelectorAll("td[data-k]")) {
        const v = p[cell.dataset.k];
        cell.textContent = v === null || v === undefined ? "\u2013" : String(v);
      }
    }
    for (const row of body.querySelectorAll("tr[data-id]")) {
      if (!known.has(row.dataset.id)) row.remove();
    }
  }

  // "95 s", "4 min 10 s"; null while the line is paused or not started.
  function wait(seconds) {
    if (seconds === null || seconds === undefined) return "\u2013";
    if (seconds < 120) return seconds + " s";
    return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s";
  }

  // The waiting room of each queued product; a product that gained or lost its room since
  // the page loaded reloads the page once.
  function updateRooms(products) {
    for (const p of products) {
      const card = document.querySelector('[data-room="' + p.id + '"]');
      if (!p.queue !== !card) {
        window.location.reload();
        return;
      }
      if (!card) continue;
      const q = p.queue;
      for (const cell of card.querySelectorAll("[data-q]")) {
        const k = cell.dataset.q;
        if (k === "rate") {
          // Before the draw nothing is admitted yet: the rate says nothing then.
          cell.textContent = !q.drawn ? "not started" : q.admitPerSecond === 0 ? "paused" : q.admitPerSecond + "/s";
          cell.className = "status" + (!q.drawn ? "" : q.admitPerSecond === 0 ? " status-queued" : " status-confirmed");
        } else if (k === "lastWait") {
          cell.textContent = wait(q.lastWaitSeconds);
        } else {
          cell.textContent = String(q[k]);
        }
      }
    }
  }

  async function refresh() {
    try {
      const res = await fetch("/dashboard.json", { credentials: "same-origin", cache: "no-store" });
      if (res.status === 200) {
        const data = await res.json();
        updateRows(data.products);
        updateRooms(data.products);
        drawChart(data.chart);
        text("chart-peak", data.chartPeak);
        text("last-minute", data.lastMinute);
        text("revenue", data.revenue);
        text("confirmed-total", data.confirmed);
        text("updated-at", data.atText);
        const at = document.getElementById("updated-at");
        if (at) at.setAttribute("datetime", data.at);
      } else if (res.redirected || res.status === 401 || res.status === 403) {
        window.location.href = "/login";
        return;
      }
    } catch (e) {
      // The admin restarting: try again at the next tick.
    }
    setTimeout(refresh, EVERY_MS);
  }
  setTimeout(refresh, EVERY_MS);
})();
