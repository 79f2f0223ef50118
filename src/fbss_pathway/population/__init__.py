"""Population screening: a FHIR Bulk Data export, evaluated on Dask, with worklists.

``screen_export(EXPORT, OUT)`` reads a health system's export (every patient's
resources, one resource type per NDJSON file), groups it by patient, reads each
patient with the FHIR reader's safety rules, evaluates, and writes one Parquet
row per patient; ``worklist(OUT, ...)`` lists the patients on a stage, with a
red flag or due an action. Needs the ``population`` extra (dask, distributed,
pyarrow): ``pip install fbss-pathway[population]``.
"""

try:
    import distributed  # noqa: F401
    import pyarrow  # noqa: F401
except ImportError as missing:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "population screening needs the population extra: pip install 'fbss-pathway[population]'"
    ) from missing

from .export import ExportError
from .run import screen_export
from .summary import ScreenSummary
from .worklist import WorklistEntry, worklist

__all__ = ["ExportError", "ScreenSummary", "WorklistEntry", "screen_export", "worklist"]
