"""The metadata writer the scanner uses: confirmed names into a photo, and other tools' names out.

It ties the jobs together: read the photo's state and plan the change (:mod:`.plan`), let the
exiftool process (:mod:`.process`) write a hidden copy, check the copy, and commit it crash-safely
(:mod:`.commit`).
"""

from __future__ import annotations

import logging
import stat
from pathlib import Path

from ...config import MetadataSettings
from ...errors import MetadataError, SidecarError
from ...model import PersonRegion
from ...store import confined
from . import record as rec
from .commit import check_writable, commit_copy, finish_interrupted_writes, recover, remove_temporary, temp_copy_for
from .faceregions import people_in, usable_name
from .plan import IPTC_CHARSET, Plan, State, read_state
from .process import ExifTool, ExifToolCommandError, path_arg, source_arg, stderr_summary
from .sidecars import existing_sidecars, is_raw, remove_sidecar, role, targets_for

log = logging.getLogger(__name__)


class MetadataWriter:
    """Writes confirmed names into photos and reads the names other tools put there
    (the :class:`facesidecar.ports.MetadataWriter` port).

    ``sync`` returns a record of what facesidecar added to the photo (:mod:`.record`). The caller
    stores it and hands it back on the next sync, so a withdrawn name is removed from every place
    facesidecar put it, and nothing that was there before is touched.
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

        Adds what is new and removes what ``previous`` (the record of the last sync) says we added
        and ``people`` no longer has. Keywords and regions others wrote stay. The file's bytes stay
        unchanged when nothing changes. RAW files are never written: their names go into their XMP
        sidecars (:mod:`.sidecars`), and a sidecar facesidecar created goes again with its last
        name. Raises MetadataError naming the file, with the photo left byte-identical.
        """
        path = Path(path)
        info = confined.lstat(path)
        if info is None:
            raise MetadataError(f"{path}: file not found (moved or deleted while scanning?); names not written")
        if not stat.S_ISREG(info.st_mode):
            raise MetadataError(f"{path}: {confined.not_regular(info.st_mode)}; names not written")
        people = [PersonRegion(name, p.box) for p in people if (name := usable_name(p.name))]
        owned, claimed = rec.files_of(previous), rec.claimed(previous)
        if is_raw(path) and self.settings.regions:
            stored_size = self._raw_size(path) or stored_size
        files = {}
        for target in targets_for(path, self.settings.raw_sidecar):
            key = role(target, path)
            entry = self._sync_file(target, people, orientation, stored_size, owned.get(key, {}), claimed)
            if entry is not None:
                files[key] = entry
        return rec.new_record(files)

    def read_people(self, path: Path, orientation: int, stored_size: tuple[int, int]) -> list[PersonRegion]:
        """Named face regions already in the photo, as displayed boxes.

        MWG regions (digiKam, Lightroom, Immich: ``Type=Face`` with a ``Name``) and Microsoft MP
        regions (Windows Photo Gallery, Picasa: ``PersonDisplayName`` + ``Rectangle``). A RAW
        file's regions are read from all its sidecars (``IMG_1.CR2.xmp`` and ``IMG_1.xmp``), or
        from the RAW file when it has none. A region repeated in another place counts once.
        """
        path = Path(path)
        found: list[PersonRegion] = []
        for source in (existing_sidecars(path) if is_raw(path) else []) or [path]:
            state = read_state(self.exiftool, source)
            for person in people_in(state.regions, state.mp_regions, orientation):
                if not any(p.name == person.name and p.box.iou(person.box) > 0.5 for p in found):
                    found.append(person)
        return found

    def raw_preview(self, path: Path) -> bytes:
        """The JPEG a RAW file embeds for display (``JpgFromRaw``, else ``PreviewImage``): no RAW decoding."""
        path = Path(path)
        for tag in ("-JpgFromRaw", "-PreviewImage"):
            try:
                with source_arg(path) as arg:
                    data = self.exiftool.execute_bytes("-b", tag, arg)
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

    def finish_interrupted_writes(self, folder: Path) -> list[Path]:
        """Finish or drop the writes a crash left in ``folder``; the photos it finished (:mod:`.commit`)."""
        return finish_interrupted_writes(folder)

    def claim_names(self, record: dict, names: set[str]) -> dict:
        """``record`` with ``names`` to be removed everywhere on the next sync (:mod:`.record`)."""
        return rec.claim_names(record, names)

    # -- steps ----------------------------------------------------------------------------------
    def _sync_file(self, target: Path, people: list[PersonRegion], orientation: int, stored_size: tuple[int, int],
                   previous: dict, claimed: list[str]) -> dict | None:
        """Bring one file in line; its record entry, or None when it holds (and will hold) nothing of ours."""
        if recover(target):
            log.warning("%s: finished a metadata write that was interrupted", target)
        exists = confined.lstat(target) is not None
        current = read_state(self.exiftool, target) if exists else State()
        plan = Plan(self.settings, current, people, orientation, stored_size, previous, claimed)
        created = bool(previous.get(rec.CREATED)) or not exists
        if plan.args and (exists or not plan.empty):
            check_writable(target)
            self._write(target, plan, drop_if_bare=created and plan.empty)
        return None if created and plan.empty else plan.record(created)

    def _raw_size(self, path: Path) -> tuple[int, int] | None:
        """A RAW file's own size as photo tools show it (exiftool's ImageSize), not its preview's."""
        try:
            with source_arg(path) as arg:
                data = self.exiftool.execute_json("-n", "-Composite:ImageSize", arg)
            width, height = (int(float(v)) for v in str(data[0].get("ImageSize", "")).split())
        except (MetadataError, IndexError, ValueError, AttributeError):
            return None
        return (width, height) if width > 0 and height > 0 else None

    def _write(self, target: Path, plan: Plan, drop_if_bare: bool = False) -> None:
        """exiftool writes a hidden copy; the copy is checked, then replaces the target's bytes.

        ``drop_if_bare``: the target is a sidecar facesidecar created and nothing of ours is left;
        when nothing of anybody else's is in it either, it is removed instead.
        """
        tmp = temp_copy_for(target)
        problem = ""
        try:
            self._run_exiftool(plan, tmp, target)
            notes = stderr_summary(self.exiftool.last_stderr)
            wrong = plan.mismatches(read_state(self.exiftool, tmp)) if confined.is_regular(tmp) else ["anything"]
            if wrong:
                problem = f"exiftool did not store {', '.join(wrong)} as asked ({notes or 'no message'})"
            elif drop_if_bare and self._bare(tmp):
                remove_temporary(tmp)
                remove_sidecar(target)
                return
        except ExifToolCommandError as exc:
            problem = f"exiftool could not write it: {exc}; if the photo is damaged, re-copy or re-export it"
        except MetadataError as exc:
            problem = str(exc)
        except (OSError, SidecarError) as exc:
            problem = f"the sidecar facesidecar created could not be removed ({getattr(exc, 'strerror', None) or exc})"
        if problem:
            remove_temporary(tmp)
            raise MetadataError(f"{target}: names not written, the photo is unchanged: {problem}")
        commit_copy(tmp, target, self.settings.preserve_mtime)

    def _run_exiftool(self, plan: Plan, tmp: Path, target: Path) -> None:
        """Have exiftool write the changed copy of ``target`` at ``tmp``.

        exiftool gets the target as the very file facesidecar opened (:func:`.process.source_arg`)
        and the copy as a name below the folder's open descriptor, so neither can be redirected by
        a link swapped into the folder; the copy's name is unpredictable and exiftool refuses to
        write over an existing file.
        """
        try:
            folder = confined.Folder.open(target.parent)
        except (OSError, SidecarError) as exc:
            raise MetadataError(f"{target}: its folder cannot be opened ({getattr(exc, 'strerror', None) or exc})") from None
        with folder:
            out = path_arg(Path(folder.proc_path(tmp.name)))
            if not folder.exists(target.name):
                self.exiftool.execute(*plan.args, out)  # exiftool creates a new XMP file
                return
            with source_arg(target) as source:
                if plan.convert_iptc:
                    # Re-encode the existing IPTC first, in a step of its own: mixed with our list edits,
                    # exiftool would append the copied keywords to the old ones instead of replacing them.
                    self.exiftool.execute("-tagsFromFile", "@", "-IPTC:All", f"-{IPTC_CHARSET}=UTF8", "-o", out, source)
                    self.exiftool.execute(*plan.args, "-overwrite_original", out)
                else:
                    self.exiftool.execute(*plan.args, "-o", out, source)

    def _bare(self, xmp: Path) -> bool:
        """Whether an XMP file holds nothing but exiftool's toolkit note."""
        with source_arg(xmp) as arg:
            data = self.exiftool.execute_json("-G1", "-XMP:All", arg)
        return not set(data[0] if data else {}) - {"SourceFile", "XMP-x:XMPToolkit"}
