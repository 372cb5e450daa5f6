// Shouwang live view: WebRTC from the server's relay, the worker's tracks drawn on a
// canvas over the untouched video, and a refreshing snapshot when WebRTC cannot connect.
// No library: the browser's RTCPeerConnection, EventSource and canvas are enough.
"use strict";

const CONNECT_TIMEOUT_MS = 10000;  // ICE + DTLS must be done by then, else: snapshot
const RETRY_WEBRTC_MS = 30000;     // in snapshot mode, try WebRTC again this often
const SNAPSHOT_MS = 1000;          // snapshot refresh period
const TRACKS_STALE_MS = 2000;      // boxes older than this are not drawn

function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

async function post(url, body) {
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
    keepalive: true,
  });
  if (!res.ok) {
    let detail = res.statusText;
    try { detail = (await res.json()).detail || detail; } catch (e) { /* not JSON */ }
    const err = new Error(detail);
    err.status = res.status;
    throw err;
  }
  return res.status === 204 ? null : res.json();
}

function waitGathered(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, ms);  // host candidates come at once; do not wait for slow STUN
  });
}

class LiveTile {
  constructor(el, ice) {
    this.el = el;
    this.camera = el.dataset.camera;
    this.variant = el.dataset.variant || "main";
    this.ice = ice;
    this.video = el.querySelector("video");
    this.canvas = el.querySelector("canvas.overlay");
    this.img = el.querySelector("img.snapshot");
    this.stateEl = el.querySelector(".state");
    this.modeEl = el.querySelector(".mode");
    this.banner = el.querySelector(".banner");
    this.pc = null;
    this.session = null;
    this.snapSession = null;
    this.mode = "connecting";   // webrtc | snapshot | connecting
    this.cameraOnline = null;
    this.reason = "";         // why WebRTC fell back to snapshots
    this.cameraReason = "";   // why the camera is offline
    this.tracks = null;
    this.tracksAt = 0;
    this.firstFrameMs = null;
    this.t0 = performance.now();
    this.video.addEventListener("playing", () => {
      if (this.firstFrameMs === null) {
        this.firstFrameMs = performance.now() - this.t0;
        this.firstFrameAt = Date.now();
      }
      this.render();
    });
    this.connect();
    requestAnimationFrame(() => this.draw());
  }

  say(text, cls) {
    this.stateEl.textContent = text;
    this.stateEl.className = "state " + (cls || "");
  }

  showBanner(text, info) {
    this.banner.hidden = !text;
    this.banner.textContent = text || "";
    this.banner.classList.toggle("info", !!info);
  }

  render() {
    if (this.cameraOnline === false) {
      this.say("离线 offline", "bad");
      this.showBanner("摄像机离线，正在重连 · camera offline, reconnecting: " + this.cameraReason);
    } else if (this.mode === "snapshot") {
      this.say("快照 snapshot", "bad");
      this.showBanner("实时视频无法连接，显示快照 · WebRTC cannot connect, showing snapshots: "
        + this.reason, true);
    } else if (this.mode === "webrtc" && !this.video.paused && this.video.readyState >= 2) {
      this.say("实时 live", "ok");
      this.showBanner("");
    } else {
      this.say("等待画面 waiting for the picture…");
      this.showBanner("");
    }
  }

  async connect() {
    this.closeWebrtc();
    if (!window.RTCPeerConnection) {
      this.fallback("此浏览器不支持 WebRTC · this browser has no WebRTC");
      return;
    }
    this.mode = "connecting";
    const pc = new RTCPeerConnection({ iceServers: this.ice });
    this.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.ontrack = (ev) => {
      this.video.srcObject = ev.streams[0] || new MediaStream([ev.track]);
      this.video.play().catch(() => {});
    };
    const timer = setTimeout(() => {
      if (pc.connectionState !== "connected") {
        this.fallback("ICE 未连通 · no ICE route between this browser and the server within "
          + CONNECT_TIMEOUT_MS / 1000 + " s (a remote centre needs a TURN server)");
      }
    }, CONNECT_TIMEOUT_MS);
    pc.onconnectionstatechange = () => {
      if (pc !== this.pc) return;
      if (pc.connectionState === "connected") {
        clearTimeout(timer);
        this.mode = "webrtc";
        this.img.hidden = true;
        this.video.hidden = false;
        this.render();
      } else if (pc.connectionState === "failed") {
        clearTimeout(timer);
        this.fallback("连接失败 · the WebRTC connection failed (" + pc.connectionState + ")");
      }
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await waitGathered(pc, 2000);
      const ans = await post(`/api/live/${encodeURIComponent(this.camera)}/offer`, {
        sdp: pc.localDescription.sdp, type: "offer", variant: this.variant,
      });
      if (pc !== this.pc) return;
      this.session = ans.session;
      this.width = ans.width;
      this.height = ans.height;
      this.modeEl.textContent = ans.mode === "passthrough"
        ? `H.264 直通 ${ans.width}×${ans.height}`
        : `转码 transcoded (${ans.codec} → browser; viewers capped)`;
      await pc.setRemoteDescription({ sdp: ans.sdp, type: ans.type });
    } catch (e) {
      clearTimeout(timer);
      if (pc !== this.pc) return;
      const why = e.status ? `server ${e.status}: ${e.message}` : `browser: ${e.message}`;
      this.fallback(why);
    }
  }

