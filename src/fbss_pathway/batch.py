"""Evaluating cohorts: many records, in input order, across worker processes.

durable_rules is not thread-safe, so the library serialises every engine call
in a process (see ``docs/engine.md``); a cohort scales out over *processes*.
Each worker loads the same rule set (checked by its version) and evaluates
chunks of records; results come back as JSON text, the cheapest form to move
between processes, and are yielded in input order.

One bad record never stops a batch: it becomes a :class:`RecordError` in its
place. The error names fields and rules, never the patient's values, so it can
be logged and shared.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice
from multiprocessing.connection import wait
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import EvaluationError, FbssPathwayError
from .evaluation import evaluate, validate_record
from .recommendation import Recommendation
from .record import PatientRecord
from .ruleset import RuleSet, default_ruleset, load_ruleset
from .vocabulary import Stage

__all__ = ["BatchResult", "FieldError", "RecordError", "evaluate_many"]

#: Records sent to a worker at a time: large enough to amortise the hand-over,
#: small enough that results stream and memory stays flat.
CHUNK_SIZE = 64
#: Chunks in flight per worker.
_CHUNKS_PER_WORKER = 4

#: What :func:`evaluate_many` accepts per record: a record, a mapping, or JSON text.
RecordInput = PatientRecord | Mapping[str, Any] | str | bytes


class FieldError(BaseModel):
    """One problem with one field of a refused record (never its value)."""

    model_config = ConfigDict(frozen=True)

    location: str
    message: str
    type: str


class RecordError(BaseModel):
    """Why one record of a batch has no recommendation.

    ``kind`` is ``malformed_json`` (the text is not a JSON object),
    ``invalid_record`` (it is not a valid :class:`PatientRecord`; ``fields``
    says where) or ``evaluation_failed`` (the engine failed; ``rule_id`` names
    the rule when one is known).
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["malformed_json", "invalid_record", "evaluation_failed"]
    message: str
    fields: list[FieldError] = []
    rule_id: str | None = None


@dataclass(frozen=True, slots=True)
class BatchResult:
    """The outcome for the record at ``index`` (0-based) of the input.

    Exactly one of ``recommendation`` and ``error`` is set.
    """

    index: int
    recommendation: Recommendation | None = None
    error: RecordError | None = None

    @property
    def ok(self) -> bool:
        """Whether the record was evaluated."""
        return self.recommendation is not None


@dataclass(frozen=True, slots=True)
class Outcome:
    """A worker's answer for one record, as JSON text (cheap to send back).

    Internal to the package: users get :class:`BatchResult`.
    """

    index: int
    stage: Stage | None  # None: ``json`` is a RecordError
    json: str
    patient_id: str | None = None


def evaluate_many(
    records: Iterable[RecordInput],
    *,
    processes: int | None = None,
    ruleset: RuleSet | None = None,
    ladder: bool = False,
) -> Iterator[BatchResult]:
    """Evaluate records and yield one :class:`BatchResult` per record, in input order.

    Records are read lazily and results stream out, so a cohort larger than
    memory can be evaluated. A record that is malformed, invalid or fails to
    evaluate yields a result with an ``error``; the batch goes on.

    Args:
        records: :class:`PatientRecord` objects, mappings, or JSON texts.
        processes: Worker processes; the number of CPUs by default. With 1 the
            records are evaluated in the calling process (no start-up cost).
        ruleset: From :func:`load_ruleset`; the packaged rules by default. Each
            worker loads it from its directory and checks its version.
        ladder: Add the ladder view to each recommendation. Off by default: a
            cohort's results rarely need it, and it is several times the size of
            the rest of a result. :func:`evaluate` adds it for one patient.

    Raises:
        ValueError: ``processes`` is less than 1.
        FbssPathwayError: a worker process died or the rule files changed while
            the workers loaded them; results before that were already yielded.

    Worker processes are started with the ``forkserver`` method, so a script
    calling this needs the usual ``if __name__ == "__main__":`` guard.
    """
    outcomes = evaluate_outcomes(
        enumerate(records), processes=processes, ruleset=ruleset, ladder=ladder
    )
    for outcome in outcomes:
        if outcome.stage is None:
            yield BatchResult(outcome.index, error=RecordError.model_validate_json(outcome.json))
        else:
            yield BatchResult(
                outcome.index, recommendation=Recommendation.model_validate_json(outcome.json)
            )


def evaluate_outcomes(
    items: Iterable[tuple[int, RecordInput]],
    *,
    processes: int | None,
    ruleset: RuleSet | None,
    ladder: bool = False,
) -> Iterator[Outcome]:
    """Evaluate numbered records to JSON text: the engine room of :func:`evaluate_many`.

    Also used by batch files (``fbss_pathway.ndjson``), which write the JSON text
    as it comes, without rebuilding result objects.
    """
    if processes is None:
        processes = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if processes < 1:
        raise ValueError("processes must be at least 1")
    ruleset = default_ruleset() if ruleset is None else ruleset
    if processes == 1:
        for index, item in items:
            yield _evaluate_one(index, item, ruleset, ladder)
        return
    yield from _in_workers(iter(items), processes, ruleset, ladder)


