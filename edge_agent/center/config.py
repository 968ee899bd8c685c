"""The center's own settings: the broker its subscriber and its request tool use (``DIR/center.json``).

``edge-center broker set URL`` writes it once; ``subscribe`` and ``request`` then take the broker from it unless
``--broker`` is given. Neither command ever falls back to a broker nobody named.
"""

from __future__ import annotations

import json

from edge_agent.center.files import write_private
from edge_agent.center.keys import CenterPaths
from edge_agent.config.loader import load_model
from edge_agent.config.models import CenterSettings, TlsSettings
from edge_agent.errors import CenterError
from edge_agent.transport.model import parse_broker_url


def save_settings(paths: CenterPaths, settings: CenterSettings) -> None:
    parse_broker_url(settings.broker)  # refuse a URL the link would refuse, now rather than at first use
    text = json.dumps(settings.model_dump(), indent=2, sort_keys=True) + "\n"
    write_private(paths.root / "center.json", text.encode("utf-8"))


def load_settings(paths: CenterPaths) -> CenterSettings | None:
    path = paths.root / "center.json"
    return load_model(path, CenterSettings) if path.exists() else None


def broker_for(paths: CenterPaths, broker: str | None, tls: TlsSettings | None) -> tuple[str, TlsSettings | None]:
    """The broker named on the command line, else the one in ``center.json``; CenterError when there is none."""
    if broker:
        return broker, tls
    settings = load_settings(paths)
    if settings is None:
        raise CenterError(
            f"no broker: pass --broker mqtts://HOST:PORT, or set one for this center with: "
            f"edge-center --dir {paths.root} broker set mqtts://HOST:PORT"
        )
    return settings.broker, tls if tls is not None else settings.tls
