"""The exiftool adapter: confirmed names into the photos' own metadata, and back out again.

One persistent exiftool process (:class:`ExifTool`) serves every call. :class:`MetadataWriter`
keeps each photo holding exactly the names facesidecar owns, as keywords
(``XMP-dc:Subject``, ``XMP-lr:HierarchicalSubject``, ``IPTC:Keywords`` where the file already has
IPTC, ``XMP-iptcExt:PersonInImage``) and as MWG face regions. It never touches what others wrote.

A write never goes straight into the photo. exiftool writes a hidden copy next to it
(``-o``), the copy is read back and checked, and only then are its bytes copied over the
original *in place*, which keeps the inode, hard links, symlinks, owner and ACLs, as
``-overwrite_original_in_place`` would. A copy in place is not atomic, so the checked copy is first
renamed to a commit file. Whoever finds a commit file next to a photo finishes the copy. A photo is
therefore either untouched or fully written, even when exiftool or facesidecar is killed.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import stat
import threading
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import exiftool as pyexiftool
import exiftool.exiftool as _pyexiftool_core
from exiftool.exceptions import ExifToolException, ExifToolExecuteError

from .config import MetadataSettings
from .errors import MetadataError
from .model import Box
from .regions import from_mp_rectangle, from_mwg_area, to_mwg_area

log = logging.getLogger(__name__)

RAW_EXTENSIONS = frozenset({".cr2", ".nef", ".arw", ".dng", ".orf", ".raf"})
"""RAW files are never written: their names go into ``<file>.xmp`` (darktable/digiKam style)."""

READ_TIMEOUT = 300.0
"""Seconds without any output from exiftool before it is considered hung and restarted."""

SUBJECT = "XMP-dc:Subject"
HIERARCHY = "XMP-lr:HierarchicalSubject"
IPTC_KEYWORDS = "IPTC:Keywords"
PERSONS = "XMP-iptcExt:PersonInImage"
REGIONS = "XMP-mwg-rs:RegionInfo"
MP_REGIONS = "XMP-MP:RegionInfoMP"
IPTC_CHARSET = "IPTC:CodedCharacterSet"
UTF8_ESCAPE = "\x1b%G"
"""The raw IPTC CodedCharacterSet value of UTF-8 (read with ``-n``)."""

IPTC_DIGEST = "Photoshop:IPTCDigest"
"""Photoshop/Lightroom compare it with the IPTC block to tell whether IPTC or XMP is newer: a
digest left stale after we change keywords makes them warn that "XMP may be out of sync"."""
IPTC_KEYWORD_BYTES = 64
"""IPTC limits a keyword to 64 bytes; exiftool would truncate longer ones, so they are left out."""

ADOPT_IOU = 0.3
"""An existing face region with the same name that overlaps our box this much is the same face."""

_TMP = ".facesidecar-tmp"
_COMMIT = ".facesidecar-commit"


def _read_until(fd: int, ending: bytes, block_size: int) -> bytes:
    """pyexiftool's reader, but one that notices a dead or hung exiftool.

    pyexiftool 0.5.6 loops forever when exiftool dies in the middle of a command (``os.read``
    keeps returning b""), which would hang the daemon. This replacement raises instead, and the
    :class:`ExifTool` wrapper then starts a fresh process.
    """
    chunks: list[bytes] = []
    tail = b""
    while not tail.rstrip().endswith(ending):
        ready, _, _ = select.select([fd], [], [], READ_TIMEOUT)
        if not ready:
            raise TimeoutError(f"exiftool gave no output for {READ_TIMEOUT:.0f} s")
        chunk = os.read(fd, block_size)
        if not chunk:
            raise BrokenPipeError("it exited in the middle of a command (killed or crashed)")
        chunks.append(chunk)
        tail = (tail + chunk)[-(len(ending) + 8):]
    return b"".join(chunks)


_pyexiftool_core._read_fd_endswith = _read_until


class ExifToolCommandError(MetadataError):
    """exiftool ran the command and reported failure (non-zero status); ``stderr`` says why."""

    def __init__(self, status: int, stderr: str) -> None:
        self.status = status
        self.stderr = stderr
        super().__init__(_warnings(stderr) or f"exit status {status}")


@dataclass(frozen=True)
class PersonRegion:
    """A named face: ``box`` is in fractions of the displayed photo (after EXIF orientation)."""

    name: str
    box: Box


class ExifTool:
    """One persistent exiftool process (pyexiftool ``ExifToolHelper``).

    It starts on first use and restarts when it died or stopped answering, so one killed exiftool
    costs one failed call, never the daemon. Calls are serialized with a lock because the process
    speaks one command at a time. Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, executable: str = "exiftool") -> None:
        self.executable = executable
        self._helper: pyexiftool.ExifToolHelper | None = None
        self._lock = threading.RLock()

    def __enter__(self) -> ExifTool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def pid(self) -> int | None:
        """The process id of the running exiftool, if one runs (tests kill it)."""
        process = getattr(self._helper, "_process", None)
        return process.pid if process is not None and process.poll() is None else None

    def close(self) -> None:
        """Stop the exiftool process; the next call starts a new one."""
        with self._lock:
            helper, self._helper = self._helper, None
            if helper is None:
                return
            with warnings.catch_warnings():  # pyexiftool warns when the process had died already
                warnings.simplefilter("ignore")
                try:
                    helper.terminate()
                except (ExifToolException, OSError, ValueError):
                    _kill(helper)

    def _ensure(self) -> pyexiftool.ExifToolHelper:
        """The running helper, started (again) if needed."""
        if self._helper is not None and self.pid is None:
            log.warning("exiftool had stopped; starting it again")
            self.close()
        if self._helper is None:
            try:
                helper = pyexiftool.ExifToolHelper(executable=self.executable, common_args=[], encoding="utf-8")
                helper.run()
            except (FileNotFoundError, RuntimeError, ExifToolException) as exc:
                raise MetadataError(
                    f"cannot start exiftool ({self.executable}): {exc}; install it"
                    " (apt-get install libimage-exiftool-perl) or set its path"
                ) from None
            except OSError as exc:  # killed while starting (BrokenPipeError, TimeoutError)
                _kill(helper)
                raise MetadataError(f"exiftool failed while starting: {exc}; it is started again on the next call") from None
            self._helper = helper
        return self._helper

    def execute(self, *args: str | bytes) -> str:
        """Run one exiftool command and return what it printed.

        Raises ExifToolCommandError when exiftool reports failure. Any other failure (a dead, hung
        or garbled process) stops the process, so the next call starts clean, and is a MetadataError.
        """
        return self._run(args, raw_bytes=False)

    def execute_bytes(self, *args: str | bytes) -> bytes:
        """Like :meth:`execute` for binary output (``-b``: embedded previews)."""
        return self._run(args, raw_bytes=True)

    def _run(self, args: tuple[str | bytes, ...], raw_bytes: bool):
        with self._lock:
            helper = self._ensure()
            try:
                return helper.execute(*args, raw_bytes=raw_bytes)
            except ExifToolExecuteError as exc:
                stderr = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else str(exc.stderr or "")
                raise ExifToolCommandError(exc.returncode, stderr) from None
            except (OSError, ExifToolException, UnicodeDecodeError, ValueError) as exc:
                _kill(helper)
                self.close()
                raise MetadataError(f"exiftool failed: {exc}; it is started again on the next call") from None

    def execute_json(self, *args: str | bytes) -> list[dict]:
        """Run a reading command with ``-j`` and return exiftool's JSON (one dict per file)."""
        output = self.execute("-j", *args)
        if not output.strip():
            return []
        try:
            return json.loads(output)
        except json.JSONDecodeError as exc:
            raise MetadataError(f"exiftool printed invalid JSON ({exc})") from None

    @property
    def last_stderr(self) -> str:
        return str(getattr(self._helper, "last_stderr", "") or "")

    def version(self) -> str:
        return self.execute("-ver").strip()

    def has_mwg(self) -> bool:
        """Whether this exiftool can write MWG face regions (``XMP-mwg-rs:RegionInfo``)."""
        try:
            return "RegionInfo" in self.execute("-listw", "-XMP-mwg-rs:All").split()
        except ExifToolCommandError:
            return False


