// Site plans with Leaflet's non-geographic CRS: the plan image is the map, pixels are
// its coordinates (y down in the image, so a pixel (x, y) is the point [h - y, x]).
(function () {
  "use strict";
  const COLOURS = { info: "#64748b", low: "#0ea5e9", medium: "#eab308", high: "#f97316", critical: "#dc2626" };
  const HEALTH = { streaming: "#16a34a", offline: "#6b7280", tampered: "#dc2626", snoozed: "#a855f7", reconnecting: "#eab308", connecting: "#eab308", failed: "#dc2626" };

  function planMap(el, interactive) {
    const w = Number(el.dataset.w), h = Number(el.dataset.h);
    const map = L.map(el, { crs: L.CRS.Simple, minZoom: -4, maxZoom: 3, attributionControl: false,
      zoomControl: interactive, dragging: interactive, scrollWheelZoom: interactive, zoomSnap: 0.1 });
    const bounds = [[0, 0], [h, w]];
    L.imageOverlay(el.dataset.image, bounds).addTo(map);
    map.fitBounds(bounds);
    return { map, at: (x, y) => [h - y, x] };
  }

  function sitePlan(el) {
    const p = planMap(el, true);
    JSON.parse(el.dataset.cams || "[]").forEach((c) => {
      L.circleMarker(p.at(c.x, c.y), { radius: 9, color: "#111", weight: 2, fillColor: HEALTH[c.state] || "#6b7280", fillOpacity: 1 })
        .bindTooltip(c.name + " · " + c.label, { permanent: true, direction: "right", className: "cam-label" })
        .addTo(p.map);
    });
    JSON.parse(el.dataset.pins || "[]").forEach((i) => {
      L.circleMarker(p.at(i.x, i.y), { radius: 7, color: "#fff", weight: 2, fillColor: COLOURS[i.severity] || "#dc2626", fillOpacity: 0.95, className: "incident-pin" })
        .bindPopup("<b>" + i.type + "</b><br>" + i.summary.replace(/</g, "&lt;"))
        .addTo(p.map);
    });
  }

  function miniPlan(el) {
    const p = planMap(el, false);
    L.circleMarker(p.at(Number(el.dataset.x), Number(el.dataset.y)), {
      radius: 8, color: "#fff", weight: 2, fillColor: COLOURS[el.dataset.severity] || "#dc2626", fillOpacity: 1, className: "incident-pin",
    }).addTo(p.map);
  }

  function init(root) {
    root.querySelectorAll(".site-plan:not(.leaflet-container)").forEach(sitePlan);
    root.querySelectorAll(".mini-plan:not(.leaflet-container)").forEach(miniPlan);
  }
  document.addEventListener("htmx:afterSettle", (e) => init(e.detail.target || document));
  init(document);
})();
