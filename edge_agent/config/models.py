"""Pydantic models for every file the agent reads: profiles, zones and public identity files.

These models are the boundary: everything past them is plain frozen dataclasses. ``extra="forbid"`` everywhere so
that a misspelt key is an error that names the key, not a silently ignored setting.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from edge_agent.config import policy

# Hard limits in code (the privacy floor) live in policy.py: no profile may raise a cap above these.
from edge_agent.config.policy import MAX_LIVE_GRANT_HOURS, MAX_REQUEST_WINDOW_HOURS, MAX_RETENTION_HOURS

ZoneKind = Literal["own", "public", "neighbour"]
Point = tuple[Annotated[float, Field(ge=0.0, le=1.0)], Annotated[float, Field(ge=0.0, le=1.0)]]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Zone(Strict):
    """A named polygon in relative 0-1 coordinates (x right, y down), Frigate style."""

    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 _.-]+$")]
    kind: ZoneKind
    coordinates: Annotated[list[Point], Field(min_length=3, max_length=256)]


class ZonesFile(Strict):
    zones: list[Zone] = Field(default_factory=list)

    @field_validator("zones")
    @classmethod
    def _unique_names(cls, zones: list[Zone]) -> list[Zone]:
        names = [z.name for z in zones]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"zone names must be unique, repeated: {', '.join(dupes)}")
        return zones


class CameraSettings(Strict):
    """Hardware: which source, the main (output) stream and the low-resolution detection stream."""

    source: str = "synthetic"
    width: Annotated[int, Field(ge=64, le=3840)] = 1280
    height: Annotated[int, Field(ge=64, le=2160)] = 720
    fps: Annotated[float, Field(gt=0, le=60)] = 15.0
    detect_width: Annotated[int, Field(ge=64, le=1920)] = 320
    detect_height: Annotated[int, Field(ge=64, le=1080)] = 180
    # x264 encodes in this process; "hardware" is the Pi camera's own H.264 encoder (picamera2 source only).
    encoder: Literal["x264", "hardware"] = "x264"
    # x264 preset; "ultrafast" keeps a Pi 4 (software path) within budget.
    x264_preset: Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] = "ultrafast"
    bitrate_kbps: Annotated[int, Field(ge=100, le=20000)] = 2000


class RedactionSettings(Strict):
    """Passers-by redaction. Fields that would weaken the privacy floor are not switchable here.

    Times are in seconds of capture time so that the behaviour does not depend on the frame rate.
    """

    method: Literal["solid", "pixelate"] = "pixelate"
    # Faces (and the head of every masked person): pixelated with blocks sized from the face like the rest of the
    # person, or filled solid black where the homeowner prefers.
    face_method: Literal["pixelate", "solid"] = "pixelate"
    # Block edge in pixels at 720 lines; scaled with the frame height so the coarseness is the same at any size.
    pixel_block: Annotated[int, Field(ge=8, le=128)] = 16
    own_zone_people_visible: bool = False
    frame_budget_ms: Annotated[float, Field(gt=0, le=5000)] = 60.0
    warmup_frames: Annotated[int, Field(ge=1, le=600)] = 15
    # ... or fewer (at least 5) once they span this long: a slow camera is not masked whole for seconds on end.
    warmup_seconds: Annotated[float, Field(gt=0.0, le=60.0)] = 1.5
    track_hold_seconds: Annotated[float, Field(ge=0.5, le=60)] = 4.0
    box_padding: Annotated[float, Field(ge=0.0, le=1.0)] = 0.17
    # The face detector runs on every n-th frame; tracked face boxes are held in between.
    detect_every: Annotated[int, Field(ge=1, le=30)] = 3
    face_score: Annotated[float, Field(ge=0.05, le=0.95)] = 0.5
    # The person detector (for people who stood still since before the background was learnt) runs this often,
    # in seconds of capture time, and on the first frame after every warm-up.
    person_every_seconds: Annotated[float, Field(ge=0.2, le=10.0)] = 3.0
    person_score: Annotated[float, Field(ge=0.05, le=0.95)] = 0.3
    # How long a still foreground region takes to fade into the background (people standing still stay masked).
    absorb_seconds: Annotated[float, Field(ge=10.0, le=3600.0)] = 120.0
    scene_shift_threshold: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    scene_shift_frames: Annotated[int, Field(ge=1, le=300)] = 5


class SegmentSettings(Strict):
    seconds: Annotated[float, Field(ge=1.0, le=60.0)] = 10.0
    live_seconds: Annotated[float, Field(ge=0.5, le=10.0)] = 2.0
    container: Literal["mpegts"] = "mpegts"


class RetentionSettings(Strict):
    hours: Annotated[float, Field(gt=0, le=MAX_RETENTION_HOURS)] = 72.0
    max_bytes: Annotated[int, Field(ge=1 << 20)] = 2 << 30


class OutboxSettings(Strict):
    max_bytes: Annotated[int, Field(ge=1 << 20)] = 512 << 20


class MqttSettings(Strict):
    topic_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")] = "rtcc/v1"
    keepalive: Annotated[int, Field(ge=5, le=3600)] = 30
    max_inflight: Annotated[int, Field(ge=1, le=100)] = 10


class ConsentCaps(Strict):
    max_live_hours: Annotated[float, Field(gt=0, le=MAX_LIVE_GRANT_HOURS)] = 8.0
    max_request_window_hours: Annotated[float, Field(gt=0, le=MAX_REQUEST_WINDOW_HOURS)] = 2.0


class UiSettings(Strict):
    """The homeowner's page, served by the agent itself (``edge-agent ui`` serves it on its own otherwise)."""

    enabled: bool = False
    listen: Annotated[str, Field(pattern=r"^[0-9A-Za-z.:\[\]-]+:[0-9]{1,5}$")] = "0.0.0.0:8080"
    # Names the page answers to besides localhost, the host name, NAME.local and the device's addresses (a name
    # the homeowner's router gives it, say); any other Host header is refused (DNS rebinding).
    hosts: Annotated[list[Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]{1,253}$")]], Field(max_length=16)] = Field(
        default_factory=list)


