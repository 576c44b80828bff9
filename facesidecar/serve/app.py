"""The HTTP side of ``facesidecar serve``: ``create_app(settings, scanner, api_key)`` builds a Flask app.

Endpoints (every one but /health and /welcome needs the ``x-api-key`` header):

==========================  ============================================================
``GET /health``             ``ok`` (text): the process answers
``GET /welcome``            who we are, version, and the model once the engine is loaded
``GET /open``               loads the engine; ``preferred_mimetype`` and ``maximum_area``
``POST /detect``            faces of the uploaded ``file`` with landmarks and descriptors
``POST /compute``           landmarks and descriptor of the rectangle ``face`` in ``file``
``POST /learn``             keep ``file`` (one face) as ``person`` [in ``directory``], confirmed
``POST /recognize``         who is in ``file`` [among the people learned in ``directory``]
==========================  ============================================================

Answers are JSON (errors too: ``{"status": "error", "error": "…"}``). Safety: requests per client
are rate limited (failed keys count), bodies are capped at ``serve.max_upload_mb``, at most
``serve.max_concurrent`` photos are decoded at once, and uploads live in a private temporary
folder only for the duration of the request. There are no cookies and no CORS headers, so a web
page in a browser cannot make the browser send the key.
"""

from __future__ import annotations

import logging
import math

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from ..config import Settings
from ..errors import FacesidecarError
from ..scan import Scanner
from .auth import HEADER, key_matches
from .errors import ServeError
from .learning import Learning
from .limits import RateLimiter, Slots
from .protocol import ExternalModel
from .uploads import Uploads

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/welcome"})
"""Answered without the API key: they tell nothing about the photos or the people."""
UNLIMITED_PATHS = frozenset({"/health"})
"""Not rate limited: monitoring polls it."""
EXTENSION = "facesidecar.serve"


def create_app(settings: Settings, scanner: Scanner, api_key: str) -> Flask:
    """The serve app for ``scanner``'s engine and library (pass the scanner built with the metadata
    and mirror adapters, so that learned names reach the photos and the database)."""
    serve = settings.serve
    maximum_area = serve.maximum_area or settings.engine.max_image_pixels
    model = ExternalModel(scanner.engines.primary, maximum_area, settings.engine.min_face_size)
    learning = Learning(scanner, settings)
    uploads = Uploads(settings.engine)
    limiter = RateLimiter(serve.rate_limit)
    slots = Slots(serve.max_concurrent, serve.queue_timeout)

    app = Flask(__name__, static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=int(serve.max_upload_mb * 1024 * 1024))
    app.json.sort_keys = False
    app.extensions[EXTENSION] = {"model": model, "learning": learning, "uploads": uploads}

    # -- guards --------------------------------------------------------------------------------
    @app.before_request
    def guard():
        if request.path not in UNLIMITED_PATHS:
            wait = limiter.wait_time(request.remote_addr or "")
            if wait:
                response = error_response(429, "too many requests from this address; slow down (serve.rate_limit)")
                response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return response
        if request.path not in OPEN_PATHS and not key_matches(request.headers.get(HEADER), api_key):
            return error_response(401, f"the {HEADER} header is missing or wrong")
        if request.method == "POST":
            if not slots.acquire():
                response = error_response(503, "the server is busy with other photos; try again shortly")
                response.headers["Retry-After"] = "5"
                return response
            g.slot = True
        return None

    @app.teardown_request
    def free_slot(_exc):
        if g.pop("slot", False):
            slots.release()

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(ServeError)
    def serve_error(exc: ServeError):
        return error_response(exc.status, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(FacesidecarError)
    def engine_error(exc: FacesidecarError):
        log.error("%s %s: %s", request.method, request.path, exc)
        return error_response(500, str(exc))

    # -- the external model (Nextcloud Face Recognition) ------------------------------------------
    @app.get("/health")
    def health():
        return Response("ok", mimetype="text/plain")

    @app.get("/welcome")
    def welcome():
        return jsonify(model.welcome())

    @app.get("/open")
    def open_model():
        return jsonify(model.open())

    @app.post("/detect")
    def detect():
        with uploads.received(request.files.get("file")) as upload:
            photo = uploads.decode(upload, maximum_area, 412)
            return jsonify(model.detect(photo, upload.filename))

    @app.post("/compute")
    def compute():
        with uploads.received(request.files.get("file")) as upload:
            photo = uploads.decode(upload, maximum_area, 412)
            return jsonify(model.compute(photo, upload.filename, request.form.get("face")))

    # -- learn / recognize ------------------------------------------------------------------------
    @app.post("/learn")
    def learn():
        with uploads.received(request.files.get("file")) as upload:
            photo = uploads.decode_scaled(upload)
            answer = learning.learn(request.form.get("person"), request.form.get("directory"), upload, photo)
            return jsonify({**answer, "filename": upload.filename})

    @app.post("/recognize")
    def recognize():
        directory = request.form.get("directory") or None
        with uploads.received(request.files.get("file")) as upload:
            photo = uploads.decode_scaled(upload)
            persons = learning.recognize(photo, directory)
            return jsonify({"status": "OK", "filename": upload.filename, "directory": directory,
                            "persons": [p.to_json() for p in persons]})

    return app


def error_response(status: int, message: str) -> Response:
    response = jsonify({"status": "error", "error": message})
    response.status_code = status
    return response


def close_app(app: Flask) -> None:
    """Remove the private upload folder."""
    app.extensions[EXTENSION]["uploads"].close()


__all__ = ["create_app", "close_app"]
