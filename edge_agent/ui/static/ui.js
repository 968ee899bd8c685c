// edge-agent homeowner page: snapshot refresh, consent banner, zone editor. No dependencies, no network but this device.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

function localTimes() {
  for (const el of document.querySelectorAll("time[data-epoch]")) {
    const t = Number(el.dataset.epoch);
    if (t) el.textContent = new Date(t * 1000).toLocaleString();
  }
}

async function post(url, body, asJson) {
  return fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" },
    body: JSON.stringify(body),
  }).then(async (r) => (asJson ? { ok: r.ok, status: r.status, data: await r.json() } : r));
}

// Loads an image endpoint into <img> through a blob, so a "not ready" answer keeps the last picture.
async function refreshImage(img, url) {
  try {
    const r = await fetch(url + "?t=" + Date.now(), { credentials: "same-origin", cache: "no-store" });
    if (!r.ok) return false;
    const blobUrl = URL.createObjectURL(await r.blob());
    const old = img.dataset.blob;
    img.src = blobUrl;
    img.dataset.blob = blobUrl;
    img.dataset.loaded = "1";
    if (old) URL.revokeObjectURL(old);
    return true;
  } catch (e) {
    return false;
  }
}

function updateBanner(consent, waiting) {
  const banner = document.getElementById("banner");
  const asks = document.getElementById("waiting-banner");
  const stale = (banner && banner.dataset.state !== consent.state) ||
    (asks && waiting && Number(asks.dataset.count) !== waiting.count);
  // The state changed elsewhere (expiry, the command line, a new request): reload for the right buttons and badge.
  if (stale) window.location.reload();
}

// What the agent is really doing, beside what the consent records allow.
function agentStatus(agent, consent) {
  const box = document.getElementById("agent-status");
  if (!box || !agent) return;
  let text = "";
  if (agent.refused > 0) {
    text = "The crime center's broker refused " + agent.refused + " segment(s) (" + agent.last_refusal +
      "): they were not shared. The device certificate's name must be this device's id.";
  } else if (!agent.running && consent && consent.state === "live") {
    text = "Sharing is allowed, but the agent is not running: nothing is being shared.";
  } else if (agent.running && agent.enrolled && !agent.connected) {
    text = "The agent cannot reach the crime center's broker: segments wait on the device.";
  }
  box.textContent = text;
  box.hidden = !text;
}

function livePage() {
  const img = document.getElementById("snapshot");
  const status = document.getElementById("camera-status");
  const warning = document.getElementById("scene-warning");
  const tick = async () => {
    await refreshImage(img, "/snapshot.jpg");
    try {
      const r = await fetch("/api/status", { credentials: "same-origin" });
      if (r.ok) {
        const s = await r.json();
        updateBanner(s.consent, s.waiting);
        const cam = s.camera;
        if (cam.error) status.textContent = "Camera error: " + cam.error;
        else if (!cam.ready) status.textContent = "Starting the camera…";
        else status.textContent = cam.fail_closed.length
          ? "Masking wide (" + cam.fail_closed.join(", ") + "): the redactor cannot vouch for the picture yet."
          : "Picture taken " + new Date(cam.captured_at * 1000).toLocaleTimeString() + ".";
        warning.hidden = !cam.scene_shifted;
        agentStatus(s.agent, s.consent);
      }
    } catch (e) { /* the next tick retries */ }
  };
  tick();
  setInterval(tick, 1000);
}

const COLORS = { neighbour: "0,0,0", public: "40,120,255", own: "30,170,90" };

