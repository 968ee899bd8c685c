"""The one place that reads and validates files. Errors name the file, the key and, where possible, the line."""

from __future__ import annotations

import json
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from edge_agent.config.models import Profile, ZonesFile
from edge_agent.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

DEFAULT_PROFILE = "default"
# The source tree's catalogue (found from this file, never from the current directory), then the installed one.
PROFILE_DIRS = (Path(__file__).resolve().parents[2] / "firmware_profiles", Path("/etc/edge-agent/profiles"))


def _line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort line number of the deepest named key of ``loc`` in a TOML or JSON text."""
    for part in reversed(loc):
        if isinstance(part, str):
            pattern = re.compile(rf'^[ \t]*"?{re.escape(part)}"?\s*[=:]', re.MULTILINE)
            match = pattern.search(text)
            if match:
                return text.count("\n", 0, match.start()) + 1
            table = re.compile(rf"^[ \t]*\[+\s*(?:[\w.-]+\.)?{re.escape(part)}\s*\]+", re.MULTILINE)
            match = table.search(text)
            if match:
                return text.count("\n", 0, match.start()) + 1
    return None


def format_validation_error(source: str, text: str, exc: ValidationError) -> str:
    """One line per problem: ``FILE:LINE: key.path: message``."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(text, loc)
        where = f"{source}:{line}" if line else source
        lines.append(f"{where}: {key}: {err['msg']}")
    return "; ".join(lines)


def parse_toml(source: str, text: str, model: type[M]) -> M:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    return validate(source, text, data, model)


def parse_json(source: str, text: str, model: type[M]) -> M:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    return validate(source, text, data, model)


def validate(source: str, text: str, data: object, model: type[M]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, text, exc)) from exc


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc


def load_model(path: Path, model: type[M]) -> M:
    """Read a TOML or JSON file (by suffix) into ``model``."""
    text = read_text(path)
    if path.suffix == ".json":
        return parse_json(str(path), text, model)
    return parse_toml(str(path), text, model)


def embedded_profile_text() -> str:
    return resources.files("edge_agent.defaults").joinpath("default.toml").read_text(encoding="utf-8")


def resolve_profile_path(name_or_path: str) -> Path | None:
    """A path if it names a file, else a name looked up in the profile folders; None for the embedded default."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or "/" in name_or_path:
        return candidate
    for folder in PROFILE_DIRS:
        path = folder / f"{name_or_path}.toml"
        if path.is_file():
            return path
    if name_or_path == DEFAULT_PROFILE:
        return None
    raise ConfigError(
        f"profile {name_or_path!r} not found (looked for {name_or_path}.toml in "
        + ", ".join(str(d) for d in PROFILE_DIRS)
        + ")"
    )


def load_profile(name_or_path: str | None = None) -> tuple[Profile, str]:
    """Load a profile by name or path. Returns the profile and its source text (hashed into segment metadata)."""
    path = resolve_profile_path(name_or_path or DEFAULT_PROFILE)
    if path is None:
        text = embedded_profile_text()
        return parse_toml("<embedded default profile>", text, Profile), text
    text = read_text(path)
    return parse_toml(str(path), text, Profile), text


def load_zones(path: Path) -> ZonesFile:
    return load_model(path, ZonesFile)
