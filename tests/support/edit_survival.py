"""The edit-survival harness (bench/edit_survival.py runs it for long, tests/hardening/test_edit_survival.py
for 20 rounds): the real daemon, editors' saves, kills, and the final check. DaemonRunner is
the real ``facesidecar watch`` that the hardening tests start and kill too.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from facesidecar.store.csvfile import parse_csv

PROJECT = Path(__file__).resolve().parents[2]
PYTHON = PROJECT / ".venv" / "bin" / "python"
FACES = PROJECT / "tests" / "data" / "faces"
# 250 x 250 photos with one frontal face each: HOG finds them in a few ms
SOURCES = ("arnold_schwarzenegger", "colin_powell", "george_w_bush", "donald_rumsfeld", "gerhard_schroeder",
           "jacques_chirac", "tom_hanks", "tony_blair", "anthony_hopkins", "tom_cruise", "steve_carell")
EDITORS = ("inplace", "rename", "slow", "office", "webdav", "stale", "aside", "stall")
NAMES = ("Zoë Ñúñez", "Smith, John", 'Ann "Nan" Lee', "李小龍", "שרה כהן", "Émile 😀", "O'Brien; Pat", "Bob")

Key = tuple  # (file, x, y, w, h) as parsed: a face is known by its photo and its box


def python() -> str:
    return str(PYTHON if PYTHON.exists() else sys.executable)


def source_photos(limit: int) -> list[Path]:
    photos = []
    for person in SOURCES:
        folder = FACES / person
        if folder.is_dir():
            photos += sorted(p for p in folder.iterdir() if p.suffix == ".jpg")
    from PIL import Image

    small = []
    for p in photos:
        with Image.open(p) as img:
            if max(img.size) <= 400:
                small.append(p)
        if len(small) >= limit:
            break
    return small


def key_of(row) -> Key:
    return (row.file, *row.box.to_plain())


@dataclass
class Figures:
    rounds: int = 0
    edits: int = 0
    cli_names: int = 0
    photos_added: int = 0
    kills: int = 0
    kills_in_catchup: int = 0
    checks: int = 0
    lost: set = field(default_factory=set)
    by_editor: dict = field(default_factory=dict)
    lost_details: list = field(default_factory=list)
    seconds: float = 0.0
    set_back: int = 0
    """Edits that typed into a row the very name facesidecar wrote with that row's rev while the face
    has another name now: by the three-way rule that row is untouched (a stale copy's row looks the
    same), so whether it counts depends on whether the daemon saw the person's save in between."""

    def line(self) -> str:
        return (f"rounds {self.rounds}, edits {self.edits}, lost {len(self.lost)} "
                f"({self.set_back} set back to their rev's name, not checked; "
                f"cli names {self.cli_names}, photos added {self.photos_added}, kills {self.kills}, "
                f"{self.kills_in_catchup} during catch-up; {self.checks} mid-run checks; {self.seconds:.0f} s)")


class DaemonRunner:
    """``facesidecar watch`` as a subprocess that can be killed and restarted."""

    def __init__(self, work: Path, config: Path):
        self.work, self.config = work, config
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.log = (work / "daemon.log").open("ab")
        self.lock = threading.Lock()

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")}
        with self.lock:
            self.proc = subprocess.Popen([python(), "-m", "facesidecar", "watch", "--config", str(self.config)],
                                         stdout=subprocess.DEVNULL, stderr=self.log, env=env, cwd=PROJECT)
            self.started = time.monotonic()
        self.mark(f"started daemon pid {self.proc.pid}")

    def mark(self, text: str) -> None:
        """A line of the harness's own in the daemon's log, to read both in order."""
        self.log.write(f"HARNESS {time.strftime('%H:%M:%S')}: {text}\n".encode())
        self.log.flush()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> bool:
        with self.lock:
            if not self.running():
                return False
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.mark(f"SIGKILL daemon pid {self.proc.pid}")
        return True

    def stop(self) -> None:
        with self.lock:
            if self.running():
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self.log.flush()


