"""``facesidecar serve`` as Nextcloud's external model: /detect over HTTP against the reference service's path.

    .venv/bin/python bench/serve_bench.py                  # 20 photos of tests/data/faces, 2 rounds
    .venv/bin/python bench/serve_bench.py --photos 60 --rounds 3

The peer is what matiasdelellis/facerecognition-external-model does per request with model 3
(HOG): ``dlib.load_rgb_image`` of the saved upload, the HOG detector with one upsampling, the
5-point shape and the ResNet descriptor per face, in-process without HTTP. facesidecar is measured
through a real server on 127.0.0.1 (multipart upload, API key, decode with the bomb limits, JSON),
so the difference is what the protocol, the checks and the decoder cost. Both see the same photos,
scaled first to the server's maximum area as the Nextcloud app does.
"""

from __future__ import annotations

import argparse
import io
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from facesidecar.compose import assemble_scanner  # noqa: E402
from facesidecar.config import Settings, with_roots  # noqa: E402
from facesidecar.serve.app import EXTENSION, close_app, create_app  # noqa: E402
from tests.serve.nextcloud_client import NextcloudClient  # noqa: E402

FACES = PROJECT / "tests" / "data" / "faces"
KEY = "bench-key-0123456789abcdef"


def photos(count: int, maximum_area: int) -> list[bytes]:
    """JPEGs of identity and group photos, scaled to ``maximum_area`` as Nextcloud's TempImage does."""
    files = sorted(p for p in FACES.glob("*/*.jpg") if p.parent.name not in ("corrupt", "noface", "variants"))
    chosen = files[:: max(1, len(files) // count)][:count]
    out = []
    for path in chosen:
        with Image.open(path) as image:
            image = image.convert("RGB")
            factor = (maximum_area / (image.width * image.height)) ** 0.5
            image = image.resize((round(image.width * factor), round(image.height * factor)))
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=90)
            out.append(buffer.getvalue())
    return out


def reference(images: list[bytes]) -> tuple[float, int]:
    """The reference external model's detect path (model 3), in-process; (seconds, faces)."""
    import dlib

    from facesidecar.engines.dlib_engine import RECOGNITION_MODEL, SHAPE_PREDICTOR, models_dir

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(models_dir() / SHAPE_PREDICTOR))
    encoder = dlib.face_recognition_model_v1(str(models_dir() / RECOGNITION_MODEL))
    faces = 0
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        for number, data in enumerate(images):
            path = Path(folder) / f"{number}.jpg"
            path.write_bytes(data)  # the reference saves every upload before reading it
            image = dlib.load_rgb_image(str(path))
            for rect in detector(image, 1):
                shape = predictor(image, rect)
                encoder.compute_face_descriptor(image, shape)
                faces += 1
            path.unlink()
        return time.perf_counter() - started, faces


def served(images: list[bytes], maximum_area: int) -> tuple[float, int]:
    """The same photos through ``facesidecar serve`` over HTTP; (seconds, faces)."""
    from werkzeug.serving import make_server

    with tempfile.TemporaryDirectory() as folder:
        settings = with_roots(Settings(), [folder])
        settings.metadata.enabled = False
        settings.state_dir = str(Path(folder) / "state")
        settings.serve.maximum_area = maximum_area
        settings.serve.rate_limit = 0
        app = create_app(settings, assemble_scanner(settings), KEY)
        app.extensions[EXTENSION]["model"].load()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            client = NextcloudClient(f"http://127.0.0.1:{server.server_port}", KEY)
            faces = 0
            started = time.perf_counter()
            for data in images:
                reply = client.detect(data)
                faces += reply.json()["faces-count"]
            return time.perf_counter() - started, faces
        finally:
            server.shutdown()
            server.server_close()
            close_app(app)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="best of this many rounds")
    parser.add_argument("--maximum-area", type=int, default=4_000_000, help="pixels per photo (the app scales to it)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    images = photos(args.photos, args.maximum_area)
    print(f"{len(images)} photos scaled to {args.maximum_area:,} pixels ({sum(map(len, images)) / 1e6:.1f} MB of JPEG)")
    best = {}
    for _ in range(args.rounds):
        for name, run in (("reference external model (dlib HOG, in-process)", lambda: reference(images)),
                          ("facesidecar serve /detect (HTTP)", lambda: served(images, args.maximum_area))):
            seconds, faces = run()
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, faces)
    for name, (seconds, faces) in best.items():
        print(f"{name}: {len(images) / seconds:.2f} photos/s, {1000 * seconds / len(images):.0f} ms/photo, {faces} faces")
    (ref_s, ref_faces), (srv_s, srv_faces) = best.values()
    print(f"serve vs reference: {srv_s / ref_s:.2f}x the time; faces {srv_faces} vs {ref_faces}")


if __name__ == "__main__":
    main()