_TOPIC_PREFIX = r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$"


class HomeAssistantSettings(Strict):
    """The homeowner's own Home Assistant, told about consent and requests over the homeowner's own MQTT broker
    (never the crime center's), with a "stop sharing now" button. Off unless enabled."""

    enabled: bool = False
    broker: Annotated[str, Field(max_length=512)] = ""  # mqtt://homeassistant.local:1883 or mqtts://...
    username: Annotated[str, Field(max_length=128)] = ""
    # A file holding the broker password (mode 0600 on the device), so the password is not in a signed profile.
    password_file: Annotated[str, Field(max_length=1024)] = ""
    tls_ca: Annotated[str, Field(max_length=1024)] = ""  # for mqtts://, else the system's trusted CAs
    discovery_prefix: Annotated[str, Field(pattern=_TOPIC_PREFIX)] = "homeassistant"
    topic_prefix: Annotated[str, Field(pattern=_TOPIC_PREFIX)] = "edge-agent"
    name: Annotated[str, Field(max_length=64)] = "Doorbell camera"

    @model_validator(mode="after")
    def _broker_when_enabled(self) -> HomeAssistantSettings:
        if self.enabled and not self.broker:
            raise ValueError("home_assistant.broker is required when home_assistant.enabled = true")
        if self.password_file and not self.username:
            raise ValueError("home_assistant.password_file needs home_assistant.username")
        return self


class Profile(Strict):
    """A hardware and policy profile (``firmware_profiles/*.toml``)."""

    name: Annotated[str, Field(min_length=1, max_length=64)]
    description: str = ""
    camera: CameraSettings = CameraSettings()
    redaction: RedactionSettings = RedactionSettings()
    segment: SegmentSettings = SegmentSettings()
    retention: RetentionSettings = RetentionSettings()
    outbox: OutboxSettings = OutboxSettings()
    mqtt: MqttSettings = MqttSettings()
    consent: ConsentCaps = ConsentCaps()
    ui: UiSettings = UiSettings()
    home_assistant: HomeAssistantSettings = HomeAssistantSettings()
    zones: list[Zone] = Field(default_factory=list)

    # The privacy floor (policy.py) runs before the field checks so that an attempt to switch off a promise,
    # or to raise a cap above its hard limit, is refused with the rule it breaks.
    @model_validator(mode="before")
    @classmethod
    def _privacy_floor_top_level(cls, data: object) -> object:
        policy.enforce(policy.top_level_violations(data, cls))
        return data

    @field_validator("camera", "redaction", "segment", "retention", "outbox", "mqtt", "consent", mode="before")
    @classmethod
    def _privacy_floor_section(cls, value: object, info: ValidationInfo) -> object:
        policy.enforce(policy.section_violations(str(info.field_name), value, cls))
        return value

    @model_validator(mode="after")
    def _detect_not_larger_than_main(self) -> Profile:
        cam = self.camera
        if cam.detect_width > cam.width or cam.detect_height > cam.height:
            raise ValueError("camera.detect_width/detect_height must not exceed camera.width/height")
        return self

    @model_validator(mode="after")
    def _segments_fit_the_center(self) -> Profile:
        longest = max(self.segment.seconds, self.segment.live_seconds)
        if policy.segment_bytes_bound(self.camera.bitrate_kbps, longest) > policy.MAX_SEGMENT_BYTES:
            raise ValueError(
                f"camera.bitrate_kbps x segment.seconds could make segments larger than the "
                f"{policy.MAX_SEGMENT_BYTES >> 20} MiB the crime center accepts: lower one of them"
            )
        return self


class DeviceIdentityFile(Strict):
    """The public identity a device hands to the crime center (``device.pub.json``)."""

    kind: Literal["edge-agent-device"] = "edge-agent-device"
    device_id: Annotated[str, Field(pattern=r"^[a-z0-9-]{3,64}$")]
    ed25519: Annotated[str, Field(min_length=40, max_length=64)]


class CenterIdentityFile(Strict):
    """The public keys a crime center hands to its devices (``center.pub.json``)."""

    kind: Literal["edge-center"] = "edge-center"
    center_id: Annotated[str, Field(pattern=r"^[a-z0-9-]{3,64}$")]
    x25519: Annotated[str, Field(min_length=40, max_length=64)]
    ed25519: Annotated[str, Field(min_length=40, max_length=64)]


class TlsSettings(Strict):
    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None


class Enrollment(Strict):
    """What ``edge-agent enroll`` records in the data folder (``enrollment.json``)."""

    broker: str
    center: CenterIdentityFile
    archive_x25519: str | None = None
    tls: TlsSettings | None = None


class CenterSettings(Strict):
    """The crime center's own settings (``<center dir>/center.json``): the broker its tools talk to."""

    broker: Annotated[str, Field(min_length=1, max_length=512)]
    tls: TlsSettings | None = None
    topic_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")] = "rtcc/v1"