def _kill(helper: pyexiftool.ExifToolHelper) -> None:
    """Stop a helper's process without asking it (it may be hung or dead)."""
    process = getattr(helper, "_process", None)
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(timeout=10)


# -- what a photo holds -------------------------------------------------------------------------
@dataclass
class _State:
    """The tags of one file that facesidecar reads and writes, as exiftool returns them (-n)."""

    lists: dict[str, list[str]] = field(default_factory=dict)
    regions: dict = field(default_factory=dict)
    mp_regions: dict = field(default_factory=dict)
    has_iptc: bool = False
    iptc_utf8: bool = False
    has_iptc_digest: bool = False

    @classmethod
    def from_json(cls, data: dict) -> _State:
        lists = {tag: [_text(v) for v in _as_list(data.get(tag))] for tag in (SUBJECT, HIERARCHY, IPTC_KEYWORDS, PERSONS)}
        regions = data.get(REGIONS)
        mp_regions = data.get(MP_REGIONS)
        return cls(
            lists=lists,
            regions=regions if isinstance(regions, dict) else {},
            mp_regions=mp_regions if isinstance(mp_regions, dict) else {},
            has_iptc=any(key.startswith("IPTC:") for key in data),
            iptc_utf8=data.get(IPTC_CHARSET) == UTF8_ESCAPE,
            has_iptc_digest=IPTC_DIGEST in data,
        )

    @property
    def region_list(self) -> list:
        return _as_list(self.regions.get("RegionList"))


