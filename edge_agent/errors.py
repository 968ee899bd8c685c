"""One exception root with a subclass per stage.

The command line catches :class:`EdgeAgentError` and prints its message on one line; anything else is a bug
and is allowed to show a traceback. Messages must never contain key material, tokens or frame data.
"""

from __future__ import annotations


class EdgeAgentError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(EdgeAgentError):
    """A profile, zone file, key file or other input file is missing or invalid."""


class CaptureError(EdgeAgentError):
    """The frame source cannot be opened or stopped delivering frames."""


class RedactError(EdgeAgentError):
    """Redaction could not vouch for a frame (the pipeline then fails closed)."""


class SegmentError(EdgeAgentError):
    """Encoding or decoding a video segment failed."""


class SealError(EdgeAgentError):
    """Sealing a segment failed (bad key, bad recipient)."""


class OpenError(SealError):
    """An envelope could not be opened.

    Deliberately opaque: every bad input (bad magic, truncation, bad signature, unknown device, wrong key,
    tampered ciphertext) raises this with the same message so that nothing leaks which check failed.
    """

    def __init__(self) -> None:
        super().__init__("envelope rejected")


class OutboxError(EdgeAgentError):
    """The durable outbox could not store or read a sealed segment."""


class TransportError(EdgeAgentError):
    """The MQTT broker is unreachable or refused an operation."""


class ConsentError(EdgeAgentError):
    """A consent change or police request was refused."""


class CenterError(EdgeAgentError):
    """The crime center side could not verify, decrypt or store something."""


class DaemonError(EdgeAgentError):
    """The device's daemon cannot start (another agent runs on its data folder, ...)."""
