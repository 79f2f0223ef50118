"""One Parquet row per patient screened: the schema, writing a part, reading a screen back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..vocabulary import Option

__all__ = ["OUTCOMES", "SCHEMA", "read_rows", "write_rows"]

#: Every patient read has exactly one of these outcomes.
OUTCOMES = ("evaluated", "not_applicable", "rejected")

SCHEMA = pa.schema(
    [
        pa.field("patient_id", pa.string(), nullable=False),
        pa.field("outcome", pa.string(), nullable=False),  # one of OUTCOMES
        pa.field("stage", pa.string()),  # evaluated patients only
        pa.field("actions", pa.list_(pa.string())),  # action codes, most urgent first
        pa.field("red_flags", pa.list_(pa.string())),  # ids of the red-flag rules that fired
        # each option's verdict (pathway.md 4), a column per option: verdicts.<option>
        pa.field("verdicts", pa.struct([(option.value, pa.string()) for option in Option])),
        pa.field("warnings", pa.list_(pa.string())),  # rule ids of the warnings
        pa.field("missing_count", pa.int32()),  # items that would change the result
        pa.field("mme_per_day", pa.float64()),  # current opioids' MME a day; null: unknown, none
        pa.field("ruleset_version", pa.string(), nullable=False),
        pa.field("error_kind", pa.string()),  # not_applicable, malformed_resource, ...
        pa.field("detail", pa.string()),  # why, naming elements or fields, never values
        # the next follow-up date (pathway.md 10): the earliest, an overdue one included
        pa.field("reassess_due", pa.date32()),
        pa.field("reassess_item", pa.string()),  # what it is for (a ReassessItem)
        pa.field("reassess_overdue", pa.bool_()),
    ]
)


def write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    """Write one partition's rows (an empty partition writes an empty table)."""
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    pq.write_table(table, path, compression="zstd")


def read_rows(directory: Path, *, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """The rows of a screen's output, part by part (never the whole screen at once)."""
    for part in sorted(directory.glob("part-*.parquet")):
        parquet = pq.ParquetFile(part)
        for batch in parquet.iter_batches(columns=columns):
            yield from batch.to_pylist()
