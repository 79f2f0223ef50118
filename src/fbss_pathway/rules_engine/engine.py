"""Running compiled rules in durable_rules, safely.

What durable_rules 2.0.28 does that this module guards against (see
``docs/engine.md``):

* Its ``Host`` starts two timer threads that poll every ruleset every 0.2 s and
  call into the C engine without any lock, and its global ``durable.lang``
  registry refuses a ruleset name twice. Each compiled rule set therefore gets
  a private host whose polling loop is switched off; every evaluation runs its
  actions synchronously inside ``assert_fact``.
* The engine is not thread-safe, and session ids are matched by a 32-bit hash.
  All engine calls in the process take one lock, so exactly one session is open
  at a time.
* A ruleset holds at most 1,024 live sessions: each evaluation's session is
  deleted in ``finally``.
* An exception inside an action is swallowed into the session state. The
  actions here catch everything themselves, and :meth:`CompiledRules.run`
  raises :class:`~fbss_pathway.EvaluationError` naming the rule; it also checks
  the session state for anything the engine itself recorded.
* ``post()`` events are consumed by the first matching rule; facts are asserted
  with ``assert_fact`` so that every rule sees the patient.
* Deleting a session whose assert matched no rule corrupts the C heap (the
  process aborts). Every patient fact therefore matches at least one rule (a
  no-op catch-all is added when the rule set has no unconditional rule), and a
  derived value is asserted only when some rule reads it.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

try:
    import durable_rules_engine
except ImportError as error:  # pragma: no cover - depends on how durable_rules was built
    if "PyEval_CallObject" not in str(error):
        raise
    raise ImportError(
        "durable_rules 2.0.28 was built without the fix CPython 3.13 and later need (its C module "
        "calls PyEval_CallObject, removed in 3.13). Rebuild it with: "
        "CC='cc -DPyEval_CallObject(f,a)=PyObject_CallObject(f,a)' pip install "
        "--force-reinstall --no-cache-dir --no-binary durable-rules durable-rules==2.0.28"
    ) from error
from durable import engine as durable_engine

from ..errors import EvaluationError
from ..facts import FactValue
from . import folding
from .conditions import AllOf, Branch, branches, negate, to_pattern
from .model import Rule

__all__ = ["C_ENGINE", "DurableRule", "Firing", "HostRules", "durable_rules_for"]


def _unix_now() -> float:
    """durable_rules' own clock, without the ``utcfromtimestamp`` call deprecated in 3.12.

    The same value as the original (naive local now minus the naive epoch), which
    durable_rules uses only to time actions. The original warns on every action,
    so an application running with warnings as errors could not evaluate anyone.
    """
    return (datetime.now() - _EPOCH).total_seconds()


_EPOCH = datetime(1970, 1, 1)
if getattr(durable_engine, "_unix_now", None) is not None:  # present in the pinned 2.0.28
    durable_engine._unix_now = _unix_now

#: durable_rules' C module, for the driver that speaks to it directly (.direct).
C_ENGINE: Any = durable_rules_engine

#: One lock for every engine call in the process (see the module docstring).
ENGINE_LOCK = threading.Lock()
_SESSION_IDS = itertools.count(1)
#: C rulesets of compiled rule sets that are gone, freed under the lock at the next use.
#: (A finalizer may run inside another ruleset's assert, where freeing is not safe.)
_RETIRED: list[int] = []
_ENGINE_CODE_ERROR: type[BaseException] = durable_rules_engine.error
_PATIENT = "patient"
_DERIVED = "derived"


class _QuietHost(durable_engine.Host):  # type: ignore[misc]
    """A durable_rules host without the background polling threads."""

    def _run(self) -> None:
        """Start nothing: actions run synchronously in the caller's thread."""


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule that fired: its index in the rule set and, for derived facts, the value."""

    rule_index: int
    value: bool


@dataclass(slots=True)
class _Run:
    """What one evaluation's actions saw."""

    firings: list[Firing] = field(default_factory=list)
    seen: set[tuple[int, bool]] = field(default_factory=set)
    derived: dict[str, bool] = field(default_factory=dict)
    failed_rule: str | None = None
    failure: BaseException | None = None


@dataclass(frozen=True, slots=True)
class DurableRule:
    """One durable_rules rule: a branch of one polarity of one of our rules.

    ``index`` is the rule's position in the rule set, or None for the no-op
    catch-all; ``reads_derived`` when it joins asserted derived facts (chaining).
    Benchmarks attach bare callbacks to these to measure the engine floor.
    """

    name: str
    index: int | None
    value: bool
    patterns: list[dict[str, Any]]
    reads_derived: bool = False


def durable_rules_for(
    rules: Sequence[Rule], *, fold: bool = False
) -> tuple[list[DurableRule], frozenset[tuple[str, bool]]]:
    """The durable_rules rules for a rule set, and the derived values some rule reads.

    As written (``fold=False``, the reference): a rule that concludes a derived
    fact compiles twice, for true and for false (the negation pushed down to
    comparisons), and rules that read it join the asserted derived fact.

    Folded (``fold=True``, the evaluation path): rules that conclude derived
    facts are left out (the caller computes them from the same definitions and
    asserts their values as fields of the patient fact, see :mod:`.folding`), and
    every other rule tests the patient fact alone, split into parts the engine
    accepts; a rule too large even so keeps reading derived facts asserted of
    their own (the returned set names them).
    """
    compiled: dict[tuple[int, bool], list[Branch]] = {}
    for index, rule in enumerate(rules):
        if fold:
            if rule.derive is None:
                parts = folding.as_fields(rule.when)
                compiled[index, True] = (
                    branches(rule.when) if parts is None else [Branch((p,), ()) for p in parts]
                )
            continue
        for value in (True, False) if rule.derive is not None else (True,):
            compiled[index, value] = branches(rule.when if value else negate(rule.when))
    # Only derived values some rule reads are asserted: an assert that matches
    # nothing leaves a session that durable_rules corrupts memory deleting.
    read = frozenset(
        (derived.name, derived.value)
        for found in compiled.values()
        for branch in found
        for derived in branch.derived
    )
    durable = [
        DurableRule(
            f"{rules[index].id}:{'t' if value else 'f'}:{number}",
            index,
            value,
            _join(branch),
            reads_derived=bool(branch.derived),
        )
        for (index, value), found in compiled.items()
        for number, branch in enumerate(found)
    ]
    if _EVERY_PATIENT not in (rule.patterns for rule in durable):
        # Likewise every patient fact must match some rule: a no-op catch-all.
        durable.append(DurableRule("$every_patient", None, True, _EVERY_PATIENT))
    return durable, read


