"""The scan pipeline's stages, each a small module: plan, detect, apply, guess, cluster, publish.

:mod:`facesidecar.scan` composes them (the runner); the stages take and return the dataclasses
of :mod:`facesidecar.model` and reach exiftool and the database only through :mod:`facesidecar.ports`.
"""
