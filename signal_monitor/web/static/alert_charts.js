// Tooltips on the alerts' charts: the point nearest the pointer shows its period and value.
// The server formats every figure (data-label, data-text, data-alert, data-band): nothing is formatted here.
"use strict";

(function () {
  function nearest(points, x) {
    let best = null;
    let bestDistance = Infinity;
    for (const p of points) {
      const distance = Math.abs(Number(p.getAttribute("cx")) - x);
      if (distance < bestDistance) { best = p; bestDistance = distance; }
    }
    return best;
  }

  function line(tip, text, className) {
    const div = document.createElement("div");
    div.textContent = text;
    if (className) div.className = className;
    tip.appendChild(div);
  }

  function attach(figure) {
    const svg = figure.querySelector("svg.alert-chart");
    const tip = figure.querySelector(".chart-tip");
    if (!svg || !tip) return;
    const points = [...svg.querySelectorAll("circle.pt")];
    if (!points.length) return;
    let shown = null;

    function show(point) {
      if (shown === point) return;
      if (shown) shown.classList.remove("hover");
      shown = point;
      point.classList.add("hover");
      tip.replaceChildren();
      line(tip, point.dataset.label + ": " + point.dataset.text);
      if (point.dataset.alert) line(tip, point.dataset.alert, "alert");
      if (point.dataset.band) line(tip, point.dataset.band, "band");
      tip.hidden = false;
      const box = point.getBoundingClientRect();
      const frame = figure.getBoundingClientRect();
      const left = Math.min(box.left - frame.left + 10, frame.width - tip.offsetWidth - 4);
      tip.style.left = Math.max(0, left) + "px";
      tip.style.top = Math.max(0, box.top - frame.top - tip.offsetHeight - 6) + "px";
      figure.dataset.hover = point.dataset.period;
    }

    function hide() {
      if (shown) shown.classList.remove("hover");
      shown = null;
      tip.hidden = true;
      delete figure.dataset.hover;
    }

    svg.addEventListener("mousemove", (event) => {
      const matrix = svg.getScreenCTM();
      if (!matrix) return;
      const x = (event.clientX - matrix.e) / matrix.a;
      show(nearest(points, x));
    });
    svg.addEventListener("mouseleave", hide);
  }

  document.querySelectorAll("figure.alert-chart").forEach(attach);
  document.body.dataset.charts = String(document.querySelectorAll("figure.alert-chart svg.alert-chart").length);
})();
