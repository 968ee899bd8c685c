"use strict";
// The console's player: no library. Fragmented MP4 segments from the center (H.264 copied from the stored
// segments) are appended to a Media Source buffer, each placed on the timeline at its capture time (UTC seconds),
// so the video's own clock is the capture clock: currentTime is when the frame on screen was captured.

const MIME = 'video/mp4; codecs="avc1.42E01E"';

class SegmentPlayer {
  constructor(video, onFailure) {
    this.video = video;
    this.onFailure = onFailure || (() => {});
    this.queue = [];
    this.busy = false;
    this.sb = null;
    this.behind = null; // seconds between capture and display of the last frame shown
    this.shown = null;  // capture time of the last frame shown
    this.ms = new MediaSource();
    this.opened = new Promise((resolve) => this.ms.addEventListener("sourceopen", resolve, { once: true }));
    video.src = URL.createObjectURL(this.ms);
    this.watchFrames();
  }

  watchFrames() {
    if (!this.video.requestVideoFrameCallback) return;
    const frame = (_now, meta) => {
      this.shown = meta.mediaTime;
      this.behind = Date.now() / 1000 - meta.mediaTime;
      this.video.dataset.behind = this.behind.toFixed(2);
      this.video.dataset.frames = String(Number(this.video.dataset.frames || 0) + 1);
      this.video.requestVideoFrameCallback(frame);
    };
    this.video.requestVideoFrameCallback(frame);
  }

  enqueue(url, start) {
    this.queue.push({ url, start });
    this.pump();
  }

  async pump() {
    if (this.busy) return;
    this.busy = true;
    try {
      await this.opened;
      if (!this.sb) {
        this.sb = this.ms.addSourceBuffer(MIME);
        this.sb.mode = "segments";
      }
      while (this.queue.length) {
        const item = this.queue.shift();
        const response = await fetch(item.url, { credentials: "same-origin" });
        if (!response.ok) { this.onFailure(response.status); continue; }
        await this.append(await response.arrayBuffer(), item.start);
        await this.trim();
        this.follow();
      }
    } catch (err) {
      this.onFailure(String(err));
    } finally {
      this.busy = false;
    }
  }

  wait() {
    return new Promise((resolve, reject) => {
      this.sb.addEventListener("updateend", resolve, { once: true });
      this.sb.addEventListener("error", reject, { once: true });
    });
  }

  async append(data, start) {
    this.sb.timestampOffset = start; // the segment's first frame at its capture time
    const done = this.wait();
    this.sb.appendBuffer(data);
    await done;
  }

  async trim() {
    // Keep at most two minutes behind the playhead in memory.
    const b = this.sb.buffered;
    if (b.length && b.start(0) < this.video.currentTime - 120) {
      const done = this.wait();
      this.sb.remove(b.start(0), this.video.currentTime - 60);
      await done;
    }
  }

  bufferedEnd() {
    const b = this.video.buffered;
    return b.length ? b.end(b.length - 1) : null;
  }

  aheadSeconds() {
    const end = this.bufferedEnd();
    return end === null ? 0 : Math.max(0, end - this.video.currentTime);
  }

  // Start at the first frame, and skip gaps between segments that are not contiguous.
  follow() {
    const v = this.video, b = v.buffered;
    if (!b.length) return;
    let inside = false;
    for (let i = 0; i < b.length; i++) {
      if (v.currentTime >= b.start(i) && v.currentTime < b.end(i)) inside = true;
    }
    if (!inside) {
      for (let i = 0; i < b.length; i++) {
        if (b.start(i) > v.currentTime || v.currentTime === 0) { v.currentTime = b.start(i); break; }
      }
    }
    if (v.paused && !v.ended) v.play().catch(() => {});
  }

  // Live: never fall more than `most` seconds behind the newest frame received (jump to `target` behind).
  keepUp(most, target) {
    const end = this.bufferedEnd();
    if (end !== null && end - this.video.currentTime > most) this.video.currentTime = end - target;
    this.follow();
  }
}

window.SegmentPlayer = SegmentPlayer;