_READ_ARGS = ("-struct", "-G1", "-n", f"-{SUBJECT}", f"-{HIERARCHY}", f"-{PERSONS}", f"-{REGIONS}",
              f"-{MP_REGIONS}", "-IPTC:All", f"-{IPTC_DIGEST}")


def _as_list(value: object) -> list:
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, list) else [value]


def _text(value: object) -> str:
    """exiftool's JSON prints number-like names ("2024") as numbers; names are text."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def clean_name(name: str) -> str:
    """A name as it can go through exiftool's argument lines: no control characters, trimmed."""
    return " ".join("".join(c if c.isprintable() else " " for c in name).split())


# -- the -struct syntax -------------------------------------------------------------------------
def serialize_struct(value: object) -> str:
    """exiftool's structure syntax for ``value`` (dicts, lists, scalars), escaped with ``|``.

    Inside a value, ``|`` ``,`` ``}`` ``]`` need a ``|`` before them, and so do a leading ``{``, ``[``
    or blank (see SerializeStruct in exiftool's XMPStruct.pl). Otherwise "Smith, John" would
    become two fields.
    """
    if isinstance(value, dict):
        return "{" + ",".join(f"{key}={serialize_struct(item)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(serialize_struct(item) for item in value) + "]"
    if isinstance(value, bool):
        text = "True" if value else "False"
    elif isinstance(value, float):
        text = repr(value)
    else:
        text = str(value)
    escaped = "".join("|" + c if c in "|,}]" else c for c in text)
    return "|" + escaped if escaped[:1] in ("{", "[", " ", "\t") else escaped


