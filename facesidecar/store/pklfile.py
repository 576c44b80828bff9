"""faces.pkl: the program's state as a pickle of plain data, read by an unpickler that trusts nothing.

A pickle can run arbitrary code when loaded, and faces.pkl lies in a folder that anyone with write
access to the photos can write. So facesidecar writes only plain data (dicts, lists, str, int,
float, bool, None, bytes: encodings are stored as float32 bytes) and reads with an unpickler
whose ``find_class`` refuses every global: no class, no function, nothing can be called.

Plain data can still exhaust memory: a 10-byte pickle that stores into memo slot 2^27 makes the
unpickler allocate 2 GB, a megabyte of empty-list opcodes makes 80 MB of lists, and a list
referenced from a thousand places is built once but would become a thousand copies in the state.
So before anything is built, :func:`check_opcodes` walks the opcodes and refuses any the writer
never emits, and the memory they would allocate beyond ``LOAD_MEMORY_BUDGET`` (and beyond a few
times the file's size); after unpickling, :func:`check_shape` refuses nesting deeper than
``MAX_DEPTH`` and shared references that would expand past the same bound once every reference
became a separate object.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import math
import pickle

from ..model import FolderState
from . import confined

PROTOCOL = 4

LOAD_MEMORY_BUDGET = 512 << 20
"""The most memory a faces.pkl may make the loader build, however the file is made."""
BYTES_PER_FILE_BYTE = 16
"""...and at most this many bytes per byte of the file (plus ``SMALL_FILE_ALLOWANCE``): the
writer's own files need about 3 (a 1 MB faces.pkl must never become gigabytes)."""
SMALL_FILE_ALLOWANCE = 16 << 20
MAX_DEPTH = 32
"""faces.pkl nests about 8 deep (state, photos, photo, faces, face, encodings, metadata record)."""
_NODE_BYTES = 64
"""What one value costs once built (an object header, a slot in its container)."""

_OPCODES: dict[bytes, tuple[int, int, int]] = {
    # opcode: (bytes of fixed argument, bytes of length prefix, bytes allocated)
    # the opcodes protocol 4 emits for plain data; any other one is refused
    pickle.PROTO: (1, 0, 0),
    pickle.FRAME: (8, 0, 0),
    pickle.STOP: (0, 0, 0),
    pickle.MARK: (0, 0, 16),
    pickle.EMPTY_DICT: (0, 0, 240),
    pickle.EMPTY_LIST: (0, 0, 96),
    pickle.EMPTY_TUPLE: (0, 0, 16),
    pickle.TUPLE: (0, 0, 96),
    pickle.TUPLE1: (0, 0, 96),
    pickle.TUPLE2: (0, 0, 96),
    pickle.TUPLE3: (0, 0, 96),
    pickle.APPEND: (0, 0, 16),
    pickle.APPENDS: (0, 0, 16),
    pickle.SETITEM: (0, 0, 120),
    pickle.SETITEMS: (0, 0, 120),
    pickle.NONE: (0, 0, 16),
    pickle.NEWTRUE: (0, 0, 16),
    pickle.NEWFALSE: (0, 0, 16),
    pickle.BININT1: (1, 0, 48),
    pickle.BININT2: (2, 0, 48),
    pickle.BININT: (4, 0, 48),
    pickle.LONG1: (0, 1, 48),
    pickle.LONG4: (0, 4, 48),
    pickle.BINFLOAT: (8, 0, 40),
    pickle.SHORT_BINUNICODE: (0, 1, 96),
    pickle.BINUNICODE: (0, 4, 96),
    pickle.BINUNICODE8: (0, 8, 96),
    pickle.SHORT_BINBYTES: (0, 1, 64),
    pickle.BINBYTES: (0, 4, 64),
    pickle.BINBYTES8: (0, 8, 64),
    pickle.MEMOIZE: (0, 0, 16),
    pickle.BINGET: (1, 0, 16),
    pickle.LONG_BINGET: (4, 0, 16),
}
"""Not here: PUT/BINPUT/LONG_BINPUT (store at an index the file chooses: the unpickler allocates
memo room up to twice that index), GLOBAL/REDUCE/BUILD and friends (code), sets, text opcodes."""
_REFUSED = 255
_ARGUMENT = [0] * 256
_PREFIX = [_REFUSED] * 256
_COST = [0] * 256
for _opcode, (_ARGUMENT[_opcode[0]], _PREFIX[_opcode[0]], _COST[_opcode[0]]) in _OPCODES.items():
    pass
_STOP = pickle.STOP[0]

_checked: dict[bytes, None] = {}
"""SHA-256 of faces.pkl contents written or checked by this process (the daemon loads the same
file again and again): they skip the checks. Oldest first, at most ``_CHECKED_KEPT``."""
_CHECKED_KEPT = 4096


