"""The review web app: ``create_app(settings, roots, scanner)`` builds a Flask app.

Pages are rendered on the server; the only JavaScript is one key handler. Safety:

* every POST carries a CSRF token bound to the browser's session;
* with an access token (required when binding to anything but loopback) every request must carry it:
  ``?token=`` once (it is then kept in an HttpOnly cookie), or the ``X-Facesidecar-Token`` header;
* on loopback the Host header must be a loopback name, so a web page cannot reach the app through
  DNS rebinding;
* no path is served that ``LibraryView.resolve_folder``/``resolve_photo`` did not check;
* templates are autoescaped; ``review.read_only`` refuses every POST.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, Response, abort, flash, g, redirect, render_template, request, session, url_for
from jinja2 import DictLoader
from markupsafe import Markup
from werkzeug.exceptions import HTTPException

from ..config import Settings
from ..errors import FacesidecarError
from ..names import shown
from ..scan import Scanner
from ..store.cells import file_from_cell, file_to_cell
from .actions import ActionError, Actions, Outcome
from .index import FaceView, LibraryView, NotFound
from .templates import CSS, JS, TEMPLATES
from .thumbs import ThumbnailCache

log = logging.getLogger(__name__)

TOKEN_COOKIE = "facesidecar_token"
TOKEN_HEADER = "X-Facesidecar-Token"
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
PAGE = 200
"""Faces (or clusters) shown at first on one page; "show more" asks for more."""
STRIP = 12
"""Faces shown per cluster on the clusters page; larger clusters are named from their own page."""
ASSETS = {"app.css": (CSS, "text/css"), "app.js": (JS, "text/javascript")}


def is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass(frozen=True)
class ConfirmRange:
    """The person page's "confirm every guess up to distance D": the guesses' distances, the slider's
    range and where it stands, and how many guesses that confirms."""

    distances: list[float]
    low: float
    high: float
    value: float

    @property
    def count(self) -> int:
        return sum(1 for d in self.distances if d <= self.value + 1e-9)


def confirm_range(guessed: list[FaceView], asked: str | None) -> ConfirmRange | None:
    """None without guesses that have a distance; the slider starts at the median guess (half of them)."""
    distances = sorted(round(f.distance, 3) for f in guessed if f.distance is not None)
    if not distances:
        return None
    low, high = math.floor(distances[0] * 100) / 100, math.ceil(distances[-1] * 100) / 100
    try:
        value = float(asked) if asked else distances[(len(distances) - 1) // 2]
    except ValueError:
        value = distances[(len(distances) - 1) // 2]
    return ConfirmRange(distances, low, high, min(max(value, low), high))


PATH_ARGS = ("folder", "file")
"""Request and form fields that carry a folder key or a file name (see :func:`_carry_any_file_name`)."""


def _carry_any_file_name(app: Flask) -> None:
    """Pages that work for any file name the file system allows (issue 13, rules 4 and 6).

    A file or folder name that is not UTF-8 (surrogate escapes) cannot be put into a URL or an HTML
    page as it is (one such photo made every page that listed it fail), and one holding control
    characters must not reach the page raw. Links and forms carry such names in faces.csv's ``file``
    cell form (``caf%E9.jpg``, read back by :func:`path_arg`); text shows them escaped.
    """
    plain_url_for = app.jinja_env.globals["url_for"]

    def url_for_any_name(endpoint: str, **values) -> str:
        return plain_url_for(endpoint, **{k: file_to_cell(v) if k in PATH_ARGS and isinstance(v, str) else v
                                          for k, v in values.items()})

    app.jinja_env.globals["url_for"] = url_for_any_name
    app.jinja_env.filters["as_arg"] = file_to_cell
    app.jinja_env.finalize = lambda value: shown(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def path_arg(values, field: str) -> str:
    """A folder key or file name as a link or form carried it (see :func:`_carry_any_file_name`)."""
    return file_from_cell(values.get(field, ""))


def create_app(settings: Settings, roots: list[Path], scanner: Scanner) -> Flask:
    """The review app for the photo folders below ``roots``.

    ``scanner`` does the writes (``update_folder``/``refresh``): the one
    :func:`facesidecar.compose.build_scanner` builds, so that names reach the photos' metadata
    and the database.
    """
    roots = [Path(r).resolve() for r in roots]
    if not roots:
        raise FacesidecarError("review: no folders to show; give a PATH or configure [[roots]]")
    review = settings.review
    token = review.token or ("" if is_loopback(review.bind) else secrets.token_urlsafe(24))
    state = settings.state_path()

    app = Flask(__name__, static_folder=None)
    app.jinja_loader = DictLoader(TEMPLATES)
    _carry_any_file_name(app)
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_NAME="facesidecar_session",
        ACCESS_TOKEN=token,
        READ_ONLY=review.read_only,
        CHECK_HOST=is_loopback(review.bind) and not token,
        MAX_CONTENT_LENGTH=1 << 20,
    )
    view = LibraryView(roots, settings.exclude)
    actions = Actions(scanner)
    thumbs = ThumbnailCache(state / "thumbs", settings.engine.pixel_limit,
                            decode_memory_mb=settings.engine.decode_memory_mb)
    thumbs.prune()
    app.extensions["facesidecar"] = {"view": view, "actions": actions, "thumbs": thumbs, "scanner": scanner}

    # -- safety ---------------------------------------------------------------------------------
    def csrf_token() -> str:
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
        return session["csrf"]

    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.before_request
    def guard():
        if app.config["CHECK_HOST"] and _host_name(request.host) not in LOOPBACK_HOSTS:
            abort(403, "this page answers only on localhost")
        expected = app.config["ACCESS_TOKEN"]
        if expected:
            given = request.args.get("token")
            if given is not None and hmac.compare_digest(given.encode(), expected.encode()):
                rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
                target = request.path + ("?" + urlencode(rest) if rest else "")
                response = redirect(target, code=303)
                response.set_cookie(TOKEN_COOKIE, expected, httponly=True, samesite="Strict")
                return response
            sent = request.headers.get(TOKEN_HEADER) or request.cookies.get(TOKEN_COOKIE) or ""
            if not hmac.compare_digest(sent.encode(), expected.encode()):
                abort(401, "an access token is required: open the address printed when the review page started")
        if request.method == "POST":
            if app.config["READ_ONLY"]:
                abort(403, "the review page is read-only (review.read_only = true)")
            form_token = request.form.get("csrf", "")
            if not form_token or "csrf" not in session or not hmac.compare_digest(form_token.encode(), session["csrf"].encode()):
                abort(400, "the form is outdated or did not come from this page (CSRF token missing or wrong); reload and try again")

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'none'; img-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        if response.mimetype == "text/html":
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(NotFound)
    def not_found(exc):
        return render_template("error.html", code=404, message="not found"), 404

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return render_template("error.html", code=exc.code, message=exc.description), exc.code

    @app.context_processor
    def context():
        return {"read_only": app.config["READ_ONLY"], "known_names": g.get("known_names", []),
                "nav": g.get("nav", {})}

    # -- helpers ----------------------------------------------------------------------------------
    def faces() -> list[FaceView]:
        result = view.all_faces()
        g.known_names = sorted({f.name for f in result if f.confirmed}, key=str.casefold)
        g.nav = {"people": len(view.people(result)), "clusters": len(view.clusters(result)),
                 "unknown": sum(1 for f in result if not f.name and not f.guess and not f.cluster)}
        return result

    def limit() -> int:
        try:
            return min(max(int(request.args.get("limit", PAGE)), 1), 100_000)
        except ValueError:
            return PAGE

    def next_url() -> str:
        target = request.form.get("next", "")
        if not target.startswith("/") or target.startswith("//") or "\\" in target:
            return url_for("people")
        return target

    def done(outcome: Outcome, message: str):
        if outcome.conflicts or outcome.errors:
            flash(outcome.message(message), "error")
        else:
            flash(outcome.message(message), "ok")
        return redirect(next_url(), code=303)

    def form_face() -> tuple[Path, str]:
        try:
            folder = view.resolve_folder(path_arg(request.form, "folder"))
        except NotFound:
            abort(400, "no such folder")
        face_id = request.form.get("face", "")
        if not face_id:
            abort(400, "no face given")
        return folder, face_id

    def folders_with(predicate) -> list[Path]:
        return sorted({f.folder for f in view.all_faces() if predicate(f)})

    # -- pages ------------------------------------------------------------------------------------
    @app.get("/")
    def people():
        every = faces()
        return render_template("people.html", people=view.people(every), clusters=view.clusters(every),
                               unknown=g.nav["unknown"])

    @app.get("/person")
    def person():
        name = request.args.get("name", "")
        mine = view.person_faces(faces(), name)
        if not mine:
            abort(404, "nobody of that name")
        guessed = [f for f in mine if not f.name]
        return render_template("person.html", name=name, confirmed=[f for f in mine if f.name], guessed=guessed,
                               limit=limit(), upto=confirm_range(guessed, request.args.get("upto")))

    @app.get("/clusters")
    def clusters():
        return render_template("clusters.html", clusters=view.clusters(faces()), limit=limit(), strip=STRIP)

    @app.get("/cluster")
    def cluster():
        found = view.cluster(faces(), request.args.get("label", ""))
        if found is None:
            abort(404, "no such cluster (it may have been named meanwhile)")
        return render_template("cluster.html", cluster=found)

    @app.get("/unknown")
    def unknown():
        alone = [f for f in faces() if not f.name and not f.guess and not f.cluster]
        return render_template("unknown.html", faces=alone, limit=limit())

    @app.get("/photo")
    def photo():
        key, file = path_arg(request.args, "folder"), path_arg(request.args, "file")
        folder, _path = view.resolve_photo(key, file)
        faces()
        mine = view.photo_faces(folder, file)
        return render_template("photo.html", key=key, file=file, faces=mine, where=view.where(key))

    # -- images -----------------------------------------------------------------------------------
    def jpeg(data: bytes) -> Response:
        response = Response(data, mimetype="image/jpeg")
        response.headers["Cache-Control"] = "private, max-age=300"
        return response

    @app.get("/image")
    def image():
        _folder, path = view.resolve_photo(path_arg(request.args, "folder"), path_arg(request.args, "file"))
        try:
            return jpeg(thumbs.display(path))
        except FacesidecarError as exc:
            abort(404, str(exc))

    @app.get("/thumb")
    def thumb():
        face = view.find_face(path_arg(request.args, "folder"), request.args.get("face", ""))
        _folder, path = view.resolve_photo(face.key, face.file)
        try:
            return jpeg(thumbs.thumbnail(path, face.box))
        except FacesidecarError as exc:
            abort(404, str(exc))

    @app.get("/assets/<name>")
    def asset(name: str):
        if name not in ASSETS:
            abort(404)
        text, mimetype = ASSETS[name]
        return Response(text, mimetype=mimetype)

    # -- actions ----------------------------------------------------------------------------------
    @app.post("/face/confirm")
    def confirm_guess():
        folder, face_id = form_face()
        return done(actions.confirm_guess(folder, face_id, request.form.get("guess", "")), "confirmed")

    @app.post("/face/reject")
    def reject_guess():
        folder, face_id = form_face()
        guess = request.form.get("guess", "")
        return done(actions.reject_guess(folder, face_id, guess), f"not {guess}: noted")

    @app.post("/face/name")
    def name_face():
        folder, face_id = form_face()
        name = request.form.get("name", "")
        try:
            outcome = actions.name_face(folder, face_id, name, request.form.get("expected"))
        except ActionError as exc:
            flash(str(exc), "error")
            return redirect(next_url(), code=303)
        return done(outcome, "name set" if name.strip() else "name cleared")

    @app.post("/face/ignore")
    def ignore_face():
        folder, face_id = form_face()
        return done(actions.name_face(folder, face_id, "-ignore-", request.form.get("expected")), "ignored")

    @app.post("/cluster/name")
    def name_cluster():
        label = request.form.get("label", "")
        only = set(request.form.getlist("face")) if request.form.get("only") else None
        folders = folders_with(lambda f: f.cluster == label and not f.name)
        try:
            if request.form.get("mode") == "suggest":
                outcome = actions.suggest_cluster(folders, label, request.form.get("name", ""))
                flash(outcome.message("{n} faces get the name as a guess"), "error" if outcome.errors else "ok")
                return redirect(url_for("clusters"), code=303)
            outcome = actions.name_cluster(folders, label, request.form.get("name", ""), only)
        except ActionError as exc:
            flash(str(exc), "error")
            return redirect(next_url(), code=303)
        flash(outcome.message("{n} faces named"), "error" if outcome.errors else "ok")
        return redirect(url_for("clusters"), code=303)

    @app.post("/person/confirm")
    def confirm_upto():
        name = request.form.get("name", "")
        try:
            upto = float(request.form.get("upto", ""))
        except ValueError:
            abort(400, "no distance given")
        outcome = actions.confirm_guesses(folders_with(lambda f: not f.name and f.guess == name), name, upto)
        flash(outcome.message(f"{{n}} guesses up to {upto:.2f} confirmed as {name}"), "error" if outcome.errors else "ok")
        return redirect(url_for("person", name=name), code=303)

    @app.post("/person/rename")
    def rename_person():
        old = request.form.get("old", "")
        new = request.form.get("new", "")
        try:
            outcome = actions.rename_person(folders_with(lambda f: f.name == old), old, new)
        except ActionError as exc:
            flash(str(exc), "error")
            return redirect(next_url(), code=303)
        flash(outcome.message("{n} faces renamed"), "error" if outcome.errors else "ok")
        return redirect(url_for("person", name=new.strip()), code=303)

    return app
