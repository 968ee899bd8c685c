"""``edge-agent redact INPUT -o OUTDIR``: offline redaction with the daemon's own redactor."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edge_agent.config.loader import load_profile, load_zones
from edge_agent.redact import NO_BUDGET_MS, build_redactor
from edge_agent.redact.offline import redact_offline


def cmd_redact(args: argparse.Namespace) -> int:
    profile, _ = load_profile(args.profile)
    # Offline footage is rarely from the profile's own camera: zones come only from --zones, and without them
    # the whole frame is public (the strictest policy short of neighbour fill).
    zones = load_zones(Path(args.zones)).zones if args.zones else []
    # The live time budget bounds a camera's latency; offline it applies only when --budget-ms asks for it.
    budget = NO_BUDGET_MS if args.budget_ms is None else args.budget_ms
    redactor = build_redactor(profile, zones, frame_budget_ms=budget)
    mask_dir = Path(args.mask_out) if args.mask_out else None
    result = redact_offline(redactor, Path(args.input), Path(args.output), mask_dir, args.fps)
    summary = ", ".join(f"{k} {v}" for k, v in result.fail_closed.items()) or "none"
    print(f"redacted {result.frames} frames into {args.output} (fail-closed frames: {summary})")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "redact",
        help="redact a video file or a folder of images offline",
        description=(
            "Redact a video file or a folder of images with the same redactor the daemon runs. A video gives "
            "OUTDIR/%%06d.png by decoded frame index (0-based); a folder keeps each input's name with .png."
        ),
    )
    parser.add_argument("input", metavar="INPUT", help="video file or folder of images")
    parser.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="folder for the redacted PNGs")
    parser.add_argument("--zones", metavar="FILE", help="zones file (TOML or JSON); default: whole frame public")
    parser.add_argument("--profile", metavar="P", default=None, help="profile name or path (redaction settings)")
    parser.add_argument(
        "--mask-out", metavar="MASKDIR", help="also write the exact redaction mask per frame (PNG, 255 = redacted)"
    )
    parser.add_argument(
        "--fps", type=float, default=None, help="frame rate for timing (default: the video's, or 10 for images)"
    )
    parser.add_argument(
        "--budget-ms",
        type=float,
        default=None,
        help="mask a frame whole when analysing it takes longer than this, as the live agent does "
        "(default: no budget offline, so the output does not depend on the machine's load)",
    )
    parser.set_defaults(func=cmd_redact)