def _in_workers(
    items: Iterator[tuple[int, RecordInput]], processes: int, ruleset: RuleSet, ladder: bool
) -> Iterator[Outcome]:
    context = multiprocessing.get_context("forkserver")
    pending: deque[Future[list[Outcome]]] = deque()
    with ProcessPoolExecutor(
        max_workers=processes,
        mp_context=context,
        initializer=_start_worker,
        initargs=(str(ruleset.path), ruleset.version),
    ) as pool:
        try:
            while True:
                while len(pending) < processes * _CHUNKS_PER_WORKER:
                    chunk = [(index, _portable(item)) for index, item in islice(items, CHUNK_SIZE)]
                    if not chunk:
                        break
                    pending.append(pool.submit(_evaluate_chunk, chunk, ladder))
                if not pending:
                    return
                yield from pending.popleft().result()
        except BrokenProcessPool as error:
            raise FbssPathwayError(
                "a worker process stopped unexpectedly or could not load the rule set"
            ) from error
        finally:
            for future in pending:
                future.cancel()


@dataclass(frozen=True, slots=True)
class _Unsendable:
    """Stands in for an input that cannot be pickled to a worker; it becomes its error."""

    type_name: str


def _portable(item: RecordInput) -> Mapping[str, Any] | str | bytes | _Unsendable:
    """What is sent to a worker: JSON text for records (cheaper than pickling models).

    Anything else must survive pickling; one that does not would stop the whole
    chunk, so it is replaced by a marker that answers for that record alone.
    """
    if isinstance(item, PatientRecord):
        return item.model_dump_json()
    if isinstance(item, str | bytes):
        return item
    try:
        pickle.dumps(item)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError, ValueError):
        return _Unsendable(type(item).__name__)
    return item


#: The rule set of this worker process (or of an in-process batch).
_WORKER: list[RuleSet] = []


def _start_worker(path: str, version: str) -> None:
    _die_with_parent()
    ruleset = load_ruleset(path)
    if ruleset.version != version:
        raise FbssPathwayError("the rule files changed while the batch was starting")
    _WORKER.append(ruleset)


def _die_with_parent() -> None:
    """End this worker as soon as the process that started it ends, however it ends.

    A batch killed with SIGKILL cannot stop its workers, and a worker waiting for
    work would wait for ever (the queue it reads stays open in the other workers).
    The parent's sentinel becomes readable when the parent is gone: a daemon
    thread waits for that and ends the process.
    """
    parent = multiprocessing.parent_process()
    if parent is None:  # pragma: no cover - always set in a worker process
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _evaluate_chunk(
    chunk: list[tuple[int, Mapping[str, Any] | str | bytes | _Unsendable]],
    ladder: bool,
) -> list[Outcome]:
    ruleset = _WORKER[-1]
    return [_evaluate_one(index, item, ruleset, ladder) for index, item in chunk]


def _evaluate_one(index: int, item: Any, ruleset: RuleSet, ladder: bool) -> Outcome:
    if isinstance(item, _Unsendable):
        message = f"the {item.type_name} could not be sent to a worker process (not picklable)"
        return _error(index, RecordError(kind="invalid_record", message=message))
    try:
        if isinstance(item, PatientRecord):
            record = item
        elif isinstance(item, str | bytes):
            record = PatientRecord.model_validate_json(item)
        elif isinstance(item, Mapping):
            record = validate_record(item)
        else:
            return _error(
                index,
                RecordError(
                    kind="invalid_record",
                    message=f"expected a record, mapping or JSON text, not {type(item).__name__}",
                ),
            )
        recommendation = evaluate(record, ruleset=ruleset, ladder=ladder)
    except ValidationError as error:
        return _error(index, _validation_error(error))
    except EvaluationError as error:
        failure = RecordError(kind="evaluation_failed", message=str(error), rule_id=error.rule_id)
        return _error(index, failure)
    return Outcome(index, recommendation.stage, recommendation.model_dump_json(), record.patient_id)


def _error(index: int, error: RecordError) -> Outcome:
    return Outcome(index, None, error.model_dump_json(exclude_defaults=True))


def _validation_error(error: ValidationError) -> RecordError:
    problems = error.errors(include_input=False, include_url=False, include_context=False)
    for problem in problems:
        if problem["type"] == "json_invalid":  # its message gives the position, not the text
            return RecordError(kind="malformed_json", message=problem["msg"])
    if len(problems) == 1 and not problems[0]["loc"] and problems[0]["type"] == "model_type":
        return RecordError(kind="malformed_json", message="the JSON is not an object")
    return RecordError(
        kind="invalid_record",
        message=f"the record is not valid ({len(problems)} problem(s))",
        fields=[
            FieldError(
                location=".".join(str(part) for part in problem["loc"]) or "(record)",
                message=problem["msg"],
                type=problem["type"],
            )
            for problem in problems
        ],
    )
