"""Hostile cases of rule 5 of issue 13: decompression bombs and amplifying faces.pkl files.

Each is a few kilobytes to 1.5 MB on disk; decoded or unpickled naively they take gigabytes
(tests/bombs.py says how much). The corpus's peak-RSS bound covers them all.
"""

from __future__ import annotations

from pathlib import Path

from tests import bombs

from .hostile import Corpus, register

DECODE_REFUSED = r"more than engine\.decode_memory_mb"
PKL_REFUSED = r"faces\.pkl was refused \("


@register("16-bit RGBA PNG just under pixel_limit", reported=rf"huge\.png: .*{DECODE_REFUSED}", owner="bounds")
def png_rgba16_bomb(folder: Path, corpus: Corpus) -> None:
    bombs.png_bomb(folder / "huge.png", 14_000, 14_000, "RGBA", 16)


@register("deflated 16-bit RGBA TIFF just under pixel_limit", reported=rf"huge\.tif: .*{DECODE_REFUSED}",
          owner="bounds")
def tiff_rgba16_bomb(folder: Path, corpus: Corpus) -> None:
    bombs.tiff_bomb(folder / "huge.tif", 14_000, 14_000, 4, 16)


def _pkl_case(kind: str) -> None:
    @register(f"faces.pkl bomb: {kind}", reported=PKL_REFUSED, owner="bounds")
    def build(folder: Path, corpus: Corpus) -> None:
        (folder / "faces.pkl").write_bytes(bombs.PKL_BOMBS[kind]())


for _kind in bombs.PKL_BOMBS:
    _pkl_case(_kind)
