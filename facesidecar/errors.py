"""Errors with messages meant for the user: which file, what went wrong, what to do."""


class FacesidecarError(Exception):
    """An error the CLI prints as ``error: <message>`` without a traceback."""


class ConfigError(FacesidecarError):
    """The configuration file is missing, malformed or has an unknown key or wrong type."""


class ImageError(FacesidecarError):
    """A photo could not be decoded (corrupt, truncated, too large, unsupported)."""


class SidecarError(FacesidecarError):
    """A sidecar (faces.csv or faces.pkl) could not be read or written."""


class EngineError(FacesidecarError):
    """The face engine could not be loaded or failed (missing model files, missing packages)."""


class MetadataError(FacesidecarError):
    """exiftool failed to read or write a photo's metadata."""


class MirrorError(FacesidecarError):
    """The database mirror is misconfigured or the database cannot be reached."""
