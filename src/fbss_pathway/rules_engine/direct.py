"""Driving durable_rules' C engine directly: the same rules, without its Python host layer.

durable_rules' C module (``durable_rules_engine``) decides which rules fire;
its Python host (``durable.engine``) wraps every fired action in JSON encoding
and decoding of the whole patient fact, callbacks and a clock, which measured
as most of the cost of an evaluation. This module speaks to the C module
itself, with the protocol the host uses (read from ``durable/engine.py`` of
the pinned 2.0.28, and held by ``tests/test_engine_protocol.py``):

1. ``create_ruleset(name, json)``: the ruleset from rule definitions in
   durable_rules' JSON rule language, derived facts folded into the rules that
   read them (``durable_rules_for(..., fold=True)``, :mod:`.folding`), without
   the ``run`` callbacks.
2. ``assert_fact(handle, json)`` returns ``(code, state)``: 0 and a state
   handle when some rule matched; any other code is refused here (1: no rule
   matched, 2: the fact was seen before).
3. ``start_action_for_state(handle, state)`` returns None, or a tuple whose
   second item is the first pending action as JSON text, ``{"<rule name>":
   {...matched facts...}}``. Only the rule name is read from it (the matched
   facts are the patient's own, which this module already has).
4. Derived facts are asserted with ``assert_fact`` (code 0) after the patient
   fact, only for rules too large to fold (none of the packaged rules).
5. ``complete_and_start_action(handle, state)`` completes that action and
   returns the next one as JSON text, or None when none is left.
6. ``delete_state(handle, sid)`` ends the session, in ``finally``.

Every guard of the host path holds (docs/engine.md): one process-wide lock and
one open session at a time, the catch-all rule, the session deleted in
``finally`` without hiding the first error, failures naming the rule, the C
engine's numeric error codes reported, never patient values.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from ..errors import EvaluationError
from ..facts import FactValue
from . import engine
from .conditions import derived_read, facts_read
from .engine import (
    _DERIVED,
    _ENGINE_CODE_ERROR,
    _PATIENT,
    _RETIRED,
    _SESSION_IDS,
    ENGINE_LOCK,
    Firing,
    _free_retired,
    durable_rules_for,
)
from .folding import DERIVED_FIELD
from .model import Rule
from .truth import compile_truth

__all__ = ["CompiledRules"]

#: The C module, as imported by .engine (which explains a build without the 3.13 fix).
_dre: Any = engine.C_ENGINE


class _RefusedError(Exception):
    """The C engine answered an assert with a code other than 0 (the code is kept)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"assert refused with code {code}")
        self.code = code


