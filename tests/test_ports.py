"""The ports: the core reaches exiftool and MySQL only through them, and the real adapters fit them."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import facesidecar
from facesidecar import ports
from facesidecar.adapters.exiftool.writer import MetadataWriter
from facesidecar.adapters.mysql.mirror import Mirror

PACKAGE = Path(facesidecar.__file__).parent
MAY_IMPORT_ADAPTERS = ("adapters/", "cli/", "compose.py", "doctor.py")
"""The adapters themselves, the composition root, and the commands that manage an adapter
directly (``db``, ``doctor``)."""


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the facesidecar modules ``path`` imports (relative imports resolved)."""
    package = ".".join(("facesidecar", *path.relative_to(PACKAGE).parent.parts))
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_core_imports_no_adapter():
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(MAY_IMPORT_ADAPTERS):
            continue
        adapters = sorted(m for m in imported_modules(path) if m.startswith("facesidecar.adapters"))
        if adapters:
            offenders[relative] = adapters
    assert offenders == {}


def protocol_methods(protocol: type) -> list[str]:
    return [name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_")]


@pytest.mark.parametrize(("protocol", "adapter"), [(ports.MetadataWriter, MetadataWriter), (ports.Mirror, Mirror)])
def test_the_adapters_fit_their_ports(protocol, adapter):
    for name in protocol_methods(protocol):
        wanted = list(inspect.signature(getattr(protocol, name)).parameters)
        assert hasattr(adapter, name), f"{adapter.__name__} lacks {name}"
        assert list(inspect.signature(getattr(adapter, name)).parameters) == wanted, name
