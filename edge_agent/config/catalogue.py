"""Profile documents: finding a profile by name or path, reading its exact bytes, validating it, listing them.

A profile is handled as a :class:`ProfileDoc`, its validated model together with the bytes it came from, because
the bytes (not the model) are what is hashed, signed and flashed (:mod:`edge_agent.config.signatures`,
:mod:`edge_agent.config.profiles`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from edge_agent.config.loader import DEFAULT_PROFILE, PROFILE_DIRS, embedded_profile_text, parse_toml
from edge_agent.config.models import Profile
from edge_agent.errors import ConfigError

_EMBEDDED = "<embedded default profile>"


@dataclass(frozen=True, slots=True)
class ProfileDoc:
    """A profile with its exact bytes: the bytes are what is hashed, signed and flashed."""

    source: str
    path: Path | None
    data: bytes
    profile: Profile

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc


def parse_doc(source: str, path: Path | None, data: bytes) -> ProfileDoc:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text") from exc
    return ProfileDoc(source, path, data, parse_toml(source, text, Profile))


def catalogue_dirs(root: Path | None) -> list[Path]:
    """Where profiles are looked up by name: the source tree, the root's catalogue, the installed catalogue."""
    dirs = [PROFILE_DIRS[0]]
    if root is not None:
        dirs.append(root / "profiles")
    dirs.extend(d for d in PROFILE_DIRS[1:] if d not in dirs)
    return dirs


def resolve(name_or_path: str, root: Path | None = None) -> Path | None:
    """A file path, or a name looked up in :func:`catalogue_dirs`; None means the embedded default."""
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return Path(name_or_path)
    for folder in catalogue_dirs(root):
        path = folder / f"{name_or_path}.toml"
        if path.is_file():
            return path
    if name_or_path == DEFAULT_PROFILE:
        return None
    looked = ", ".join(str(d) for d in catalogue_dirs(root))
    raise ConfigError(f"profile {name_or_path!r} not found (looked for {name_or_path}.toml in {looked})")


def load_doc(name_or_path: str, root: Path | None = None) -> ProfileDoc:
    path = resolve(name_or_path, root)
    if path is None:
        return parse_doc(_EMBEDDED, None, embedded_profile_text().encode("utf-8"))
    return parse_doc(str(path), path, read_bytes(path))


def list_catalogue(root: Path | None = None) -> list[Path]:
    """Profile files by name, first folder winning, sorted by name."""
    seen: dict[str, Path] = {}
    for folder in catalogue_dirs(root):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                seen.setdefault(path.stem, path)
    return [seen[name] for name in sorted(seen)]
