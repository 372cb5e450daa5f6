// Shouwang dashboard: CSRF for htmx, errors in the page, the desk's live feed (SSE),
// unread count, sound, filters, keyboard shortcuts. No framework beyond htmx.
(function () {
  "use strict";
  const body = document.body;
  const state = {
    latencies: [],       // publish-to-visible seconds, one per alert event shown
    received: {},        // SSE entry id -> times received (a replay must not repeat one)
    changedAt: {},       // incident id -> Date.now() when another desk's action showed
    unread: new Set(),   // incident ids pushed live and not opened yet
    connected: false,
    opens: 0,
  };
  window.shouwang = state;

  function cookie(name) {
    const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : "";
  }

  // Every unsafe request echoes the csrf cookie (double submit); the server checks it.
  document.addEventListener("htmx:configRequest", (e) => {
    e.detail.headers["X-CSRF-Token"] = cookie("csrf");
  });

  // Errors: the server's sentence goes next to what the operator did.
  document.addEventListener("htmx:responseError", (e) => {
    const xhr = e.detail.xhr;
    let text = xhr.responseText;
    try {
      const d = JSON.parse(text).detail;
      text = typeof d === "string" ? d : d.map((x) => (x.loc || []).slice(-1)[0] + ": " + x.msg).join("; ");
    } catch (_) { /* not JSON: show as is */ }
    if (xhr.status === 401 || xhr.status === 303) { window.location = "/ui/login"; return; }
    const elt = e.detail.elt;
    const scope = (elt && (elt.closest(".drawer-body") || elt.closest("#lists-panel"))) || null;
    const box = scope ? scope.querySelector("[data-msg]") : null;
    const target = box || document.getElementById("flash");
    target.textContent = text;
    target.classList.remove("ok");
    target.classList.add("error");
  });
  document.addEventListener("htmx:sendError", () => flash(body.dataset.lang === "en" ? "server unreachable" : "无法连接服务器"));

  function flash(text) {
    const f = document.getElementById("flash");
    if (f) { f.textContent = text; f.classList.add("error"); }
  }

  // Sound for high and critical, mutable (remembered per browser).
  let audio = null;
  function muted() { return localStorage.getItem("shouwang.muted") === "1"; }
  function showMute() {
    const b = document.getElementById("mute");
    if (b) { b.textContent = muted() ? b.dataset.off : b.dataset.on; b.classList.toggle("on", muted()); }
  }
  function toggleMute() { localStorage.setItem("shouwang.muted", muted() ? "0" : "1"); showMute(); }
  function beep(severity) {
    if (muted()) return;
    try {
      audio = audio || new AudioContext();
      const o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = severity === "critical" ? 1175 : 880;
      g.gain.value = 0.15;
      o.connect(g).connect(audio.destination);
      o.start();
      o.stop(audio.currentTime + (severity === "critical" ? 0.45 : 0.2));
    } catch (_) { /* no audio device: the row colour still tells */ }
  }
  state.beep = beep;

  function title() {
    const base = document.title.replace(/^\(\d+\) /, "");
    const n = state.unread.size;
    document.title = (n ? "(" + n + ") " : "") + base;
  }

  function filters() {
    const f = document.getElementById("filters");
    if (!f) return {};
    const out = {};
    new FormData(f).forEach((v, k) => { if (v) out[k] = v; });
    return out;
  }
  function matches(tr, f) {
    return Object.entries(f).every(([k, v]) => tr.dataset[k] === v);
  }

  function fromHtml(html) {
    const t = document.createElement("template");
    t.innerHTML = "<table><tbody>" + html.trim() + "</tbody></table>";
    return t.content.querySelector("tr");
  }

  function place(tr, top) {
    const rows = document.getElementById("rows");
    if (!rows || !tr) return null;
    const old = document.getElementById(tr.id);
    if (old && old.classList.contains("sel")) tr.classList.add("sel");
    if (state.unread.has(tr.dataset.id)) tr.classList.add("unread");
    if (old) old.replaceWith(tr); else if (top) rows.prepend(tr); else rows.append(tr);
    tr.hidden = !matches(tr, filters());
    htmx.process(tr);
    return tr;
  }

  function refreshDrawer(id, version) {
    const d = document.querySelector("#drawer .drawer-body");
    // The drawer already shows this version (it answered our own action): keep what the
    // operator is typing.
    if (d && d.dataset.incident === id && String(version) !== d.dataset.version) {
      htmx.ajax("GET", "/ui/incidents/" + id + "/drawer", { target: "#drawer", swap: "innerHTML" });
    }
  }

  function connect(desk) {
    const live = document.getElementById("live");
    const es = new EventSource("/ui/stream?since=" + encodeURIComponent(desk.dataset.since));
    state.source = es;
    es.addEventListener("hello", () => {
      state.opens += 1;
      state.connected = true;
      live.classList.remove("off");
      live.title = "SSE";
      if (state.opens > 1) {
        // Back after a break: actions taken meanwhile come with the rows; missed alerts
        // come as replayed events (Last-Event-ID).
        htmx.ajax("GET", "/ui/incidents/rows", { target: "#rows", swap: "innerHTML", values: filters() });
      }
    });
    es.addEventListener("alert", (e) => {
      state.received[e.lastEventId] = (state.received[e.lastEventId] || 0) + 1;
      const d = JSON.parse(e.data);
      const isNew = !document.getElementById("row-" + d.id);
      if (isNew || d.update > 0) state.unread.add(d.id);
      const tr = place(fromHtml(d.html), true);
      if (tr && !tr.hidden && (d.severity === "high" || d.severity === "critical")) beep(d.severity);
      title();
      if (d.published) {
        requestAnimationFrame(() => state.latencies.push(Date.now() / 1000 - d.published));
      }
      if (!isNew) refreshDrawer(d.id, -1);
    });
    es.addEventListener("changed", (e) => {
      const d = JSON.parse(e.data);
      if (document.getElementById("row-" + d.id)) place(fromHtml(d.html), false);
      requestAnimationFrame(() => { state.changedAt[d.id] = Date.now(); });
      refreshDrawer(d.id, d.version);
    });
    es.onerror = () => {
      state.connected = false;
      live.classList.add("off");
      live.title = body.dataset.lang === "en" ? "reconnecting" : "正在重连";
    };
  }

  function rows() { return Array.from(document.querySelectorAll("#rows tr:not([hidden])")); }
  function select(delta) {
    const all = rows();
    if (!all.length) return;
    let i = all.findIndex((r) => r.classList.contains("sel"));
    all.forEach((r) => r.classList.remove("sel"));
    i = Math.max(0, Math.min(all.length - 1, i + delta));
    all[i].classList.add("sel");
    all[i].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, select, textarea") || e.ctrlKey || e.metaKey || e.altKey) {
      if (e.key === "Escape") e.target.blur();
      return;
    }
    const drawer = document.querySelector("#drawer .drawer-body");
    const click = (sel) => { const b = drawer && drawer.querySelector(sel); if (b) { b.click(); e.preventDefault(); } };
    switch (e.key) {
      case "j": select(1); break;
      case "k": select(-1); break;
      case "Enter": { const s = document.querySelector("#rows tr.sel"); if (s) s.click(); break; }
      case "c": click('button[value="acknowledge"]'); break;
      case "s": click('button[value="start"]'); break;
      case "h": click('button[value="hold"]'); break;
      case "f": if (drawer) { drawer.querySelector('#false-alarm input[name="cause"]').focus(); e.preventDefault(); } break;
      case "x": if (drawer) { drawer.querySelector('#close-form select').focus(); e.preventDefault(); } break;
      case "m": toggleMute(); break;
      case "Escape": { const d = document.getElementById("drawer"); if (d && drawer) d.innerHTML = ""; break; }
      default: return;
    }
  });

  document.addEventListener("click", (e) => {
    if (e.target.closest(".close-drawer")) document.getElementById("drawer").innerHTML = "";
    if (e.target.closest("#mute")) toggleMute();
    const tr = e.target.closest("#rows tr");
    if (tr) {
      document.querySelectorAll("#rows tr.sel").forEach((r) => r.classList.remove("sel"));
      tr.classList.add("sel");
      state.unread.delete(tr.dataset.id);
      tr.classList.remove("unread");
      title();
    }
  });

  document.addEventListener("htmx:afterSwap", (e) => {
    if (e.detail.target && e.detail.target.id === "rows") {
      document.querySelectorAll("#rows tr").forEach((tr) => {
        if (state.unread.has(tr.dataset.id)) tr.classList.add("unread");
      });
    }
  });

  showMute();
  const desk = document.getElementById("desk");
  if (desk) connect(desk);
})();