def write_config(path: Path, root: Path, metadata: bool, level: str = "info") -> Path:
    path.write_text(
        f'state_dir = "{path.parent / "state"}"\n'
        f'[[roots]]\npath = "{root}"\n'
        f'[daemon]\ndebounce_seconds = 0.2\nstable_seconds = 0.3\nnice = 0\nlog_level = "{level}"\n'
        f'[metadata]\nenabled = {str(metadata).lower()}\n',
        encoding="utf-8",
    )
    return path


# -- the person's editors ---------------------------------------------------------------------------
def edited_table(data: bytes, key: Key, name: str) -> list[list[str]] | None:
    """The table of ``data`` with ``name`` typed into the row of face ``key`` (None: no such row)."""
    rows = {key_of(r): r for r in parse_csv(data, "faces.csv")}
    target = rows.get(key)
    if target is None:
        return None
    text = data.decode("utf-8-sig")
    delimiter = ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
    table = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    header = [h.strip().lower() for h in table[0]]
    table[target.line - 1][header.index("name")] = name
    return table


def canonical_bytes(table: list[list[str]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(table)
    return out.getvalue().encode("utf-8")


def office_bytes(table: list[list[str]]) -> bytes:
    """What LibreOffice Calc saves in a German locale: BOM, ;, CRLF, all quoted, decimal commas."""
    header = table[0]
    numeric = {i for i, h in enumerate(header) if h.strip().lower() in ("x", "y", "w", "h", "distance")}
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    for n, row in enumerate(table):
        writer.writerow([c.replace(".", ",") if n and i in numeric else c for i, c in enumerate(row)])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def save_inplace(path: Path, data: bytes, rng: random.Random) -> None:
    with path.open("wb") as handle:
        handle.write(data)


def save_rename(path: Path, data: bytes, rng: random.Random) -> None:
    tmp = path.with_name(f".{path.name}.swp{rng.randrange(10**6)}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_slow(path: Path, data: bytes, rng: random.Random, first_pause: float | None = None) -> None:
    pieces = rng.randint(2, 5)
    step = len(data) // pieces + 1
    with path.open("wb") as handle:
        for start in range(0, len(data), step):
            time.sleep(first_pause if start == 0 and first_pause is not None else rng.uniform(0.02, 0.25))
            handle.write(data[start:start + step])
            handle.flush()


def save_stalled(path: Path, data: bytes, rng: random.Random) -> None:
    """A slow save whose first bytes come later than the daemon's settle time (1 s): the file stays
    empty meanwhile, which is no save yet."""
    save_slow(path, data, rng, first_pause=rng.uniform(1.2, 2.5))


def save_office(path: Path, data: bytes, rng: random.Random) -> None:
    lock = path.with_name(f".~lock.{path.name}#")
    lock.write_text(",person,desktop,23.11.2026 20:00,file:///home/person/.config/libreoffice/4;\n")
    try:
        time.sleep(rng.uniform(0, 0.2))
        tmp = path.with_name(f"lu{rng.randrange(10**6)}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        lock.unlink()


class Harness:
    def __init__(self, work: Path, seed: int, photos: int, metadata: bool, kill_rate: float,
                 round_seconds: float, log=print, level: str = "info", cover: tuple[str, ...] = ()):
        self.work = work
        self.rng = random.Random(seed)
        self.root = work / "photos"
        self.folder = self.root / "a"
        self.csv = self.folder / "faces.csv"
        self.pool = source_photos(64)
        if not self.pool:
            raise SystemExit(f"no photos found under {FACES}")
        self.initial_photos = photos
        self.metadata = metadata
        self.kill_rate, self.round_seconds = kill_rate, round_seconds
        self.config = write_config(work / "config.toml", self.root, metadata, level)
        self.daemon = DaemonRunner(work, self.config)
        self.expected: dict[Key, tuple[str, int]] = {}  # face -> (name, id of the edit that set it)
        self.person_wrote: set[str] = set()  # hashes of files the person saved (not stale-copy material)
        self.snapshots: list[bytes] = []
        self.written: dict[tuple[Key, int | None], str] = {}  # (face, rev) -> name facesidecar wrote with it
        self.figures = Figures()
        self.log = log
        self.dav = None
        self.next_photo = 0
        self.names_made = 0
        self.uncovered = list(cover)
        """Editors that must save at least once (a short run must not miss them by chance)."""

    # -- set-up ------------------------------------------------------------------------------------
    def add_photo(self) -> None:
        source = self.pool[self.next_photo % len(self.pool)]
        self.next_photo += 1
        target = self.folder / f"p{self.next_photo:04d}.jpg"
        tmp = self.folder / f".{target.name}.part"
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)

    def setup(self) -> None:
        self.folder.mkdir(parents=True)
        for _ in range(self.initial_photos):
            self.add_photo()
        subprocess.run([python(), "-m", "facesidecar", "scan", "-q", "--config", str(self.config), str(self.root)],
                       check=True, capture_output=True, cwd=PROJECT, timeout=600)

    # -- checks ------------------------------------------------------------------------------------
    def read(self) -> bytes:
        return self.csv.read_bytes()

    def check(self, data: bytes, where: str, final: bool = False) -> dict[Key, object]:
        rows = {key_of(r): r for r in parse_csv(data, str(self.csv))}
        missing = [key for key, (name, _) in self.expected.items()
                   if (rows[key].name if key in rows else None) != name]
        if missing and not final:
            # a save that raced the daemon's swap is merged a moment later (the daemon waits for it to
            # settle, or the next daemon merges what a killed one left behind): give it that moment
            rows = self.merged_rows(missing)
        for key, (name, edit) in self.expected.items():
            row = rows.get(key)
            found = None if row is None else row.name
            if found != name and edit not in self.figures.lost:
                self.figures.lost.add(edit)
                self.figures.lost_details.append(f"{where}: {key[0]} expected {name!r}, found {found!r} (edit {edit})")
                self.log(f"LOST {self.figures.lost_details[-1]}")
        return rows

    def merged_rows(self, keys: list[Key], timeout: float = 60.0, busy_timeout: float = 600.0) -> dict[Key, object]:
        """faces.csv as facesidecar writes it once it has merged what it has been given (waiting
        longer while the daemon says it is still busy: on a loaded machine a catch-up takes long)."""
        started = time.monotonic()
        while True:
            if not self.daemon.running():
                self.daemon.start()
            data = self.read()
            rows = {key_of(r): r for r in parse_csv(data, str(self.csv))}
            ours = hashlib.sha256(data).hexdigest() not in self.person_wrote
            if ours and all(key in rows and rows[key].name == self.expected[key][0] for key in keys):
                return rows
            waited = time.monotonic() - started
            if waited > busy_timeout or (waited > timeout and not self.daemon_busy()):
                return rows
            time.sleep(0.3)

    def daemon_busy(self) -> bool:
        """Whether the running daemon's status file says it still has work (no file yet: starting)."""
        for path in (self.work / "state").glob("*.status.json"):
            try:
                report = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if self.daemon.proc is not None and report.get("pid") == self.daemon.proc.pid:
                return report.get("state") != "idle" or bool(report.get("queued")) or bool(report.get("pending"))
        return self.daemon.running()

    def check_pkl(self) -> None:
        from facesidecar.store.folder import FolderStore

        state = FolderStore(self.folder).load()
        for key, (name, edit) in self.expected.items():
            photo = state.photos.get(key[0])
            faces = [f for f in photo.visible_faces if tuple(f.box.rounded().to_plain()) == key[1:]] if photo else []
            found = faces[0].name if faces else None
            if found != name and edit not in self.figures.lost:
                self.figures.lost.add(edit)
                self.figures.lost_details.append(f"faces.pkl: {key[0]} expected {name!r}, found {found!r} (edit {edit})")
                self.log(f"LOST {self.figures.lost_details[-1]}")

    # -- actions -----------------------------------------------------------------------------------
    def new_name(self) -> str:
        """A name no other edit or name command used: a found name tells who typed it, also when a
        name command failed (edits + cli names repeated its number: issue 20, seed 1 round 814)."""
        if self.rng.random() < 0.08:
            return ""
        self.names_made += 1
        return f"{self.rng.choice(NAMES)} {self.names_made}"

    def person_edit(self, data: bytes, rows: dict) -> None:
        editor = self.rng.choice(EDITORS)
        if self.uncovered and editor not in self.uncovered and self.figures.edits % 4 == 3:
            editor = self.uncovered[0]
        base = data
        if editor == "stale":
            # a stale copy is saved over a file facesidecar wrote: the person's own earlier saves are
            # then taken in (saving an old copy over one's own unread save loses it, with any tool)
            if not self.snapshots or hashlib.sha256(data).hexdigest() in self.person_wrote:
                editor = "inplace"
            else:
                base = self.rng.choice(self.snapshots)
        if editor == "aside" and hashlib.sha256(data).hexdigest() in self.person_wrote:
            # the daemon's swap puts a faces.csv it wrote (and recorded) in place, never a person's save
            editor = "inplace"
        if editor == "webdav" and self.dav is None:
            editor = "slow"
        keys = [key_of(r) for r in parse_csv(base, "faces.csv")]
        if not keys:
            return
        key = self.rng.choice(keys)
        row = {key_of(r): r for r in parse_csv(base, "faces.csv")}[key]
        name = self.new_name()
        while name == row.name:  # a save that changes nothing is no edit
            name = self.new_name()
        table = edited_table(base, key, name)
        out = office_bytes(table) if editor == "office" else canonical_bytes(table)
        self.figures.edits += 1
        edit = self.figures.edits
        if editor == "webdav":
            self.dav.put_slowly("/a/faces.csv", out, chunks=self.rng.randint(1, 4), pause=self.rng.uniform(0, 0.2))
        elif editor == "aside":
            self.save_aside(out)
        else:
            {"inplace": save_inplace, "rename": save_rename, "slow": save_slow, "office": save_office,
             "stale": save_inplace, "stall": save_stalled}[editor](self.csv, out, self.rng)
        self.person_wrote.add(hashlib.sha256(out).hexdigest())
        self.daemon.mark(f"edit {edit} by {editor}: {key[0]} {key[1:]} -> {name!r} "
                         f"({hashlib.sha256(out).hexdigest()[:8]})")
        self.figures.by_editor[editor] = self.figures.by_editor.get(editor, 0) + 1
        if editor in self.uncovered:
            self.uncovered.remove(editor)
        if self.written.get((key, row.rev)) == name and self.expected.get(key, (name,))[0] != name:
            self.figures.set_back += 1
            self.expected.pop(key, None)
            self.daemon.mark(f"edit {edit} sets the row back to the name of its rev: not checked")
            return
        self.expected[key] = (name, f"{edit}:{editor}")

    def save_aside(self, out: bytes) -> None:
        """The person's editor holds faces.csv open; the daemon's swap moves that inode aside as its
        temporary file and puts its own faces.csv in place (here: the same bytes, which the daemon
        wrote and recorded before); the daemon is killed while it waits for the save to settle; the
        save lands in the moved-aside inode."""
        pid = self.daemon.proc.pid if self.daemon.proc is not None else 999_999
        if self.daemon.kill():
            self.figures.kills += 1
        with self.csv.open("r+b") as editor:
            ours = editor.read()
            os.replace(self.csv, self.folder / f".faces.csv.tmp-{pid}-{self.rng.randrange(16**8):08x}")
            swapped_in = self.folder / f".faces.csv.tmp-{pid}-new"
            swapped_in.write_bytes(ours)
            os.replace(swapped_in, self.csv)
            editor.seek(0)
            editor.truncate()
            editor.write(out)

    def cli_name(self, rows: dict) -> None:
        if not rows:
            return
        key = self.rng.choice(list(rows))
        row = rows[key]
        name = self.new_name() or "Cli Person"
        result = subprocess.run(
            [python(), "-m", "facesidecar", "name", "-q", "--config", str(self.config),
             str(self.folder / row.file), str(row.face_nr), name],
            capture_output=True, text=True, cwd=PROJECT, timeout=120)
        if result.returncode != 0:
            self.log(f"facesidecar name failed: {result.stderr.strip()[-300:]}")
            return
        if result.stderr.strip():  # the name is saved, but the photo could not take it (issue 20)
            self.log(f"facesidecar name: {result.stderr.strip()[-300:]}")
        self.figures.cli_names += 1
        self.daemon.mark(f"cli name {row.file} {row.face_nr} -> {name!r}")
        self.expected[key] = (name, f"cli{self.figures.cli_names}")

    def remember_snapshot(self, data: bytes) -> None:
        """A file facesidecar wrote: stale-copy material, and the names it wrote with each rev."""
        if hashlib.sha256(data).hexdigest() not in self.person_wrote:
            self.snapshots = (self.snapshots + [data])[-5:]
            self.written.update(((key_of(r), r.rev), r.name) for r in parse_csv(data, "faces.csv"))

    # -- the run -----------------------------------------------------------------------------------
    def one_round(self) -> None:
        rng = self.rng
        killer = None
        if not self.daemon.running():
            self.daemon.start()
            if rng.random() < self.kill_rate / 2:  # killed during start-up catch-up
                killer = threading.Timer(rng.uniform(0.2, 2.5), self._kill, args=(True,))
                killer.start()
        data = self.read()
        self.daemon.mark(f"round {self.figures.rounds + 1}: read faces.csv {hashlib.sha256(data).hexdigest()[:8]}")
        if hashlib.sha256(data).hexdigest() in self.person_wrote:
            # the person's own last save (perhaps a stale copy) that facesidecar has not rewritten
            # yet: it may lack names set meanwhile, which only the merge puts back; check later
            rows = {key_of(r): r for r in parse_csv(data, str(self.csv))}
        else:
            rows = self.check(data, f"round {self.figures.rounds + 1}")
            self.figures.checks += 1
        self.remember_snapshot(data)
        if killer is None and rng.random() < self.kill_rate:
            killer = threading.Timer(rng.uniform(0, self.round_seconds * 1.5), self._kill)
            killer.start()
        if rng.random() < 0.15:
            self.add_photo()
            self.figures.photos_added += 1
        if rng.random() < 0.1:
            self.cli_name(rows)
            data = self.read()
            self.remember_snapshot(data)
        self.person_edit(data, rows)
        # mostly short pauses (saves land while the daemon works), sometimes long enough for it to finish
        time.sleep(rng.uniform(0, self.round_seconds) if rng.random() < 0.75 else rng.uniform(1.5, 3.0))
        if killer is not None:
            killer.cancel()
            killer.join()
        self.figures.rounds += 1

    def _kill(self, catchup: bool = False) -> None:
        if self.daemon.kill():
            self.figures.kills += 1
            self.figures.kills_in_catchup += catchup

    def settle(self, quiet: float = 4.0, timeout: float = 120.0) -> None:
        """Wait until the daemon has left faces.csv alone for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        last = None
        since = time.monotonic()
        while time.monotonic() < deadline:
            stat = self.csv.stat()
            now = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.2)

    def run(self, rounds: int, webdav: bool = True, max_seconds: float | None = None) -> Figures:
        started = time.monotonic()
        self.setup()
        if webdav:
            try:
                from tests.test_daemon import WebDav

                self.dav = WebDav(self.root)
            except ImportError as exc:
                self.log(f"no WebDAV server ({exc}); webdav saves become slow in-place saves")
        try:
            for number in range(rounds):
                if max_seconds is not None and time.monotonic() - started > max_seconds:
                    self.log(f"time is up after {number} of {rounds} rounds; the final check follows")
                    break
                self.one_round()
                if (number + 1) % 50 == 0:
                    self.log(f"... {self.figures.line()}")
            if not self.daemon.running():
                self.daemon.start()
            self.settle()
            self.daemon.stop()
            subprocess.run([python(), "-m", "facesidecar", "scan", "-q", "--config", str(self.config),
                            str(self.root)], check=True, capture_output=True, cwd=PROJECT, timeout=600)
            self.check(self.read(), "final faces.csv", final=True)
            self.check_pkl()
        finally:
            self.daemon.kill()
            if self.dav is not None:
                self.dav.close()
        self.figures.seconds = time.monotonic() - started
        return self.figures


def run(rounds: int = 20, seed: int = 1, photos: int = 8, metadata: bool = False, kill_rate: float = 0.35,
        round_seconds: float = 1.2, work: Path | None = None, webdav: bool = True, log=print,
        level: str = "info", max_seconds: float | None = None, cover: tuple[str, ...] = ()) -> Figures:
    import tempfile

    own = work is None
    work = Path(tempfile.mkdtemp(prefix="edit-survival-")) if own else work
    try:
        return Harness(work, seed, photos, metadata, kill_rate, round_seconds, log, level,
                       cover).run(rounds, webdav, max_seconds)
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