# -- the writer ---------------------------------------------------------------------------------
class MetadataWriter:
    """Writes confirmed names into photos and reads the names other tools put there.

    ``sync`` returns a record of exactly what facesidecar owns in the photo (per tag: the values;
    for regions: the names). The caller stores it and hands it back on the next sync, so a
    withdrawn name is removed from every place it was written and nothing else is touched.
    A name we own is ours wherever it is in those tags: if it was in the photo before us, it goes
    too when a person clears it, because clearing a name means "this person is not here".
    """

    def __init__(self, exiftool: ExifTool, settings: MetadataSettings) -> None:
        self.exiftool = exiftool
        self.settings = settings

    def close(self) -> None:
        self.exiftool.close()

    # -- public API -----------------------------------------------------------------------------
    def sync(self, path: Path, people: list[PersonRegion], orientation: int,
             stored_size: tuple[int, int], previous: dict) -> dict:
        """Make the photo hold exactly ``people`` among the names and regions we own.

        Adds what is new and removes what ``previous`` (the record of the last sync) has and
        ``people`` no longer has. Keywords and regions others wrote stay. The file's bytes stay
        unchanged when nothing changes. RAW files get a ``<file>.xmp`` sidecar instead. Raises
        MetadataError naming the file, with the photo left byte-identical.
        """
        path = Path(path)
        if not path.is_file():
            raise MetadataError(f"{path}: file not found (moved or deleted while scanning?); names not written")
        target = sidecar_for(path)
        _recover(target)
        people = [PersonRegion(clean_name(p.name), p.box) for p in people if clean_name(p.name)]
        current = self._read_state(target) if target.exists() else _State()
        plan = _Plan(self.settings, current, people, orientation, stored_size, previous or {})
        if plan.args:
            _check_writable(target)
            self._write(target, plan)
        return plan.record(target)

    def read_people(self, path: Path, orientation: int, stored_size: tuple[int, int]) -> list[PersonRegion]:
        """Named face regions already in the photo, as displayed boxes.

        MWG regions (digiKam, Lightroom, Immich: ``Type=Face`` with a ``Name``) and Microsoft MP
        regions (Windows Photo Gallery, Picasa: ``PersonDisplayName`` + ``Rectangle``). A RAW
        file's regions are read from its sidecar when it has one. An MP region that repeats an
        MWG region of the same name (digiKam writes both) counts once.
        """
        path = Path(path)
        sidecar = sidecar_for(path)
        source = sidecar if sidecar != path and sidecar.exists() else path
        state = self._read_state(source)
        found = _mwg_people(state.regions, orientation)
        for person in _mp_people(state.mp_regions, orientation):
            if not any(p.name == person.name and p.box.iou(person.box) > 0.5 for p in found):
                found.append(person)
        return found

    def raw_preview(self, path: Path) -> bytes:
        """The JPEG a RAW file embeds for display (``JpgFromRaw``, else ``PreviewImage``): no RAW decoding."""
        path = Path(path)
        for tag in ("-JpgFromRaw", "-PreviewImage"):
            try:
                data = self.exiftool.execute_bytes("-b", tag, _arg(path))
            except ExifToolCommandError as exc:
                raise MetadataError(f"{path}: exiftool cannot read this RAW file: {exc}") from None
            except MetadataError as exc:
                raise MetadataError(f"{path}: {exc}") from None
            if data.startswith(b"\xff\xd8"):
                return data
        raise MetadataError(
            f"{path}: the RAW file has no embedded JPEG preview (JpgFromRaw/PreviewImage); export a"
            " JPEG next to it to have its faces found"
        )

    # -- steps ----------------------------------------------------------------------------------
    def _read_state(self, path: Path) -> _State:
        try:
            data = self.exiftool.execute_json(*_READ_ARGS, _arg(path))
        except ExifToolCommandError as exc:
            raise MetadataError(f"{path}: exiftool cannot read its metadata: {exc}") from None
        except MetadataError as exc:
            raise MetadataError(f"{path}: {exc}") from None
        return _State.from_json(data[0] if data else {})

    def _write(self, target: Path, plan: _Plan) -> None:
        """exiftool writes a hidden copy; the copy is checked, then replaces the target's bytes."""
        tmp = _sibling(target, _TMP)
        _unlink(tmp)
        problem = ""
        try:
            if not target.exists():
                self.exiftool.execute(*plan.args, _arg(tmp))  # exiftool creates a new XMP file
            elif plan.convert_iptc:
                # Re-encode the existing IPTC first, in a step of its own: mixed with our list edits,
                # exiftool would append the copied keywords to the old ones instead of replacing them.
                self.exiftool.execute("-tagsFromFile", "@", "-IPTC:All", f"-{IPTC_CHARSET}=UTF8",
                                      "-o", _arg(tmp), _arg(target))
                self.exiftool.execute(*plan.args, "-overwrite_original", _arg(tmp))
            else:
                self.exiftool.execute(*plan.args, "-o", _arg(tmp), _arg(target))
            notes = _warnings(self.exiftool.last_stderr)
            wrong = plan.mismatches(self._read_state(tmp)) if tmp.is_file() else ["anything"]
            if wrong:
                problem = f"exiftool did not store {', '.join(wrong)} as asked ({notes or 'no message'})"
        except ExifToolCommandError as exc:
            problem = f"exiftool could not write it: {exc}; if the photo is damaged, re-copy or re-export it"
        except MetadataError as exc:
            problem = str(exc)
        if problem:
            _unlink(tmp)
            raise MetadataError(f"{target}: names not written, the photo is unchanged: {problem}")
        _commit(tmp, target, self.settings.preserve_mtime)


