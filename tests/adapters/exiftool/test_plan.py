"""The write plan's pure parts: exiftool's structure syntax."""

from __future__ import annotations

from facesidecar.adapters.exiftool.plan import serialize_struct


def test_struct_escaping():
    assert serialize_struct({"Name": "Smith, John"}) == "{Name=Smith|, John}"
    assert serialize_struct(["a]b", "{c", " d", "e|f}"]) == "[a|]b,|{c,| d,e||f|}]"
