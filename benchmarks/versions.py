"""An earlier version of the package, taken from git, for side-by-side benchmarks."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def unpack_version(revision: str, directory: str) -> str | None:
    """The package as it was at ``revision``, unpacked into ``directory``.

    Returns the directory to put on ``PYTHONPATH`` to import that version, or
    None outside a git checkout. The package's ``rules`` and ``examples`` are
    links to the top-level folders, so those come too.
    """
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", revision, "src/fbss_pathway", "rules", "examples"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(directory, filter="data")
    return str(Path(directory) / "src")


#: Source of ``fit(data, model)``: a record as a mapping, keeping only the items an
#: earlier version's model knows (nested parts and lists too), so that both versions
#: decide the same records; run it in a process that imports that version.
FIT_RECORDS = r"""
import json, sys
from pydantic import BaseModel
from fbss_pathway import PatientRecord

def fit(data, model):
    out = {}
    for key, value in data.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        kind = field.annotation
        inner = [a for a in getattr(kind, "__args__", ()) if isinstance(a, type)]
        models = [a for a in (kind, *inner) if isinstance(a, type) and issubclass(a, BaseModel)]
        sub = models[0] if models else None
        if sub is not None and isinstance(value, dict):
            value = fit(value, sub)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            items = [a for a in getattr(kind, "__args__", ()) if isinstance(a, type)]
            item = next((a for a in items if issubclass(a, BaseModel)), None)
            value = [fit(v, item) for v in value] if item is not None else value
        out[key] = value
    return out
"""
