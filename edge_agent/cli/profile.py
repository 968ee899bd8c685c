"""``edge-agent profile ...`` (schema, list, show, validate, diff, keygen, sign, flash, rollback) and
``edge-agent provision``: thin wrappers over :mod:`edge_agent.config.profiles` and
:mod:`edge_agent.config.provision`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge_agent.cli.common import paths_of
from edge_agent.config import profiles, provision
from edge_agent.config.models import Profile
from edge_agent.core.paths import DevicePaths, default_config_root
from edge_agent.device.agent_state import read_agent_state
from edge_agent.errors import ConfigError, EdgeAgentError


def _root(args: argparse.Namespace) -> Path:
    # The same root the agent and the homeowner's commands read the flashed profile from.
    return Path(args.root) if args.root else default_config_root()


def _add_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        default=None,
        metavar="DIR",
        help=f"configuration root of the device (default: $EDGE_AGENT_CONFIG_ROOT, else {profiles.DEFAULT_ROOT})",
    )


def cmd_schema(args: argparse.Namespace) -> int:
    print(json.dumps(Profile.model_json_schema(), indent=2, sort_keys=True))
    return 0


def _signature_state(doc: profiles.ProfileDoc, root: Path) -> str:
    sig_path = profiles.sig_path_of(doc)
    if sig_path is None or not sig_path.exists():
        return "unsigned"
    try:
        return f"signed by {profiles.verify(doc, sig_path, profiles.trusted_keys(root))}"
    except ConfigError as exc:
        return f"BAD SIGNATURE: {exc}"


def cmd_list(args: argparse.Namespace) -> int:
    root = _root(args)
    active_sha = profiles.active_sha256(root)
    for path in profiles.list_catalogue(root):
        try:
            doc = profiles.parse_doc(str(path), path, path.read_bytes())
        except ConfigError as exc:
            print(f"  {path.stem:<20} INVALID  {exc}")
            continue
        mark = "*" if doc.sha256 == active_sha else " "
        state = _signature_state(doc, root)
        print(f"{mark} {path.stem:<20} {doc.sha256[:12]}  {state:<28} {doc.profile.description}")
    if active_sha is None:
        print(f"(no profile flashed under {root})")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    root = _root(args)
    if args.profile:
        doc = profiles.load_doc(args.profile, root)
        state = _signature_state(doc, root)
    else:
        doc, signer = profiles.load_active(root)
        state = f"signed by {signer}" if signer else "unsigned"
    print(f"# {doc.source}")
    print(f"# sha256 {doc.sha256}, {state}")
    if args.effective:
        for key, value in profiles.effective_settings(doc.profile).items():
            print(f"{key} = {json.dumps(value)}")
    else:
        print(doc.text, end="" if doc.text.endswith("\n") else "\n")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    targets: list[str] = args.profiles or [str(p) for p in profiles.list_catalogue(None)]
    if not targets:
        raise ConfigError("no profiles to validate (give a NAME or FILE)")
    failed = 0
    for target in targets:
        try:
            doc = profiles.load_doc(target)
        except EdgeAgentError as exc:
            failed += 1
            print(f"FAIL {exc}")
            continue
        print(f"ok   {doc.source} ({doc.profile.name}, sha256 {doc.sha256[:12]})")
    return 2 if failed else 0


def _show_value(value: Any) -> str:
    return "(absent)" if value is None else json.dumps(value)


def cmd_diff(args: argparse.Namespace) -> int:
    root = _root(args)
    if args.new is None:
        old, _ = profiles.load_active(root)
        new = profiles.load_doc(args.old, root)
    else:
        old, new = profiles.load_doc(args.old, root), profiles.load_doc(args.new, root)
    print(f"--- {old.source} ({old.sha256[:12]})")
    print(f"+++ {new.source} ({new.sha256[:12]})")
    changes = profiles.diff(old.profile, new.profile)
    for key, a, b in changes:
        print(f"{key}: {_show_value(a)} -> {_show_value(b)}")
    if not changes:
        print("(no differences in effective settings)")
    return 1 if changes else 0


def cmd_keygen(args: argparse.Namespace) -> int:
    public = profiles.keygen(Path(args.key))
    print(f"installer key: {args.key} (keep it secret), public key: {public}")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    sig = profiles.sign(Path(args.file), Path(args.key))
    print(f"signed {args.file}: {sig}")
    return 0


def _other_profile(data_dir: Path, root: Path) -> str | None:
    """A running agent started with its own ``--profile`` reloads that one on SIGHUP, not the flashed one."""
    state = read_agent_state(DevicePaths(data_dir))
    if state is None or not state.alive():
        return None
    prefix = "flashed under "
    source = state.profile_source
    if source.startswith(prefix) and Path(source[len(prefix):]).resolve() == root.resolve():
        return None
    return (f"note: the running agent runs {source} (profile {state.profile}), not the profile flashed under "
            f"{root}: a reload keeps it on that one; restart it without --profile to run what was flashed")


def _report(verb: str, result: profiles.FlashResult, args: argparse.Namespace, kind: str) -> int:
    data_dir = paths_of(args).root  # --data-dir, else the service's folder, as every other command
    if not result.changed:
        print(f"profile {result.name} ({result.sha256[:12]}) is already active; nothing changed")
        return 0
    profiles.record(data_dir, kind, result, _root(args))
    signer = f"signed by {result.signed_by}" if result.signed_by else "unsigned"
    print(f"{verb} profile {result.name} ({result.sha256[:12]}, {signer}) -> {result.path}")
    print(profiles.reload_agent(data_dir))
    other = _other_profile(data_dir, _root(args))
    if other is not None:
        print(other)
    return 0


def cmd_flash(args: argparse.Namespace) -> int:
    return _report("flashed", profiles.flash(args.profile, _root(args)), args, "profile_flash")


def cmd_rollback(args: argparse.Namespace) -> int:
    return _report("rolled back to", profiles.rollback(_root(args)), args, "profile_rollback")


def cmd_provision(args: argparse.Namespace) -> int:
    result = provision.provision(
        Path(args.boot),
        args.profile,
        center=Path(args.center),
        broker=args.broker,
        installer_pub=Path(args.installer_pub) if args.installer_pub else None,
        tls_ca=Path(args.tls_ca) if args.tls_ca else None,
        source=Path(args.source) if args.source else None,
        device_id=args.device_id,
        tls_cert=Path(args.tls_cert) if args.tls_cert else None,
        tls_key=Path(args.tls_key) if args.tls_key else None,
    )
    print(f"wrote {len(result.files)} files to {result.folder}")
    print(f"first boot hook: {result.hook}")
    return 0


def _register_profile(sub: Any) -> None:
    group = sub.add_parser("profile", help="firmware profiles: validate, sign, flash, roll back")
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = actions.add_parser("schema", help="print the JSON Schema of a profile")
    p.set_defaults(func=cmd_schema)

    p = actions.add_parser("list", help="list the profiles that can be flashed (* marks the active one)")
    _add_root(p)
    p.set_defaults(func=cmd_list)

    p = actions.add_parser("show", help="print a profile (default: the active one) with its hash and signer")
    p.add_argument("profile", nargs="?", metavar="NAME|FILE")
    p.add_argument("--effective", action="store_true", help="print every setting with its effective value")
    _add_root(p)
    p.set_defaults(func=cmd_show)

    p = actions.add_parser("validate", help="validate profiles (default: every profile in the catalogue)")
    p.add_argument("profiles", nargs="*", metavar="NAME|FILE")
    p.set_defaults(func=cmd_validate)

    p = actions.add_parser(
        "diff", help="effective settings that differ (one profile: against the active one); exit 1 if any"
    )
    p.add_argument("old", metavar="NAME|FILE")
    p.add_argument("new", nargs="?", metavar="NAME|FILE")
    _add_root(p)
    p.set_defaults(func=cmd_diff)

    p = actions.add_parser("keygen", help="create an installer signing key (KEY, 0600) and KEY.pub")
    p.add_argument("key", metavar="KEY")
    p.set_defaults(func=cmd_keygen)

    p = actions.add_parser("sign", help="sign a profile with an installer key (writes FILE.sig)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--key", required=True, metavar="KEY", help="installer private key file")
    p.set_defaults(func=cmd_sign)

    p = actions.add_parser("flash", help="install a profile atomically, keeping the previous one")
    p.add_argument("profile", metavar="NAME|FILE")
    _add_root(p)
    p.set_defaults(func=cmd_flash)

    p = actions.add_parser("rollback", help="restore the previous profile")
    _add_root(p)
    p.set_defaults(func=cmd_rollback)


def _register_provision(sub: Any) -> None:
    p = sub.add_parser("provision", help="prepare a freshly imaged Raspberry Pi OS card to install the agent")
    p.add_argument("--boot", required=True, metavar="DIR", help="the card's boot partition (bootfs)")
    p.add_argument("--profile", required=True, metavar="NAME|FILE", help="the profile to flash on first boot")
    p.add_argument("--center", required=True, metavar="FILE", help="the crime center's center.pub.json")
    p.add_argument("--broker", required=True, metavar="URL", help="mqtt://host:port or mqtts://host:port")
    p.add_argument("--installer-pub", metavar="FILE", help="installer public key the device will trust")
    p.add_argument("--tls-ca", metavar="FILE", help="CA certificate (PEM) of an mqtts:// broker")
    p.add_argument("--device-id", metavar="NAME", help="the device's name: its client certificate's common name")
    p.add_argument("--tls-cert", metavar="FILE", help="the device's client certificate (PEM), CN = --device-id")
    p.add_argument("--tls-key", metavar="FILE",
                   help="its key: written to the card, installed on first boot, then deleted from the card")
    p.add_argument("--source", metavar="DIR", help="edge-agent source tree to copy (default: this checkout)")
    p.set_defaults(func=cmd_provision)


def register(subparsers: Any) -> None:
    _register_profile(subparsers)
    _register_provision(subparsers)
