"""The external-model protocol as Nextcloud's Face Recognition app speaks it, against a real server."""

from __future__ import annotations

import io
import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from facesidecar.serve.errors import ServeError
from facesidecar.serve.protocol import parse_rectangle

from .conftest import API_KEY
from .nextcloud_client import NextcloudClient


def jpeg(width: int, height: int) -> bytes:
    """A smooth picture (small as a JPEG) of the given size."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    pixels = np.broadcast_to((x + y) / 2, (height, width, 3)).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=80)
    return out.getvalue()


@pytest.fixture(scope="module")
def photo(served) -> bytes:
    return (served.root / "album" / "group16.jpg").read_bytes()


def test_open_detect_compute_as_nextcloud_does(served, photo):
    client = NextcloudClient(served.url, API_KEY)
    opened = client.open()
    assert opened.status == 200
    assert opened.json() == {"preferred_mimetype": "image/jpeg", "maximum_area": 1_000_000}

    detected = client.detect(photo)
    assert detected.status == 200 and detected.headers["content-type"].startswith("application/json")
    answer = detected.json()
    assert answer["filename"] == "oc_tmp_a1b2c3"
    assert answer["faces-count"] == len(answer["faces"]) == 3  # group/16.jpg: faces_expected 3
    width, height = Image.open(io.BytesIO(photo)).size
    for face in answer["faces"]:
        assert 0 <= face["left"] < face["right"] < width and 0 <= face["top"] < face["bottom"] < height
        assert face["detection_confidence"] >= 0.99  # the app's default minimum confidence
        assert len(face["landmarks"]) == 5
        assert all(face["left"] - 20 <= p["x"] <= face["right"] + 20 for p in face["landmarks"])
        descriptor = face["descriptor"]
        assert len(descriptor) == 128 and all(isinstance(v, float) and math.isfinite(v) for v in descriptor)

        rectangle = {k: face[k] for k in ("left", "top", "right", "bottom")}
        computed = client.compute(photo, rectangle)
        assert computed.status == 200
        echoed = computed.json()["face"]
        assert {k: echoed[k] for k in rectangle} == rectangle
        assert echoed["landmarks"] == face["landmarks"]
        assert np.allclose(echoed["descriptor"], descriptor, atol=1e-4)
    first, second = (np.array(f["descriptor"]) for f in answer["faces"][:2])
    assert np.linalg.norm(first - second) > 0.3  # different people of the photo are far apart


def test_the_key_is_needed_everywhere_but_health_and_welcome(served, photo):
    for key in (None, "wrong-key-0123456789abcdef", API_KEY[:-1], API_KEY + "x"):
        client = NextcloudClient(served.url, key)
        assert client.open().status == 401
        assert client.detect(photo).status == 401
        assert client.compute(photo, {"left": 1, "top": 1, "right": 9, "bottom": 9}).status == 401
        for path in ("/learn", "/recognize"):
            assert client.multipart(path, [("file", "a.jpg", "image/jpeg", photo)], []).status == 401
    anonymous = NextcloudClient(served.url, None)
    health = anonymous.request("GET", "/health", [])
    assert (health.status, health.body, health.headers["content-type"].split(";")[0]) == (200, b"ok", "text/plain")
    welcome = anonymous.request("GET", "/welcome", []).json()
    assert welcome["facerecognition-external-model"] == "welcome" and welcome["model"] == 3 and welcome["version"]


def test_a_photo_above_the_maximum_area_is_412(served):
    client = NextcloudClient(served.url, API_KEY)
    assert client.detect(jpeg(1500, 1000)).status == 412
    assert client.compute(jpeg(1500, 1000), {"left": 1, "top": 1, "right": 9, "bottom": 9}).status == 412
    # what the app's TempImage makes of a 4:3 photo for a 1 000 000 pixel area: 1155 x 866 (rounded up)
    resized = client.detect(jpeg(1155, 866))
    assert resized.status == 200 and resized.json()["faces-count"] == 0


def test_garbage_is_400_and_the_server_goes_on(served, photo):
    client = NextcloudClient(served.url, API_KEY)
    garbage = os.urandom(5000)
    assert client.detect(garbage).status == 400
    assert client.detect(photo[: len(photo) // 3]).status == 400  # a truncated JPEG: never "no faces"
    assert client.multipart("/detect", [("other", "a.jpg", "image/jpeg", photo)], [f"x-api-key: {API_KEY}"]).status == 400
    assert client.compute(garbage, {"left": 1, "top": 1, "right": 9, "bottom": 9}).status == 400
    for face in ("not json", "[1, 2]", '{"left": 1}', '{"left": "a", "top": 1, "right": 2, "bottom": 3}',
                 '{"left": 50, "top": 1, "right": 2, "bottom": 30}', '{"left": 9000, "top": 9000, "right": 9100, "bottom": 9100}'):
        parts = [("file", "a.jpg", "image/jpeg", photo), ("face", None, None, face.encode())]
        reply = client.multipart("/compute", parts, [f"x-api-key: {API_KEY}"])
        assert reply.status == 400, face
        assert reply.json()["error"]
    too_big = client.multipart("/detect", [("file", "big.jpg", "image/jpeg", os.urandom(3 * 1024 * 1024))],
                               [f"x-api-key: {API_KEY}"])
    assert too_big.status in (413, 0), too_big  # 413, or (on a busy machine) a reset before the answer
    assert client.request("GET", "/health", []).body == b"ok"
    assert client.request("GET", "/detect", [f"x-api-key: {API_KEY}"]).status == 405
    assert client.request("GET", "/nothing-here", [f"x-api-key: {API_KEY}"]).status == 404
    assert client.detect(photo).json()["faces-count"] == 3


def test_uploads_never_land_in_the_library(served, photo):
    before = sorted(p for p in served.root.rglob("*"))
    client = NextcloudClient(served.url, API_KEY)
    client.detect(photo, filename="../../escape.jpg")
    client.detect(os.urandom(100), filename="x.jpg")
    assert sorted(p for p in served.root.rglob("*")) == before


def test_parse_rectangle_clips_to_the_image_and_echoes_whole_pixels():
    face, box = parse_rectangle(json.dumps({"left": -5, "top": 2.4, "right": 120, "bottom": 30, "id": 7}), 100, 50)
    assert face == {"left": -5, "top": 2, "right": 120, "bottom": 30, "id": 7}
    assert (box.left, box.top, box.right, box.bottom) == (0, 2, 100, 31)
    for raw in (None, "", "{}", '{"left": true, "top": 1, "right": 2, "bottom": 3}', '{"left": NaN, "top": 1, "right": 2, "bottom": 3}'):
        with pytest.raises(ServeError) as refused:
            parse_rectangle(raw, 100, 50)
        assert refused.value.status == 400
