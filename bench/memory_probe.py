"""Where the agent's memory goes: one agent in this process, its resident memory after each stage of start-up.

    .venv/bin/python bench/memory_probe.py DATA_DIR PROFILE SECONDS [WARMUP_S]
    .venv/bin/python bench/memory_probe.py --components [WIDTH HEIGHT]

The first form is run by ``bench/memory_run.py --stages`` (which makes the device folder, the broker and the
center); not meant to be run by hand. It imports nothing of the benchmarks, so the import stages are those of
the daemon alone: the libraries, ``edge_agent.device.daemon``, then the command line's modules as ``edge-agent run``
loads them. Then it builds the :class:`~edge_agent.device.daemon.Agent` (profile, face model, uplink) and runs it on
the paced synthetic scene while a thread reads ``/proc/self/smaps_rollup`` four times a second. Prints one JSON
object per stage: ``{"stage", "rss", "pss", "anon"}`` in MiB (``anon``: anonymous memory, the part no other
process shares and the kernel cannot drop; the rest of RSS is library code and data mapped from files). The steady
stage is the median of the samples after ``WARMUP_S`` seconds; "steady, after trim" is one sample right after a
``malloc_trim`` near the end: the memory in use, without the heap pages freed since the share thread's last trim.

``--components`` builds the pipeline's parts one after the other in one thread, without the agent, and reports the
memory each adds once it has run (after a ``malloc_trim``, so what stays): the face model, its first forward
pass, the synthetic scene, the redactor over 45 frames, the x264 segment encoder over 45 frames.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

FIELDS = {"Rss:": "rss", "Pss:": "pss", "Anonymous:": "anon"}
LIBRARIES = ("numpy", "cv2", "av", "cryptography.hazmat.primitives.asymmetric.x25519", "paho.mqtt.client", "pydantic")


def rollup() -> dict[str, float]:
    found: dict[str, float] = {}
    with open("/proc/self/smaps_rollup", encoding="ascii") as f:
        for line in f:
            name, _, rest = line.partition(" ")
            if name in FIELDS:
                found[FIELDS[name]] = int(rest.split()[0]) / 1024
    return found


def emit(stage: str, values: dict[str, float]) -> None:
    print(json.dumps({"stage": stage, **{k: round(v, 1) for k, v in values.items()}}), flush=True)


def components(width: int, height: int) -> None:
    last = rollup()
    import numpy as np  # noqa: PLC0415  (here, not at the top: the agent's import stages start from a bare interpreter)

    import edge_agent.device.daemon as app  # noqa: PLC0415
    from edge_agent.capture import open_source  # noqa: PLC0415
    from edge_agent.config.loader import load_profile  # noqa: PLC0415
    from edge_agent.device.memory import release_free_memory, tune_allocator  # noqa: PLC0415
    from edge_agent.redact import Redactor  # noqa: PLC0415
    from edge_agent.redact.faces import RetinaFaceDetector  # noqa: PLC0415
    from edge_agent.redact.people import PassersBy  # noqa: PLC0415
    from edge_agent.segment.encoder import SegmentEncoder  # noqa: PLC0415

    tune_allocator()

    def step(stage: str) -> None:
        nonlocal last
        release_free_memory()
        now = rollup()
        emit(stage, {**now, **{f"added_{k}": now[k] - last[k] for k in ("rss", "anon")}})
        last = now

    step("imports (edge_agent.device.daemon)")
    profile, _ = load_profile(None)
    camera = profile.camera.model_copy(update={"width": width, "height": height})
    settings = profile.redaction
    faces = RetinaFaceDetector(settings.face_score)
    step("face model loaded")
    faces.detect(np.zeros((camera.detect_height, camera.detect_width, 3), np.uint8))
    step("face model, first forward pass")
    # As build_redactor does, around the face model loaded above.
    redactor = Redactor(profile.zones, PassersBy(settings, faces), settings=settings,
                        detect_box=(camera.detect_width, camera.detect_height))
    step("redactor built")
    frames = open_source("synthetic", camera, realtime=False).frames()
    frame = next(frames)
    step("synthetic scene, first frame")
    for _ in range(45):
        redactor.redact(next(frames))
    step("redactor, 45 frames")
    encoder = SegmentEncoder(device_id="probe", width=width, height=height, fps=camera.fps, seconds=3600.0,
                             profile_hash="0" * 64, threads=min(app.ENCODER_THREADS, len(os.sched_getaffinity(0))))
    for _ in range(45):
        frame = next(frames)
        encoder.push(redactor.redact(frame))
    step("x264 segment encoder, 45 frames")


def main() -> None:
    if sys.argv[1:2] == ["--components"]:
        width, height = (int(v) for v in sys.argv[2:4]) if len(sys.argv) >= 4 else (1280, 720)
        components(width, height)
        return
    data_dir, profile, seconds = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    warmup = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
    emit("interpreter", rollup())
    for name in LIBRARIES:
        importlib.import_module(name)
        emit(f"import {name.split('.')[0]}", rollup())
    from edge_agent.device.daemon import Agent, RunOptions  # noqa: PLC0415
    from edge_agent.device.memory import release_free_memory  # noqa: PLC0415

    emit("import edge_agent.device.daemon", rollup())
    from edge_agent.cli import build_parser  # noqa: PLC0415

    build_parser()  # imports every command group, as `edge-agent run` does before it runs
    emit("import the command line", rollup())
    agent = Agent(RunOptions(data_dir=data_dir, profile=profile, source="synthetic", duration=seconds))
    emit("agent built (profile, face model, uplink)", rollup())
    samples: list[dict[str, float]] = []
    trimmed: list[dict[str, float]] = []

    def sample() -> None:
        started = time.monotonic()
        marks = {"first frame": lambda: agent.summary.frames >= 1, "first segment": lambda: agent.summary.segments >= 1}
        while not agent.stop_event.is_set():
            for stage, reached in list(marks.items()):
                if reached():
                    emit(stage, rollup())
                    del marks[stage]
            elapsed = time.monotonic() - started
            if trimmed:
                pass  # the samples after this probe's own trim would not be the daemon's
            elif elapsed >= seconds - 3.0:
                release_free_memory()
                trimmed.append(rollup())
            elif elapsed >= warmup:
                samples.append(rollup())
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, name="memory-probe", daemon=True)
    sampler.start()
    summary = agent.run()
    if samples:
        emit("steady (median)", {k: statistics.median(s[k] for s in samples) for k in FIELDS.values()})
        emit("steady (peak)", {k: max(s[k] for s in samples) for k in FIELDS.values()})
    if trimmed:
        emit("steady, after trim", trimmed[0])
    print(json.dumps({"frames": summary.frames, "segments": summary.segments, "delivered": summary.delivered,
                      "events": dict(summary.events)}), flush=True)


if __name__ == "__main__":
    main()
