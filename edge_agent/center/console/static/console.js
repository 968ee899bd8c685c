"use strict";
// The console's pages: the live wall's tiles and the recorded footage player. No library, nothing from a CDN.

function utc(t) {
  return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19);
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return response.json();
}

// -- the live wall ------------------------------------------------------------------------------------------

class Tile {
  constructor(device, wall, template) {
    this.device = device;
    this.node = template.content.firstElementChild.cloneNode(true);
    this.node.dataset.device = device;
    this.node.querySelector(".device").textContent = device;
    this.video = this.node.querySelector("video");
    this.video.id = `live-${device}`;
    wall.appendChild(this.node);
    this.player = new window.SegmentPlayer(this.video, (status) => { this.node.dataset.failure = status; });
    this.after = -1;
    this.timer = setInterval(() => this.poll(), 500);
    this.poll();
  }

  async poll() {
    if (this.polling) return;
    this.polling = true;
    try {
      const answer = await getJSON(`/api/live/${encodeURIComponent(this.device)}/segments?after=${this.after}`);
      if (!answer.live) { this.close(); return; }
      for (const seg of answer.segments) {
        this.after = seg.seq;
        this.player.enqueue(`/live/${encodeURIComponent(this.device)}/${seg.seq}.mp4`, seg.start);
      }
      this.player.keepUp(6, 2.5);
      if (this.player.behind !== null) {
        this.node.querySelector(".behind").textContent = `${this.player.behind.toFixed(1)} s behind`;
      }
    } catch (err) {
      this.node.dataset.failure = String(err);
    } finally {
      this.polling = false;
    }
  }

  update(info, now) {
    const left = info.live_until ? Math.max(0, Math.round((info.live_until - now) / 60)) : null;
    this.node.querySelector(".left").textContent = left === null ? "" : `${left} min left`;
  }

  close() {
    clearInterval(this.timer);
    this.node.remove();
    this.closed = true;
  }
}

function startWall() {
  const wall = document.getElementById("wall");
  const template = document.getElementById("tile-template");
  const empty = document.getElementById("wall-empty");
  const tiles = new Map();
  async function refresh() {
    try {
      const answer = await getJSON(wall.dataset.api);
      const live = new Set(answer.devices.map((d) => d.device_id));
      for (const [device, tile] of tiles) {
        if (!live.has(device) || tile.closed) { tile.close(); tiles.delete(device); }
      }
      for (const info of answer.devices) {
        if (!tiles.has(info.device_id)) tiles.set(info.device_id, new Tile(info.device_id, wall, template));
        tiles.get(info.device_id).update(info, answer.now);
      }
      empty.hidden = tiles.size > 0;
    } catch (err) {
      empty.hidden = false;
      empty.textContent = `The wall cannot reach the center: ${err}`;
    }
  }
  refresh();
  setInterval(refresh, 1000);
}

// -- recorded footage -----------------------------------------------------------------------------------------

async function startPlayback() {
  const box = document.getElementById("player");
  const video = document.getElementById("recorded");
  const clock = document.getElementById("clock");
  const count = document.getElementById("segment-count");
  const answer = await getJSON(box.dataset.segments);
  const segments = answer.segments;
  count.textContent = `${segments.length} segment(s)` + (answer.total > segments.length ? ` of ${answer.total}` : "");
  if (!segments.length) { clock.textContent = "no footage in this window"; return; }
  const player = new window.SegmentPlayer(video, (status) => { box.dataset.failure = status; });
  const media = box.dataset.media.replace(/\/0\.mp4$/, "");
  const caseQuery = box.dataset.case ? `?case=${encodeURIComponent(box.dataset.case)}` : "";
  let next = 0;
  function feed() {
    // Fetch ahead of the playhead by at most 20 s: every segment fetched is a look, written to the access log.
    while (next < segments.length && (player.aheadSeconds() < 20 || next === 0) && player.queue.length < 2) {
      const seg = segments[next++];
      player.enqueue(`${media}/${seg.seq}.mp4${caseQuery}`, seg.start);
    }
    player.follow();
    if (player.shown !== null) clock.textContent = `${utc(player.shown)} UTC`;
  }
  feed();
  setInterval(feed, 500);
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "wall") startWall();
  if (page === "play") startPlayback().catch((err) => { document.getElementById("clock").textContent = String(err); });
});