class _Plan:
    """The exiftool arguments that bring one file from ``current`` to what we want, and the record."""

    def __init__(self, settings: MetadataSettings, current: _State, people: list[PersonRegion],
                 orientation: int, stored_size: tuple[int, int], previous: dict) -> None:
        names = list(dict.fromkeys(p.name for p in people)) if settings.keywords else []
        prefix = settings.hierarchy_prefix.strip("|")
        hierarchy = [f"{prefix}|{n.replace('|', '/')}" if prefix else n.replace("|", "/") for n in names]
        write_iptc = current.has_iptc or bool(previous.get(IPTC_KEYWORDS))
        iptc = [n for n in names if len(n.encode("utf-8")) <= IPTC_KEYWORD_BYTES] if write_iptc else []
        self.wanted = {SUBJECT: names, HIERARCHY: hierarchy, IPTC_KEYWORDS: iptc, PERSONS: names}
        self.args: list[str] = []
        self.expected: dict[str, list[str]] = {}
        for tag, wanted in self.wanted.items():
            self._plan_list(tag, current.lists.get(tag, []), wanted, previous.get(tag, []))
        # IPTC text is Latin-1 unless CodedCharacterSet says UTF-8: re-encode it before adding names.
        self.convert_iptc = IPTC_KEYWORDS in self.expected and not current.iptc_utf8
        wanted_regions = people if settings.regions else []
        self.region_names = [p.name for p in wanted_regions]
        self.expected_regions: list | None = None
        self._plan_regions(current, wanted_regions, orientation, stored_size, set(previous.get("regions", [])))
        if IPTC_KEYWORDS in self.expected and current.has_iptc_digest:
            self.args.append(f"-{IPTC_DIGEST}=new")

    def _plan_list(self, tag: str, current: list[str], wanted: list[str], owned: Iterable[str]) -> None:
        remove = [v for v in dict.fromkeys(owned) if v not in wanted and v in current]
        add = [v for v in wanted if v not in current]
        if remove or add:
            self.args += [f"-{tag}-={v}" for v in remove] + [f"-{tag}+={v}" for v in add]
            self.expected[tag] = [v for v in current if v not in remove] + add

    def _plan_regions(self, current: _State, wanted: list[PersonRegion], orientation: int,
                      stored_size: tuple[int, int], owned: set[str]) -> None:
        """Keep others' regions in place, adopt a matching region per person, drop withdrawn ones."""
        existing = current.region_list
        applied = _applied_size(current.regions)
        adopted: dict[int, int] = {}  # region index -> person index
        for number, person in enumerate(wanted):
            best = max(
                ((i, _region_box(r, orientation, applied)) for i, r in enumerate(existing)
                 if i not in adopted and _is_face(r) and _text(r.get("Name")) == person.name),
                key=lambda item: item[1].iou(person.box) if item[1] else -1.0,
                default=None,
            )
            if best is not None and best[1] is not None and best[1].iou(person.box) >= ADOPT_IOU:
                adopted[best[0]] = number
        kept = [r for i, r in enumerate(existing)
                if i in adopted or not (_is_face(r) and _text(r.get("Name")) in owned)]
        new = [_mwg_region(p, orientation) for n, p in enumerate(wanted) if n not in adopted.values()]
        final = kept + new
        if len(kept) == len(existing) and not new:
            return
        self.expected_regions = final
        if not final:
            self.args.append(f"-{REGIONS}=")
            return
        info = {k: v for k, v in current.regions.items() if k not in ("AppliedToDimensions", "RegionList")}
        if stored_size and min(stored_size) > 0:
            info["AppliedToDimensions"] = {"W": int(stored_size[0]), "H": int(stored_size[1]), "Unit": "pixel"}
        elif isinstance(current.regions.get("AppliedToDimensions"), dict):
            info["AppliedToDimensions"] = current.regions["AppliedToDimensions"]
        info["RegionList"] = final
        self.args.append(f"-{REGIONS}={serialize_struct(info)}")

    def mismatches(self, written: _State) -> list[str]:
        """Tags whose written values differ from what the plan expects (exiftool truncated, dropped…)."""
        wrong = [tag for tag, values in self.expected.items() if Counter(written.lists.get(tag, [])) != Counter(values)]
        if self.expected_regions is not None:
            got = [(_text(r.get("Name")), _area_key(r)) for r in written.region_list if isinstance(r, dict)]
            want = [(_text(r.get("Name")), _area_key(r)) for r in self.expected_regions if isinstance(r, dict)]
            if got != want:
                wrong.append(REGIONS)
        return wrong

    def record(self, target: Path) -> dict:
        """What we own now: plain data for the caller to store and pass back next time."""
        record: dict = {tag: list(values) for tag, values in self.wanted.items()}
        record["regions"] = list(dict.fromkeys(self.region_names))
        record["target"] = target.name
        return record