function zonesPage() {
  const img = document.getElementById("calibration");
  const canvas = document.getElementById("zone-canvas");
  const g = canvas.getContext("2d");
  const list = document.getElementById("zone-list");
  const props = document.getElementById("zone-props");
  const nameIn = document.getElementById("zone-name");
  const kindIn = document.getElementById("zone-kind");
  const message = document.getElementById("zone-message");
  let zones = [];
  let selected = -1;
  let drag = null;
  let previewing = false;

  const say = (text, bad) => { message.textContent = text; message.className = bad ? "flash error" : "flash ok"; };
  const toRel = (ev) => {
    const r = canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return [clamp((ev.clientX - r.left) / r.width), clamp((ev.clientY - r.top) / r.height)];
  };
  const hit = (p) => {
    const r = canvas.getBoundingClientRect();
    const order = selected >= 0 ? [selected, ...zones.keys()] : [...zones.keys()];
    for (const zi of order) {
      const pts = zones[zi].coordinates;
      for (let pi = 0; pi < pts.length; pi++) {
        const dx = (pts[pi][0] - p[0]) * r.width, dy = (pts[pi][1] - p[1]) * r.height;
        if (dx * dx + dy * dy < 144) return [zi, pi];
      }
    }
    return null;
  };

  function draw() {
    g.clearRect(0, 0, canvas.width, canvas.height);
    zones.forEach((z, zi) => {
      const c = COLORS[z.kind] || COLORS.public;
      const pts = z.coordinates.map(([x, y]) => [x * canvas.width, y * canvas.height]);
      if (!pts.length) return;
      g.beginPath();
      pts.forEach(([x, y], i) => (i ? g.lineTo(x, y) : g.moveTo(x, y)));
      g.closePath();
      g.fillStyle = "rgba(" + c + "," + (zi === selected ? 0.45 : 0.3) + ")";
      g.strokeStyle = zi === selected ? "#ffcc00" : "rgb(" + c + ")";
      g.lineWidth = zi === selected ? 4 : 2;
      if (pts.length >= 3) g.fill();
      g.stroke();
      for (const [x, y] of pts) {
        g.beginPath();
        g.arc(x, y, zi === selected ? 9 : 6, 0, 2 * Math.PI);
        g.fillStyle = zi === selected ? "#ffcc00" : "#ffffff";
        g.fill();
        g.stroke();
      }
    });
  }

  function render() {
    list.innerHTML = "";
    zones.forEach((z, zi) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "zone-item" + (zi === selected ? " on" : "");
      b.textContent = z.name + " · " + z.kind + " · " + z.coordinates.length + " corners";
      b.addEventListener("click", () => { selected = zi; render(); });
      li.appendChild(b);
      list.appendChild(li);
    });
    props.hidden = selected < 0;
    if (selected >= 0) { nameIn.value = zones[selected].name; kindIn.value = zones[selected].kind; }
    draw();
  }

  function newZone() {
    let n = zones.length + 1;
    while (zones.some((z) => z.name === "zone " + n)) n++;
    zones.push({ name: "zone " + n, kind: "neighbour", coordinates: [] });
    selected = zones.length - 1;
    render();
  }

  canvas.addEventListener("pointerdown", (ev) => {
    if (previewing) { endPreview(); return; }
    const p = toRel(ev);
    const found = hit(p);
    if (found) {
      selected = found[0];
      drag = found;
      canvas.setPointerCapture(ev.pointerId);
    } else {
      if (selected < 0) newZone();
      zones[selected].coordinates.push(p);
    }
    render();
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    zones[drag[0]].coordinates[drag[1]] = toRel(ev);
    draw();
  });
  canvas.addEventListener("pointerup", () => { drag = null; render(); });
  canvas.addEventListener("dblclick", (ev) => {
    const found = hit(toRel(ev));
    if (found) { zones[found[0]].coordinates.splice(found[1], 1); render(); }
  });
  nameIn.addEventListener("input", () => { zones[selected].name = nameIn.value; render(); nameIn.focus(); });
  kindIn.addEventListener("change", () => { zones[selected].kind = kindIn.value; render(); });
  document.getElementById("zone-new").addEventListener("click", newZone);
  document.getElementById("zone-delete").addEventListener("click", () => {
    zones.splice(selected, 1);
    selected = -1;
    render();
  });

  const payload = () => ({ zones });
  async function preview(tries = 10) {
    const r = await post("/api/zones/preview", payload(), false);
    if (r.status === 503 && tries > 1) { setTimeout(() => preview(tries - 1), 500); return; }
    if (!r.ok) { say((await r.json()).error, true); return; }
    previewing = true;
    img.src = URL.createObjectURL(await r.blob());
    canvas.classList.add("hidden-zones");
    say("Preview: this is what would be shared. Click the picture to go back to editing.", false);
  }
  function endPreview() {
    previewing = false;
    canvas.classList.remove("hidden-zones");
    say("", false);
  }
  document.getElementById("zone-preview").addEventListener("click", () => (previewing ? endPreview() : preview()));
  document.getElementById("zone-save").addEventListener("click", async () => {
    const r = await post("/api/zones", payload(), true);
    if (r.ok) say("Saved " + r.data.saved + " zone(s). The redaction uses them from now on.", false);
    else say(r.data.error || "not saved", true);
  });
  document.getElementById("scene-confirm").addEventListener("click", async () => {
    const r = await post("/zones/confirm-scene", {}, true);
    say(r.ok ? "Scene confirmed: the current view is the new reference." : (r.data.error || "failed"), !r.ok);
  });

  fetch("/api/zones", { credentials: "same-origin" }).then((r) => r.json()).then((d) => {
    zones = d.zones;
    render();
  });
  const tick = () => { if (!previewing) refreshImage(img, "/zones/calibration.jpg"); };
  tick();
  setInterval(tick, 2000);
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  const page = document.body.dataset.page;
  if (page === "live") livePage();
  if (page === "zones") zonesPage();
});
