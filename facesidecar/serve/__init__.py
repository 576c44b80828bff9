"""``facesidecar serve``: the engine and the gallery over HTTP for other programs.

* the external-model protocol of Nextcloud's Face Recognition app (``protocol.py``);
* learn / recognize over the sidecar gallery (``learning.py``);
* one API key for all of it (``auth.py``), rate and size limits (``limits.py``, ``uploads.py``),
  wired together as a Flask app in ``app.py``.
"""