class HostRules:
    """A rule set compiled into its own durable_rules ruleset, run through its Python host.

    The reference: :class:`.direct.CompiledRules` drives the same rules through
    the C module directly, and the tests hold the two to identical results.
    """

    def __init__(self, name: str, rules: Sequence[Rule]) -> None:
        self.name = name
        self._rules = tuple(rules)
        self._run: _Run | None = None
        durable, self._read = durable_rules_for(self._rules)
        definition = {
            rule.name: {
                "all": rule.patterns,
                "run": _nothing if rule.index is None else self._action(rule.index, rule.value),
            }
            for rule in durable
        }
        self._host = _QuietHost()
        with ENGINE_LOCK:
            _free_retired()
            self._host.register_rulesets({name: definition})
            self._ruleset = self._host.get_ruleset(name)
        # When this object is collected, its C ruleset is freed (durable_rules never does).
        weakref.finalize(self, _RETIRED.append, self._ruleset._handle)
        self.durable_rule_count = len(definition)

    def _action(self, index: int, value: bool) -> Callable[[Any], None]:
        rule = self._rules[index]
        derive = rule.derive

        def action(c: Any) -> None:
            run = self._run
            if run is None or run.failure is not None:
                return
            try:
                key = (index, value)
                if key in run.seen:  # an OR matched on more than one branch
                    return
                run.seen.add(key)
                run.firings.append(Firing(index, value))
                if derive is not None:
                    if run.derived.setdefault(derive, value) is not value:
                        raise AssertionError(f"{derive} concluded both true and false")
                    if (derive, value) in self._read:
                        c.assert_fact({"t": _DERIVED, "name": derive, "value": value})
            except BaseException as error:  # surfaced by run(); never swallowed
                run.failed_rule, run.failure = rule.id, error

        return action

    def run(self, facts: Mapping[str, FactValue]) -> tuple[list[Firing], dict[str, bool]]:
        """Assert one patient's facts in a fresh session; return what fired, in order.

        Raises:
            EvaluationError: an action failed or the engine reported an error; the
                message names the rule, never the patient's values.
        """
        with ENGINE_LOCK:
            _free_retired()
            run = self._run = _Run()
            sid = str(next(_SESSION_IDS))
            fact: dict[str, Any] = {"sid": sid, "t": _PATIENT, **facts}
            engine_error: object = None
            try:
                self._host.assert_fact(self.name, fact)
            except Exception as error:  # including MessageNotHandled: the catch-all prevents it
                engine_error = error
            finally:
                self._run = None
                try:
                    if engine_error is None:
                        engine_error = self._ruleset.get_state(sid).get("exception")
                    self._ruleset.delete_state(sid)
                except Exception as error:  # never hide the first error behind cleanup
                    engine_error = engine_error or error
        if run.failure is not None:
            raise EvaluationError(
                f"action failed ({type(run.failure).__name__})", rule_id=run.failed_rule
            ) from run.failure
        if isinstance(engine_error, BaseException):
            # durable's Python exceptions carry the asserted fact (patient values);
            # only the C engine's own errors, which are numeric codes, are quoted.
            detail = f": {engine_error}" if isinstance(engine_error, _ENGINE_CODE_ERROR) else ""
            raise EvaluationError(
                f"the rule engine failed ({type(engine_error).__name__}{detail})"
            ) from engine_error
        if engine_error:
            raise EvaluationError("the rule engine reported an error in an action")
        return run.firings, run.derived


def _free_retired() -> None:
    """Free the C rulesets of compiled rule sets that are gone; call with ENGINE_LOCK held."""
    while _RETIRED:
        durable_rules_engine.delete_ruleset(_RETIRED.pop())


def _nothing(c: Any) -> None:
    """The catch-all rule's action: nothing to conclude."""


def _join(branch: Branch) -> list[dict[str, Any]]:
    patterns: list[dict[str, Any]] = []
    if branch.patient or not branch.derived:
        # A top-level AND is spread into the pattern's own $and: every group takes
        # two of the 31 expression entries durable_rules allows a pattern (.folding).
        conditions = [
            item
            for condition in branch.patient
            for item in (condition.items if isinstance(condition, AllOf) else (condition,))
        ]
        patterns.append({"m": {"$and": [{"t": _PATIENT}, *map(to_pattern, conditions)]}})
    for number, derived in enumerate(branch.derived):
        patterns.append(
            {
                f"d{number}": {
                    "$and": [{"t": _DERIVED}, {"name": derived.name}, {"value": derived.value}]
                }
            }
        )
    return patterns


#: The pattern of a rule without conditions: it matches every patient.
_EVERY_PATIENT: list[dict[str, Any]] = _join(Branch((), ()))