  closeWebrtc() {
    if (this.pc) { this.pc.close(); this.pc = null; }
    if (this.session) {
      post(`/api/live/sessions/${this.session}/close`).catch(() => {});
      this.session = null;
    }
  }

  fallback(reason) {
    this.closeWebrtc();
    this.reason = reason;
    this.mode = "snapshot";
    this.video.hidden = true;
    this.img.hidden = false;
    this.render();
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), RETRY_WEBRTC_MS);
    this.snapshotLoop();
  }

  async snapshotLoop() {
    if (this.snapLooping) return;
    this.snapLooping = true;
    while (this.mode === "snapshot") {
      const q = new URLSearchParams({ variant: this.variant });
      if (this.snapSession) q.set("session", this.snapSession);
      try {
        const res = await fetch(`/api/live/${encodeURIComponent(this.camera)}/snapshot.jpg?${q}`);
        if (res.ok) {
          this.snapSession = res.headers.get("X-Live-Session");
          const url = URL.createObjectURL(await res.blob());
          const old = this.img.src;
          this.img.src = url;
          if (old.startsWith("blob:")) URL.revokeObjectURL(old);
        } else {
          let detail = res.statusText;
          try { detail = (await res.json()).detail; } catch (e) { /* not JSON */ }
          this.say("无画面 no picture: " + detail, "bad");
        }
      } catch (e) {
        this.say("服务器无响应 server unreachable", "bad");
      }
      await new Promise((r) => setTimeout(r, SNAPSHOT_MS));
    }
    this.snapLooping = false;
  }

  onStatus(st) {
    this.cameraOnline = st.online ? true : (st.reason === "connecting" ? null : false);
    if (!st.online) this.cameraReason = st.reason;
    this.render();
  }

  onTracks(t) {
    this.tracks = t;
    this.tracksAt = performance.now();
  }

  // The video's picture inside the element (object-fit: contain leaves bars).
  pictureRect() {
    const cw = this.canvas.clientWidth, ch = this.canvas.clientHeight;
    const vw = this.video.videoWidth || this.width || cw, vh = this.video.videoHeight || this.height || ch;
    const s = Math.min(cw / vw, ch / vh);
    return { x: (cw - vw * s) / 2, y: (ch - vh * s) / 2, w: vw * s, h: vh * s };
  }

  draw() {
    const c = this.canvas;
    if (c.width !== c.clientWidth || c.height !== c.clientHeight) {
      c.width = c.clientWidth;
      c.height = c.clientHeight;
    }
    const g = c.getContext("2d");
    g.clearRect(0, 0, c.width, c.height);
    const t = this.tracks;
    if (t && performance.now() - this.tracksAt < TRACKS_STALE_MS && this.cameraOnline !== false) {
      const r = this.pictureRect();
      const sx = r.w / t.w, sy = r.h / t.h;
      g.lineWidth = 2;
      g.font = "12px sans-serif";
      for (const k of t.tracks) {
        const [x1, y1, x2, y2] = k.box;
        g.strokeStyle = k.zones.length ? "#ff4040" : "#40ff60";
        g.strokeRect(r.x + x1 * sx, r.y + y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
        const label = `${k.cls} #${k.id}` + (k.zones.length ? " ⚑ " + k.zones.join(",") : "");
        g.fillStyle = g.strokeStyle;
        g.fillText(label, r.x + x1 * sx + 2, Math.max(12, r.y + y1 * sy - 3));
      }
    }
    requestAnimationFrame(() => this.draw());
  }
}

function init() {
  const body = document.body;
  const ice = JSON.parse(body.dataset.ice || "[]");
  if (body.dataset.tiles) {
    const grid = document.querySelector("main.grid");
    for (const t of JSON.parse(body.dataset.tiles)) {
      const fig = document.createElement("figure");
      fig.className = "tile";
      fig.dataset.camera = t.id;
      fig.dataset.variant = "sub";
      fig.innerHTML = '<video muted autoplay playsinline></video><canvas class="overlay"></canvas>'
        + '<img class="snapshot" alt="snapshot" hidden><figcaption><a class="open name"></a>'
        + '<span class="mode"></span><span class="state">连接中 connecting…</span></figcaption>'
        + '<div class="banner" hidden></div>';
      const a = fig.querySelector("a.open");
      a.textContent = t.name;
      a.href = `/live/${encodeURIComponent(t.id)}`;
      grid.appendChild(fig);
    }
  }
  const tiles = [...document.querySelectorAll(".tile")].map((el) => new LiveTile(el, ice));
  window.shouwangLive = tiles;
  // One event stream for every tile of the page (a browser keeps six connections).
  const byCamera = new Map(tiles.map((t) => [t.camera, t]));
  const q = new URLSearchParams({ cameras: [...byCamera.keys()].join(","),
    variant: tiles.length ? tiles[0].variant : "main" });
  const events = new EventSource(`/api/live/events?${q}`);
  const route = (fn) => (ev) => {
    const data = JSON.parse(ev.data);
    const tile = byCamera.get(data.camera);
    if (tile) fn(tile, data);
  };
  events.addEventListener("status", route((t, d) => t.onStatus(d)));
  events.addEventListener("tracks", route((t, d) => t.onTracks(d)));
  window.addEventListener("pagehide", () => {
    for (const t of window.shouwangLive) t.closeWebrtc();
  });
}

document.addEventListener("DOMContentLoaded", init);