class PlainDataUnpickler(pickle.Unpickler):
    """Loads only plain data; any global (class, function, module attribute) is refused."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: faces.pkl may hold plain data only")


def dumps_state(state: FolderState) -> bytes:
    data = pickle.dumps(state.to_plain(), protocol=PROTOCOL)
    _remember(data)
    return data


def _remember(data: bytes) -> None:
    _checked[hashlib.sha256(data).digest()] = None
    if len(_checked) > _CHECKED_KEPT:
        del _checked[next(iter(_checked))]


def memory_bound(size: int) -> int:
    """The most a file of ``size`` bytes may make the loader build."""
    return min(LOAD_MEMORY_BUDGET, BYTES_PER_FILE_BYTE * size + SMALL_FILE_ALLOWANCE)


def check_opcodes(data: bytes) -> None:
    """Refuse ``data`` unless it holds only the writer's opcodes and unpickles within :func:`memory_bound`.

    One pass over the opcodes, with tables indexed by opcode (a 2 MB faces.pkl takes 0.1 s).
    """
    bound = memory_bound(len(data))
    position, allocated, end = 0, 0, len(data)
    while position < end:
        opcode = data[position]
        prefix = _PREFIX[opcode]
        if prefix == _REFUSED:
            raise pickle.UnpicklingError(f"opcode {opcode:#04x} at byte {position}: not written by facesidecar")
        if prefix:
            length = int.from_bytes(data[position + 1:position + 1 + prefix], "little")
            position += 1 + prefix + length
            allocated += _COST[opcode] + length
            if allocated > bound:
                raise pickle.UnpicklingError(f"would take more than {bound >> 20} MB to load (a memory bomb?)")
            continue
        position += 1 + _ARGUMENT[opcode]
        allocated += _COST[opcode]
        if opcode == _STOP:
            break
    else:
        raise pickle.UnpicklingError("truncated: no STOP opcode")
    if allocated > bound:
        raise pickle.UnpicklingError(f"would take more than {bound >> 20} MB to load (a memory bomb?)")


def check_shape(plain: object, size: int) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH`` and shared references that would expand past the bound.

    Every value is counted as often as it is referenced (that is what building the state from it
    does), without recursion, and the walk stops as soon as the bound is passed.
    """
    bound = memory_bound(size)
    expanded = 0
    stack = [iter((plain,))]
    while stack:
        for value in stack[-1]:
            kind = type(value)
            if kind is str or kind is bytes:
                expanded += _NODE_BYTES + len(value)
                continue
            expanded += _NODE_BYTES
            if kind is dict:
                children = itertools.chain.from_iterable(value.items())
            elif kind is list or kind is tuple:
                children = iter(value)
            else:
                continue
            if expanded > bound:
                raise pickle.UnpicklingError(f"shared references would expand it past {bound >> 20} MB")
            if len(stack) > MAX_DEPTH:
                raise pickle.UnpicklingError(f"nested more than {MAX_DEPTH} deep")
            stack.append(children)
            break
        else:
            stack.pop()
    if expanded > bound:
        raise pickle.UnpicklingError(f"shared references would expand it past {bound >> 20} MB")


def loads_state(data: bytes) -> FolderState:
    """The folder state in ``data``; UnpicklingError if it is hostile, broken or too big to load."""
    digest = hashlib.sha256(data).digest()
    known = digest in _checked
    if not known:
        cap = confined.limits().pkl
        if len(data) > cap:
            raise pickle.UnpicklingError(f"{len(data):,} bytes is more than the {cap >> 20} MB faces.pkl may have"
                                         " (limits.max_pkl_mb)")
        check_opcodes(data)
    try:
        plain = PlainDataUnpickler(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, MemoryError,
            AttributeError, OverflowError, RecursionError) as exc:
        raise pickle.UnpicklingError(f"{type(exc).__name__}: {exc}") from None
    if not known:
        check_shape(plain, len(data))
    try:
        state = FolderState.from_plain(plain)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise pickle.UnpicklingError(f"not a faces.pkl of this version ({type(exc).__name__}: {exc})") from None
    check_values(state)
    _remember(data)
    return state


def check_values(state: FolderState) -> None:
    """Refuse values ``FolderState.from_plain`` passes through unchecked that later steps would trip on."""
    for photo, face in state.faces():
        for value in (*face.box.to_plain(), face.distance, face.named_at):
            if value is not None and not _finite(value):
                raise pickle.UnpicklingError(f"{photo.file}: face {face.face_id} holds {value!r} where a number belongs")
        if not isinstance(photo.metadata_written, dict):
            raise pickle.UnpicklingError(f"{photo.file}: the record of written metadata is not a table")
    for row in state.pending_rows:
        box = row.get("box")
        if not (isinstance(row.get("file"), str) and isinstance(row.get("name"), str) and _whole(row.get("face_nr"))
                and isinstance(box, (list, tuple)) and len(box) == 4 and all(_finite(v) for v in box)):
            raise pickle.UnpicklingError(f"a pending row is not of the form faces.csv needs: {row!r:.200}")


def _finite(value: object) -> bool:
    """A real number a float can hold (an int of 400 digits is not one)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
