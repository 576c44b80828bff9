"""facesidecar: face tagging for photo folders, with plain sidecar files next to the photos."""

__version__ = "0.1.0"
