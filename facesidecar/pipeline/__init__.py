"""The scan pipeline's stages, each a small module: plan, detect, apply, guess, publish.

:mod:`facesidecar.scan` composes them (the runner); clusters are kept by :mod:`facesidecar.refresh`
and :mod:`facesidecar.clusters`. The stages take and return the dataclasses of
:mod:`facesidecar.model` and reach exiftool and the database only through :mod:`facesidecar.ports`.
"""