class CompiledRules:
    """A rule set compiled into its own durable_rules ruleset, driven through the C module.

    Derived facts are folded into the rules that read them (:mod:`.folding`), so
    one assert of the patient fact decides every rule that recommends something.
    The derived facts themselves, which the trace and the missing information
    show, are computed from the same definitions in three-valued logic
    (:mod:`.truth`); the tests hold both to the host-driven reference.
    """

    def __init__(self, name: str, rules: Sequence[Rule]) -> None:
        self.name = name
        self._rules = tuple(rules)
        durable, self._read = durable_rules_for(self._rules, fold=True)
        #: Each durable rule's name to its rule's index (None: the catch-all).
        self._targets: dict[str, int | None] = {rule.name: rule.index for rule in durable}
        #: How each rule that recommends is held in the engine, for the catalogue: the
        #: number of durable_rules rules it became, or None when it reads derived
        #: facts from the engine (too large to fold).
        self.engine_forms: dict[str, int | None] = {}
        for rule in durable:
            if rule.index is not None:
                rule_id = self._rules[rule.index].id
                count = self.engine_forms.get(rule_id, 0)
                if rule.reads_derived or count is None:
                    self.engine_forms[rule_id] = None
                else:
                    self.engine_forms[rule_id] = count + 1
        #: Firings are immutable: one object per rule and value, shared by every result.
        self._firings = {
            (index, value): Firing(index, value)
            for index in range(len(self._rules))
            for value in (True, False)
        }
        #: Rules concluding derived facts, definitions before the rules that read them,
        #: with their compiled three-valued truth (a derived fact left undecided is
        #: absent, which reads as unknown to the definitions after it).
        self._derivations = tuple(
            (index, self._rules[index].derive or "", compile_truth(self._rules[index].when))
            for index in derivation_order(self._rules)
        )
        #: The facts the derived facts' definitions read (each definition tests facts and
        #: derived facts before it), and the answers kept per their values.
        self._derivation_reads = tuple(
            sorted(
                {
                    fact
                    for index, _, _ in self._derivations
                    for fact in facts_read(self._rules[index].when, None)
                }
            )
        )
        self._absent = (_ABSENT,) * len(self._derivation_reads)
        self._derived_kept: dict[
            tuple[object, ...], tuple[tuple[Firing, ...], tuple[tuple[str, bool], ...]]
        ] = {}
        definition = {rule.name: {"all": rule.patterns} for rule in durable}
        #: The names the patterns mention: only those fields are written into the fact
        #: (the engine parses and stores every field it is given; a fact of the fields
        #: the rules read is about a tenth cheaper to assert, docs/performance.md).
        self._mentioned = frozenset(_names_in(definition))
        with ENGINE_LOCK:
            _free_retired()
            self._handle: int = _dre.create_ruleset(name, json.dumps(definition))
        # When this object is collected, its C ruleset is freed (under the lock, later).
        weakref.finalize(self, _RETIRED.append, self._handle)
        self.durable_rule_count = len(definition)
        #: The session every patient is decided in (renewed after a failure).
        self._sid = str(next(_SESSION_IDS))

    def run(self, facts: Mapping[str, FactValue]) -> tuple[list[Firing], dict[str, bool]]:
        """Decide one patient; return what fired in reading order.

        Every patient is decided in the same engine session, which holds nothing
        between patients: the patient fact is asserted, every action taken, and the
        fact retracted. durable_rules sets up state for every rule when a session
        starts (two allocations per rule, about 455 KB), which cost more than the
        decision itself (docs/performance.md); after any failure the session is
        deleted and the next patient gets a new one.

        Reading order (docs/engine.md): the derived facts first, each after the
        derived facts its definition reads, then the rules that fired in
        rule-set order.

        Raises:
            EvaluationError: an action failed or the engine reported an error; the
                message names the rule, never the patient's values.
        """
        firings, derived = self._derive(facts)
        fired: set[int] = set()  # a rule can match on several parts: it fires once
        current: str | None = None  # the rule whose action is being taken
        with ENGINE_LOCK:
            _free_retired()
            # One session serves every patient, emptied after each (see the docstring);
            # rules reading asserted derived facts keep a fresh session per patient.
            reuse = not self._read
            sid = self._sid if reuse else str(next(_SESSION_IDS))
            failure: BaseException | None = None
            handle = self._handle
            try:
                mentioned = self._mentioned
                fact: dict[str, Any] = {"sid": sid, "t": _PATIENT}
                for name, known in facts.items():
                    if name in mentioned:
                        fact[name] = known
                for name, held in derived.items():
                    field = _DERIVED_FIELDS[name]
                    if field in mentioned:
                        fact[field] = held
                text = _encode(fact)
                code, state = _dre.assert_fact(handle, text)
                if code != 0:
                    raise _RefusedError(code)
                if self._read:  # rules that were not folded read derived facts
                    self._assert_derived(sid, derived)
                started = _dre.start_action_for_state(handle, state)
                action = started[1] if started else None
                while action:
                    current = None
                    target = self._target(action)
                    if target is not None:
                        current = self._rules[target].id
                        fired.add(target)
                    action = _dre.complete_and_start_action(handle, state)
                current = None
                if reuse:  # the session keeps nothing of this patient
                    code, _ = _dre.retract_fact(handle, text)
                    if code != 0:
                        raise _RefusedError(code)
            except Exception as error:  # surfaced below; never swallowed
                failure = error
            finally:
                if failure is not None or not reuse:
                    if reuse:  # whatever state a failure left, the next patient never sees it
                        self._sid = str(next(_SESSION_IDS))
                    try:
                        _dre.delete_state(handle, sid)
                    except Exception as error:  # never hide the first error behind cleanup
                        failure = failure or error
        if failure is not None:
            raise _evaluation_error(failure, current) from failure
        firings += [self._firings[index, True] for index in sorted(fired)]
        return firings, derived

    def _derive(self, facts: Mapping[str, FactValue]) -> tuple[list[Firing], dict[str, bool]]:
        """The derived facts and their firings, in reading order.

        They are functions of the facts their definitions read (a fact's absence
        included), so the answer is kept per those values; patients share them far
        more often than whole records.
        """
        key = tuple(map(facts.get, self._derivation_reads, self._absent))
        found = self._derived_kept.get(key)
        if found is None:
            firings: list[Firing] = []
            derived: dict[str, bool] = {}
            for index, name, truth in self._derivations:  # each after the facts it reads
                value = truth(facts, derived)
                if value is not None:
                    derived[name] = value
                    firings.append(self._firings[index, value])
            if len(self._derived_kept) >= _DERIVED_KEPT_MAX:  # bounded over a population
                self._derived_kept.clear()
            found = self._derived_kept[key] = (tuple(firings), tuple(derived.items()))
        return list(found[0]), dict(found[1])

    def _assert_derived(self, sid: str, derived: Mapping[str, bool]) -> None:
        """Assert the derived values rules that were not folded read (engine lock held)."""
        for name, value in derived.items():
            if (name, value) in self._read:
                fact = {"sid": sid, "t": _DERIVED, "name": name, "value": value}
                code, _ = _dre.assert_fact(self._handle, _encode(fact))
                if code != 0:
                    raise _RefusedError(code)

    def _target(self, action: str) -> int | None:
        """The rule of a pending action, from the rule name that opens its JSON text."""
        name = action[2 : action.find('"', 2)] if action.startswith('{"') else ""
        if name not in self._targets:  # not the expected shape: read the JSON (nothing kept)
            names = list(json.loads(action))
            name = names[0] if len(names) == 1 else ""
            if name not in self._targets:
                raise EvaluationError("the rule engine named an action this rule set lacks")
        return self._targets[name]

    def held_facts(self) -> list[dict[str, Any]]:
        """The facts the engine holds in the current session: none between patients."""
        with ENGINE_LOCK:
            try:
                text = _dre.get_facts(self._handle, self._sid)
            except _ENGINE_CODE_ERROR:  # no patient decided yet: the session is not open
                return []
            return list(json.loads(text))

    def session_state(self, sid: str) -> dict[str, Any]:
        """A session's state, as the engine holds it (tests use it to see sessions end)."""
        with ENGINE_LOCK:
            return dict(json.loads(_dre.get_state(self._handle, sid)))


