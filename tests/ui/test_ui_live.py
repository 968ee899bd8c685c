"""The live view over a real socket: only redacted pixels, and none at all before pairing."""

from __future__ import annotations

import http.cookiejar
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import cv2
import numpy as np
import numpy.typing as npt

from edge_agent.ui import UiServer
from edge_agent.ui.access import AccessStore
from tests.ui.ui_helpers import TOKEN

Image = npt.NDArray[np.uint8]


class Browser:
    def __init__(self, server: UiServer) -> None:
        self.base = server.url.rstrip("/")
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.token = ""

    def open(self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, str,
                                                                                                         bytes]:
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=10) as resp:
                return resp.status, resp.headers.get_content_type(), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get_content_type(), exc.read()

    def pair(self, server: UiServer) -> None:
        _, _, page = self.open("/pair", headers={"Accept": "text/html"})
        match = TOKEN.search(page.decode())
        assert match
        code = AccessStore(server.context.paths.root).new_code()
        form = urllib.parse.urlencode({"code": code.code, "csrf_token": match.group(1)}).encode()
        status, _, _ = self.open("/pair", data=form)
        assert status == 200  # urllib follows the 303 to the live page
        _, _, page = self.open("/", headers={"Accept": "text/html"})
        match = TOKEN.search(page.decode())
        assert match
        self.token = match.group(1)

    def image(self, path: str, body: object | None = None) -> Image:
        deadline = time.monotonic() + 30
        while True:
            data = None if body is None else json.dumps(body).encode()
            headers = {"X-CSRF-Token": self.token, "Content-Type": "application/json"}
            status, kind, raw = self.open(path, data=data, headers=headers)
            if status == 200:
                assert kind == "image/jpeg"
                return np.asarray(cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR), dtype=np.uint8)
            assert status == 503, (path, status, raw[:200])
            assert time.monotonic() < deadline, f"{path}: no picture"
            time.sleep(0.2)


def _region(image: Image, x0: float, y0: float, x1: float, y1: float, margin: int = 6) -> Image:
    h, w = image.shape[:2]
    return image[round(y0 * h) + margin:round(y1 * h) - margin, round(x0 * w) + margin:round(x1 * w) - margin]


def test_nothing_is_served_before_pairing(live_server: UiServer) -> None:
    browser = Browser(live_server)
    for path in ("/snapshot.jpg", "/zones/calibration.jpg", "/api/zones", "/api/status"):
        status, kind, body = browser.open(path)
        assert status == 401 and kind == "application/json", path
        assert not body.startswith(b"\xff\xd8")  # no JPEG
    status, _, _ = browser.open("/api/zones/preview", data=b'{"zones": []}')
    assert status == 401


def test_live_snapshot_is_redacted_and_calibration_shows_only_what_the_homeowner_may_draw_on(
    live_server: UiServer,
) -> None:
    browser = Browser(live_server)
    browser.pair(live_server)
    neighbour = next(z for z in live_server.context.profile.zones if z.kind == "neighbour")
    (x0, y0), (x1, y1) = neighbour.coordinates[0], neighbour.coordinates[2]
    shared = browser.image("/snapshot.jpg")
    assert shared.shape[:2] == (360, 640)
    assert int(_region(shared, x0, y0, x1, y1).max()) <= 16  # solid black, up to JPEG ringing
    # The calibration view leaves the neighbour's house visible so that it can be drawn around.
    calib = browser.image("/zones/calibration.jpg")
    assert float(_region(calib, x0, y0, x1, y1).mean()) > 40
    # Preview a draft that makes the porch a neighbour zone too: that area comes back black, unsaved.
    draft = {"zones": [z.model_dump() for z in live_server.context.profile.zones]}
    for zone in draft["zones"]:
        if zone["name"] == "porch":
            zone["kind"] = "neighbour"
    preview = browser.image("/api/zones/preview", draft)
    assert int(_region(preview, 0.0, 0.0, 0.70, 0.62).max()) <= 16
    assert not live_server.context.zones.path.exists()