def _is_face(region: object) -> bool:
    return isinstance(region, dict) and str(region.get("Type", "Face")) == "Face"


def _applied_size(info: dict) -> tuple[float, float] | None:
    dims = info.get("AppliedToDimensions")
    try:
        return (float(dims["W"]), float(dims["H"])) if isinstance(dims, dict) else None
    except (KeyError, TypeError, ValueError):
        return None


def _region_box(region: dict, orientation: int, applied: tuple[float, float] | None) -> Box | None:
    area = region.get("Area")
    return from_mwg_area(area, orientation, applied) if isinstance(area, dict) else None


def _mwg_region(person: PersonRegion, orientation: int) -> dict:
    return {"Area": to_mwg_area(person.box, orientation), "Name": person.name, "Type": "Face"}


def _area_key(region: dict) -> tuple:
    area = region.get("Area") if isinstance(region.get("Area"), dict) else {}
    return tuple(round(float(area.get(k, 0) or 0), 5) for k in ("X", "Y", "W", "H"))


def _mwg_people(info: dict, orientation: int) -> list[PersonRegion]:
    applied = _applied_size(info)
    people = []
    for region in _as_list(info.get("RegionList")):
        name = clean_name(_text(region.get("Name", ""))) if _is_face(region) else ""
        box = _region_box(region, orientation, applied) if name else None
        if box is not None:
            people.append(PersonRegion(name, box))
    return people


def _mp_people(info: dict, orientation: int) -> list[PersonRegion]:
    people = []
    for region in _as_list(info.get("Regions")):
        if not isinstance(region, dict):
            continue
        name = clean_name(_text(region.get("PersonDisplayName", "")))
        box = from_mp_rectangle(region.get("Rectangle", ""), orientation) if name else None
        if box is not None:
            people.append(PersonRegion(name, box))
    return people


# -- files --------------------------------------------------------------------------------------
def sidecar_for(path: Path) -> Path:
    """The file whose metadata we write: the photo itself, or ``<raw file>.xmp`` for RAW files."""
    return path.with_name(path.name + ".xmp") if path.suffix.lower() in RAW_EXTENSIONS else path


def _sibling(target: Path, kind: str) -> Path:
    """A hidden file next to ``target`` (the scanner and watcher skip dotfiles)."""
    suffix = ".xmp" if target.suffix.lower() == ".xmp" else ""
    return target.with_name(f".{target.name}{kind}{suffix}")


def _arg(path: Path) -> bytes:
    """A path as exiftool gets it: absolute (a name may start with "-"), bytes (any encoding)."""
    raw = os.fsencode(os.path.abspath(path))
    if b"\n" in raw or b"\r" in raw:
        raise MetadataError(f"{path}: the file name contains a line break, which exiftool cannot be given; rename it")
    return raw


