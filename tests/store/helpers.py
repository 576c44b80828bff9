"""Building folder states in code for store tests."""

from __future__ import annotations

import numpy as np

from facesidecar.model import Box, Face, FolderState, PhotoState


def face(x: float, name: str = "", fid: str | None = None) -> Face:
    return Face(face_id=fid or f"f{x:.2f}", box=Box(x, 0.1, 0.1, 0.1), name=name,
                encodings={"m": np.full(4, x, np.float32)})


def state_with(**photos: list[Face]) -> FolderState:
    state = FolderState()
    for file, faces in photos.items():
        state.photos[file.replace("_", ".")] = PhotoState(file=file.replace("_", "."), faces=faces)
    return state