_ENCODER = msgspec.json.Encoder()


class _FieldNames(dict[str, str]):
    """A derived fact's field name on the patient fact, made once per name."""

    def __missing__(self, name: str) -> str:
        field = self[name] = DERIVED_FIELD.format(name)
        return field


_DERIVED_FIELDS = _FieldNames()


def _encode(fact: Mapping[str, Any]) -> str:
    """JSON text of a fact for the C engine.

    msgspec writes a flat fact about five times faster than the standard encoder
    (measured: 1.4 against 8.0 us for a patient's ~50 facts); facts hold only
    booleans, bounded numbers rounded to 0.01 and ASCII words, so the text is
    the same JSON either way.
    """
    return _ENCODER.encode(fact).decode()


#: Stands for a fact the record leaves unknown in the keys of kept answers.
_ABSENT = object()
#: Derived-fact answers kept per compiled rule set before the table is cleared.
_DERIVED_KEPT_MAX = 20_000


def _names_in(value: Any) -> set[str]:
    """Every string in a rule definition, keys and values alike (a superset of its fields).

    A field named anywhere, also as the other side of a field-to-field comparison
    (``{"$m": name}``), is kept in the fact; keeping a few words that are not
    fields costs nothing.
    """
    found: set[str] = set()
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            found.update(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            found.add(item)
    return found


def derivation_order(rules: Sequence[Rule]) -> list[int]:
    """The rules concluding derived facts, each after those its definition reads.

    Among rules whose definitions are ready, rule-set order. The loader has
    refused cycles already.
    """
    pending = [index for index, rule in enumerate(rules) if rule.derive is not None]
    done: set[str] = set()
    order: list[int] = []
    while pending:
        ready = next(i for i in pending if derived_read(rules[i].when) <= done)
        pending.remove(ready)
        order.append(ready)
        done.add(rules[ready].derive or "")
    return order


def _evaluation_error(failure: BaseException, rule_id: str | None) -> EvaluationError:
    """The failure as an EvaluationError naming the rule, never the patient's values."""
    if isinstance(failure, EvaluationError):
        return failure
    if isinstance(failure, _RefusedError):
        return EvaluationError(
            f"the rule engine refused a fact (code {failure.code})", rule_id=rule_id
        )
    if isinstance(failure, _ENGINE_CODE_ERROR):  # the C engine's own errors: numeric codes
        return EvaluationError(f"the rule engine failed ({failure})", rule_id=rule_id)
    if rule_id is not None:
        return EvaluationError(f"action failed ({type(failure).__name__})", rule_id=rule_id)
    return EvaluationError(f"the rule engine failed ({type(failure).__name__})")
