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
