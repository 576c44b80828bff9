"""faces.pkl: the program's state as a pickle of plain data, read by an unpickler that trusts nothing.

A pickle can run arbitrary code when loaded, and faces.pkl lies in a folder that anyone with write
access to the photos can write. So facesidecar writes only plain data (dicts, lists, str, int,
float, bool, None, bytes: encodings are stored as float32 bytes) and reads with an unpickler
whose ``find_class`` refuses every global: no class, no function, nothing can be called.
"""

from __future__ import annotations

import io
import pickle

from ..model import FolderState

PROTOCOL = 4


class PlainDataUnpickler(pickle.Unpickler):
    """Loads only plain data; any global (class, function, module attribute) is refused."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: faces.pkl may hold plain data only")


def dumps_state(state: FolderState) -> bytes:
    return pickle.dumps(state.to_plain(), protocol=PROTOCOL)


def loads_state(data: bytes) -> FolderState:
    """The folder state in ``data``; ValueError/UnpicklingError if it is hostile or broken."""
    try:
        plain = PlainDataUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, MemoryError,
            AttributeError, UnicodeDecodeError) as exc:
        raise pickle.UnpicklingError(f"{type(exc).__name__}: {exc}") from None
    try:
        return FolderState.from_plain(plain)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise pickle.UnpicklingError(f"not a faces.pkl of this version ({type(exc).__name__}: {exc})") from None
