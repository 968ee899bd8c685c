"""Where the center's devices are, coarsely: an area name and a point rounded to about a kilometre, never an
address. Given at enrolment (``edge-center devices add FILE --area NAME --near LAT,LON``) or later
(``devices place``), both optional. A neighbour's masking request goes to the devices near the neighbour's point, or
in the neighbour's area, and to every device without a place (asked anyway, since it may see the property); the
public page counts devices by area.

``DIR/places/<device-id>.json``: ``{"area": "Elm St north", "near": [52.52, 13.4]}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from edge_agent.center.files import write_private
from edge_agent.consent.documents import text
from edge_agent.errors import CenterError, ConsentError
from edge_agent.transport.topics import check_device_id

EARTH_RADIUS_KM = 6371.0
DECIMALS = 2  # 0.01 degree: about 1.1 km north-south


@dataclass(frozen=True, slots=True)
class Place:
    area: str  # "" when not given
    near: tuple[float, float] | None  # latitude, longitude, rounded


def parse_point(value: str) -> tuple[float, float]:
    """``"52.5200, 13.4050"`` as (latitude, longitude); CenterError for anything else."""
    try:
        lat_text, lon_text = value.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise CenterError(f"{value!r}: expected LATITUDE,LONGITUDE in degrees, e.g. 52.52,13.40") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise CenterError(f"{value!r}: latitude -90..90 and longitude -180..180")
    return lat, lon


def coarse(point: tuple[float, float]) -> tuple[float, float]:
    return round(point[0], DECIMALS), round(point[1], DECIMALS)


def check_area(area: str) -> str:
    try:
        return text({"area": area.strip()}, "area", "area", 64, required=False)
    except ConsentError as exc:
        raise CenterError(str(exc)) from None


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


class Places:
    def __init__(self, root: Path) -> None:
        self.folder = root / "places"

    def set(self, device_id: str, area: str = "", near: tuple[float, float] | None = None) -> Place:
        check_device_id(device_id)
        place = Place(check_area(area), None if near is None else coarse(near))
        doc = {"area": place.area, "near": None if place.near is None else list(place.near)}
        write_private(self.folder / f"{device_id}.json", json.dumps(doc, sort_keys=True).encode("utf-8"))
        return place

    def get(self, device_id: str) -> Place | None:
        try:
            doc = json.loads((self.folder / f"{device_id}.json").read_text(encoding="utf-8"))
            near = doc.get("near")
            return Place(str(doc.get("area", "")), None if near is None else (float(near[0]), float(near[1])))
        except (OSError, ValueError, TypeError, KeyError, IndexError, AttributeError):
            return None

    def all(self, device_ids: list[str]) -> dict[str, Place | None]:
        return {device_id: self.get(device_id) for device_id in device_ids}
