"""The metadata writer the scanner uses: confirmed names into a photo, and other tools' names out.

It ties the jobs together: read the photo's state and plan the change (:mod:`.plan`), let the
exiftool process (:mod:`.process`) write a hidden copy, check the copy, and commit it crash-safely
(:mod:`.commit`).
"""

from __future__ import annotations

from pathlib import Path

from ...config import MetadataSettings
from ...errors import MetadataError
from ...model import PersonRegion
from .commit import check_writable, commit_copy, recover, remove_temporary, sidecar_for, temp_copy_for
from .plan import IPTC_CHARSET, Plan, State, clean_name, people_in, read_state
from .process import ExifTool, ExifToolCommandError, path_arg, stderr_summary


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
        recover(target)
        people = [PersonRegion(clean_name(p.name), p.box) for p in people if clean_name(p.name)]
        current = read_state(self.exiftool, target) if target.exists() else State()
        plan = Plan(self.settings, current, people, orientation, stored_size, previous or {})
        if plan.args:
            check_writable(target)
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
        return people_in(read_state(self.exiftool, source), orientation)

    def raw_preview(self, path: Path) -> bytes:
        """The JPEG a RAW file embeds for display (``JpgFromRaw``, else ``PreviewImage``): no RAW decoding."""
        path = Path(path)
        for tag in ("-JpgFromRaw", "-PreviewImage"):
            try:
                data = self.exiftool.execute_bytes("-b", tag, path_arg(path))
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
    def _write(self, target: Path, plan: Plan) -> None:
        """exiftool writes a hidden copy; the copy is checked, then replaces the target's bytes."""
        tmp = temp_copy_for(target)
        remove_temporary(tmp)
        problem = ""
        try:
            if not target.exists():
                self.exiftool.execute(*plan.args, path_arg(tmp))  # exiftool creates a new XMP file
            elif plan.convert_iptc:
                # Re-encode the existing IPTC first, in a step of its own: mixed with our list edits,
                # exiftool would append the copied keywords to the old ones instead of replacing them.
                self.exiftool.execute("-tagsFromFile", "@", "-IPTC:All", f"-{IPTC_CHARSET}=UTF8",
                                      "-o", path_arg(tmp), path_arg(target))
                self.exiftool.execute(*plan.args, "-overwrite_original", path_arg(tmp))
            else:
                self.exiftool.execute(*plan.args, "-o", path_arg(tmp), path_arg(target))
            notes = stderr_summary(self.exiftool.last_stderr)
            wrong = plan.mismatches(read_state(self.exiftool, tmp)) if tmp.is_file() else ["anything"]
            if wrong:
                problem = f"exiftool did not store {', '.join(wrong)} as asked ({notes or 'no message'})"
        except ExifToolCommandError as exc:
            problem = f"exiftool could not write it: {exc}; if the photo is damaged, re-copy or re-export it"
        except MetadataError as exc:
            problem = str(exc)
        if problem:
            remove_temporary(tmp)
            raise MetadataError(f"{target}: names not written, the photo is unchanged: {problem}")
        commit_copy(tmp, target, self.settings.preserve_mtime)