def _check_writable(target: Path) -> None:
    """Read-only files and folders are the owner's decision: refuse, also when running as root."""
    folder = target.parent
    if target.exists():
        mode = target.stat().st_mode
        if not os.access(target, os.W_OK) or not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            raise MetadataError(f"{target}: the file is read-only; make it writable (chmod u+w) to have names written into it")
    folder_mode = folder.stat().st_mode
    if not os.access(folder, os.W_OK) or not folder_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise MetadataError(
            f"{target}: its folder {folder} is read-only; exiftool needs to write a temporary file there,"
            " make the folder writable to have names written"
        )


class _NotStarted(OSError):
    """The copy in place could not even begin (no space): the photo is untouched."""


def _commit(tmp: Path, target: Path, preserve_mtime: bool) -> None:
    """Make ``tmp`` the content of ``target``: a new sidecar by rename, a photo by copy in place.

    The commit file carries the modification time the photo must end with, so that whoever
    finishes an interrupted copy (:func:`_recover`) restores the right one.
    """
    commit = _sibling(target, _COMMIT)
    try:
        _fsync(tmp)
        if not target.exists():
            os.replace(tmp, target)
            return
        if preserve_mtime:
            before = target.stat()
            os.utime(tmp, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(tmp, commit)  # from here on the write is decided: _recover finishes it
        _copy_in_place(commit, target)
    except _NotStarted as exc:
        _unlink(commit)
        raise MetadataError(
            f"{target}: no room to add the names ({exc.strerror or exc}); the photo is unchanged;"
            " free some disk space"
        ) from None
    except OSError as exc:
        _unlink(tmp)
        raise MetadataError(
            f"{target}: the checked copy could not be put in place ({exc.strerror or exc}); the next"
            " metadata write finishes it"
        ) from None


def _copy_in_place(commit: Path, target: Path) -> None:
    """Copy ``commit`` over ``target`` keeping its inode (and so links, owner, ACLs), then drop it.

    The extra space is reserved first, so a full disk stops the copy before any byte of the photo
    is overwritten.
    """
    wanted = commit.stat()
    original = target.stat()
    with open(commit, "rb") as src, open(target, "r+b") as dst:
        if wanted.st_size > original.st_size:
            try:
                os.posix_fallocate(dst.fileno(), original.st_size, wanted.st_size - original.st_size)
            except OSError as exc:
                dst.truncate(original.st_size)
                dst.close()
                os.utime(target, ns=(original.st_atime_ns, original.st_mtime_ns))
                raise _NotStarted(exc.errno, exc.strerror) from None
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.truncate()
        dst.flush()
        os.fsync(dst.fileno())
    os.utime(target, ns=(wanted.st_atime_ns, wanted.st_mtime_ns))
    os.unlink(commit)


def _recover(target: Path) -> None:
    """Finish a write that was decided (commit file present) and drop an undecided one (tmp)."""
    commit = _sibling(target, _COMMIT)
    if commit.exists() and target.exists():
        log.warning("%s: finishing a metadata write that was interrupted", target)
        try:
            _copy_in_place(commit, target)
        except OSError as exc:
            raise MetadataError(
                f"{target}: an interrupted metadata write cannot be finished ({exc.strerror or exc});"
                f" the complete file is {commit}; copy it over the photo by hand"
            ) from None
    _unlink(_sibling(target, _TMP))


def finish_interrupted_writes(folder: Path) -> list[Path]:
    """Finish or drop the metadata writes a crash left in ``folder``; the files it finished.

    A scan may call it before decoding a folder's photos, so that it never reads a photo whose
    copy in place was cut short. ``sync`` does the same for each photo it writes.
    """
    finished = []
    for entry in Path(folder).glob(f".*{_COMMIT}*"):
        target = entry.with_name(entry.name[1:].split(_COMMIT)[0])
        if target.exists():
            _recover(target)
            finished.append(target)
    for entry in Path(folder).glob(f".*{_TMP}*"):
        _unlink(entry)
    return finished


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("%s: cannot remove temporary file: %s", path, exc.strerror)


def _warnings(stderr: str) -> str:
    return "; ".join(line.strip() for line in stderr.splitlines() if line.strip())



__all__ = ["ExifTool", "ExifToolCommandError", "finish_interrupted_writes", "MetadataWriter", "PersonRegion", "RAW_EXTENSIONS", "sidecar_for", "serialize_struct"]
