"""An earlier version of the package, taken from git, for side-by-side benchmarks."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

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


def alternate(
    worker: str, arguments: list[str], versions: dict[str, str | None], blocks: int, line: str
) -> dict[str, list[Any]]:
    """Each version's answers to ``line``, asked of worker processes in turn ``blocks`` times.

    ``worker`` is the worker's source (run with ``python -c`` and ``arguments``);
    ``versions`` maps a label to the ``PYTHONPATH`` of that version's package (None:
    this one). Each worker answers a line with one line of JSON. Only one works at a
    time, so the machine's changing speed falls on every version alike.
    """
    workers = {}
    for label, source in versions.items():
        env = dict(os.environ)
        if source is not None:
            env["PYTHONPATH"] = source
        workers[label] = subprocess.Popen(
            [sys.executable, "-c", worker, *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
    answers: dict[str, list[Any]] = {label: [] for label in workers}
    try:
        for _ in range(blocks):
            for label, process in workers.items():
                assert process.stdin is not None
                assert process.stdout is not None
                process.stdin.write(line)
                process.stdin.flush()
                answers[label].append(json.loads(process.stdout.readline()))
    finally:
        for process in workers.values():
            assert process.stdin is not None
            process.stdin.close()
            process.wait(timeout=60)
    return answers


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
