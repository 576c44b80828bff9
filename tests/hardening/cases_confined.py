"""Hostile cases of rules 1-3 of issue 13: links out of the root in every role, planted recovery and
temporary files, FIFOs, sockets, device links, dotfiles, a folder swapped for a link."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from .hostile import Corpus, register, write_bytes

# -- rule 1: symlinks are never followed -----------------------------------------------------------


def _link_case(title: str, reported: str, name: str, target: str) -> None:
    """A case whose hostile item is one symlink ``name`` in the folder; ``target`` may name the
    sentinel tree outside the root (``{sentinel}``) or the root itself (``{root}``)."""

    @register(title, reported=reported)
    def build(folder: Path, corpus: Corpus) -> None:
        (folder / name).symlink_to(target.format(sentinel=corpus.sentinel, root=corpus.root))


for _title, _reported, _name, _target in [
    ("folder linked out of the root", r"linked: is a symbolic link", "linked", "{sentinel}/album"),
    ("folder linked inside the root", r"loop: is a symbolic link", "loop", "{root}"),
    ("photo linked out of the root", r"outside\.jpg: is a symbolic link", "outside.jpg", "{sentinel}/photo.jpg"),
    ("photo linked inside the folder", r"alias\.jpg: is a symbolic link", "alias.jpg", "good.jpg"),
    ("faces.csv linked out of the root", r"faces\.csv: is a symbolic link", "faces.csv", "{sentinel}/faces.csv"),
    ("faces.pkl linked out of the root", r"faces\.pkl: is a symbolic link", "faces.pkl", "{sentinel}/script.sh"),
    # rule 3 too: a device behind a link is never opened
    ("faces.csv linked to /dev/zero", r"faces\.csv: is a symbolic link", "faces.csv", "/dev/zero"),
    ("faces.pkl linked to /dev/urandom", r"faces\.pkl: is a symbolic link", "faces.pkl", "/dev/urandom"),
    ("photo linked to /dev/zero", r"zero\.jpg: is a symbolic link", "zero.jpg", "/dev/zero"),
    # rule 2: a recovery file behind a link is not ours
    ("commit file linked out of the root", r"good\.jpg.*not written by facesidecar", ".good.jpg.facesidecar-commit",
     "{sentinel}/script.sh"),
]:
    _link_case(_title, _reported, _name, _target)


@register("temporary files linked out of the root", reported=r"\.faces\.csv\.tmp-.*symbolic link")
def temp_links_out(folder: Path, corpus: Corpus) -> None:
    """A writer's leftovers are ours to remove, never to read or write through."""
    (folder / f".faces.csv.tmp-{os.getpid()}-deadbeef").symlink_to(corpus.sentinel / "secret.key")
    (folder / ".faces.pkl.tmp-1-00000000").symlink_to(corpus.sentinel / "script.sh")
    (folder / f".{'good.jpg'}.facesidecar-tmp").symlink_to(corpus.sentinel / "target.txt")


@register("broken faces.pkl set aside", reported=r"faces\.pkl was refused")
def broken_pkl(folder: Path, corpus: Corpus) -> None:
    """Set aside as an owner-only copy of what was read (O_EXCL: a link planted at the name fails it)."""
    write_bytes(folder / "faces.pkl", b"not a pickle")


# -- rule 2: recovery files are trusted only when provably ours ------------------------------------


@register("planted commit file over a photo", reported=r"good\.jpg.*not written by facesidecar")
def planted_commit(folder: Path, corpus: Corpus) -> None:
    write_bytes(folder / ".good.jpg.facesidecar-commit", b"#!/bin/sh\necho attacker\n" * 10)


@register("commit file for a photo linked out of the root", reported=r"victim\.jpg.*not written by facesidecar")
def commit_for_linked_photo(folder: Path, corpus: Corpus) -> None:
    """The attack of the issue: a planted commit file plus a link sends its bytes to a file elsewhere."""
    (folder / "victim.jpg").symlink_to(corpus.sentinel / "script.sh")
    write_bytes(folder / ".victim.jpg.facesidecar-commit", b"#!/bin/sh\necho attacker\n")


# -- rule 3: only regular files are read -----------------------------------------------------------


@register("fifo as faces.csv", reported=r"faces\.csv: is a FIFO")
def fifo_csv(folder: Path, corpus: Corpus) -> None:
    os.mkfifo(folder / "faces.csv")


@register("fifo as faces.pkl", reported=r"faces\.pkl: is a FIFO")
def fifo_pkl(folder: Path, corpus: Corpus) -> None:
    os.mkfifo(folder / "faces.pkl")


@register("fifo as a photo", reported=r"pipe\.jpg: is a FIFO")
def fifo_photo(folder: Path, corpus: Corpus) -> None:
    os.mkfifo(folder / "pipe.jpg")


@register("socket as a photo", reported=r"sock\.jpg: is a socket")
def socket_photo(folder: Path, corpus: Corpus) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "sock.jpg"))
    server.close()


@register("dotfiles")
def dotfiles(folder: Path, corpus: Corpus) -> None:
    """Hidden files are not photos: skipped without a word (our own temporary files are dotfiles)."""
    write_bytes(folder / ".hidden.jpg", (folder / "good.jpg").read_bytes())
    write_bytes(folder / ".faces.csv.swp", b"vim swap")
    (folder / ".hidden-link.jpg").symlink_to(corpus.sentinel / "photo.jpg")


# -- while the daemon runs -------------------------------------------------------------------------


def _swap_for_link(folder: Path, corpus: Corpus) -> None:
    """A new photo queues the folder's work; the folder is then replaced by a link out of the root."""
    moved = folder.with_name(folder.name + "-moved")
    write_bytes(folder / "new.jpg", (folder / "good.jpg").read_bytes())
    folder.rename(moved)
    folder.symlink_to(corpus.sentinel / "album")


@register("folder swapped for a link while queued", reported=r"swapped-for-a-link-while-queued: is a symbolic link",
          during_daemon=_swap_for_link)
def swapped_folder(folder: Path, corpus: Corpus) -> None:
    """Nothing at build time: the swap happens while the daemon runs."""


def _drop_fifo(folder: Path, corpus: Corpus) -> None:
    """The watcher looks at a new photo's last bytes before queuing it: a FIFO must not block it."""
    os.mkfifo(folder / "late.jpg")


@register("fifo dropped in while watched", reported=r"late\.jpg: is a FIFO", during_daemon=_drop_fifo)
def fifo_while_watched(folder: Path, corpus: Corpus) -> None:
    """Nothing at build time: the FIFO appears while the daemon watches."""


def _csv_to_dev_zero(folder: Path, corpus: Corpus) -> None:
    """The watcher compares an edited faces.csv with the one it wrote: it must not read /dev/zero."""
    (folder / "faces.csv").unlink()
    (folder / "faces.csv").symlink_to("/dev/zero")


@register("faces.csv linked to /dev/zero while watched", reported=r"faces\.csv: is a symbolic link",
          during_daemon=_csv_to_dev_zero)
def csv_dev_zero_while_watched(folder: Path, corpus: Corpus) -> None:
    """Nothing at build time: faces.csv is replaced while the daemon watches."""
