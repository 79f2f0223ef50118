"""Loading rule sets: the packaged one by default, or a site's own directory."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from importlib import resources
from os import PathLike
from pathlib import Path

from .facts import FACTS, FactSpec
from .mme import MmeTable
from .recommendation import ExpectedBenefit, TraceEntry
from .rules_engine.conditions import AllOf, AnyOf, Compare, Condition, Derived, facts_read
from .rules_engine.direct import CompiledRules
from .rules_engine.loading import RuleDirectory, read_rule_directory
from .rules_engine.model import BASIS_KINDS, Parameter, Rule, Source
from .rules_engine.templates import facts_in_template
from .rules_engine.truth import TruthFunction, compile_truth

__all__ = ["RuleSet", "default_rules_path", "default_ruleset", "load_ruleset"]

#: Compiled rule sets by content hash, most recently used last; bounded, so that a
#: service reloading an edited directory does not grow without end.
_CACHE: OrderedDict[str, RuleSet] = OrderedDict()
CACHE_SIZE = 16
_CACHE_LOCK = threading.Lock()


class RuleSet:
    """A validated, compiled rule set. Obtain one with :func:`load_ruleset`.

    Attributes:
        path: The directory it was read from.
        version: Content hash of its files; recommendations carry it.
        rules: Its rules, in file order (files sorted by name).
        parameters: Its named thresholds.
        sources: Its citation keys.
        mme: Its MME conversion factors by opioid ingredient (``mme.toml``).
    """

    def __init__(self, directory: RuleDirectory) -> None:
        self.path = directory.path
        self.version = directory.version
        self.rules: tuple[Rule, ...] = directory.rules
        self.parameters: Mapping[str, Parameter] = directory.parameters
        #: The parameters' values alone: what reading facts needs (``extract_facts``).
        self.parameter_values: Mapping[str, float | str] = {
            name: parameter.value for name, parameter in self.parameters.items()
        }
        self.sources: Mapping[str, Source] = directory.sources
        self.mme: MmeTable = directory.mme
        self.definitions: Mapping[str, Condition] = {
            rule.derive: rule.when for rule in self.rules if rule.derive is not None
        }
        # Each rule's and each derived fact's three-valued truth, compiled once: the
        # explanation asks which rules are undecided for every patient.
        self.truths: tuple[TruthFunction, ...] = tuple(compile_truth(r.when) for r in self.rules)
        self.definition_truths: Mapping[str, TruthFunction] = {
            rule.derive: self.truths[index]
            for index, rule in enumerate(self.rules)
            if rule.derive is not None
        }
        # What an action shows as its inputs: every fact its condition reads
        # (through derived facts) and every fact its reason quotes.
        self.inputs: tuple[tuple[FactSpec, ...], ...] = tuple(
            tuple(
                FACTS[name]
                for name in dict.fromkeys(
                    [*facts_read(rule.when, self.definitions), *facts_in_template(rule.reason)]
                )
                if name in FACTS
            )
            for rule in self.rules
        )
        # What a rule shows at a glance: the facts its own condition tests and its
        # reason quotes (its inputs also hold those behind the derived facts it reads).
        self.own_inputs: Mapping[str, frozenset[str]] = {
            rule.id: frozenset([*facts_read(rule.when, None), *facts_in_template(rule.reason)])
            for rule in self.rules
        }
        # The facts each rule's condition reads, through derived facts: when all
        # are known the rule is decided and cannot be missing anything.
        self.reads: tuple[frozenset[str], ...] = tuple(
            frozenset(facts_read(rule.when, self.definitions)) for rule in self.rules
        )
        # Results are frozen, so the parts that depend only on the rule are built once.
        self.trace_entries: Mapping[tuple[int, bool], TraceEntry] = {
            (index, value): TraceEntry(rule_id=rule.id, concluded=_conclusion(rule, value))
            for index, rule in enumerate(self.rules)
            for value in (True, False)
        }
        # The kinds of basis behind each rule: its own, and those of every parameter
        # its condition reads (through derived facts), in the order of BASIS_KINDS.
        self.basis: tuple[tuple[str, ...], ...] = tuple(
            _basis(rule, self.definitions, self.parameters) for rule in self.rules
        )
        # What each rule cites to a reader: its own sources, then those of every
        # threshold its condition reads (through derived facts), so that every basis kind
        # it claims (``basis``, from the same thresholds) has a source beside it.
        self.cited: tuple[tuple[str, ...], ...] = tuple(
            tuple(
                dict.fromkeys(
                    (
                        *rule.sources,
                        *(
                            source
                            for name in sorted(_parameters_read(rule.when, self.definitions))
                            for source in self.parameters[name].sources
                            if source != SITE_CHOICE  # the basis "site" says it
                        ),
                    )
                )
            )
            for rule in self.rules
        )
        self.benefits: tuple[ExpectedBenefit | None, ...] = tuple(
            None
            if (benefit := rule.expected_benefit) is None
            else ExpectedBenefit(low_percent=benefit.low_percent, high_percent=benefit.high_percent)
            for rule in self.rules
        )
        # A unique engine name per version: durable_rules refuses a name twice.
        self.compiled: CompiledRules = CompiledRules(f"fbss_pathway_{self.version}", self.rules)

    def __repr__(self) -> str:
        return (
            f"RuleSet(path={str(self.path)!r}, version={self.version!r}, rules={len(self.rules)})"
        )


def _parameters_read(condition: Condition, definitions: Mapping[str, Condition]) -> set[str]:
    match condition:
        case Compare(param=param):
            return set() if param is None else {param}
        case Derived(name=name):
            found = definitions.get(name)
            return set() if found is None else _parameters_read(found, definitions)
        case AllOf(items=items) | AnyOf(items=items):
            return set().union(*(_parameters_read(item, definitions) for item in items))
        case _:
            return set()


def _basis(
    rule: Rule, definitions: Mapping[str, Condition], parameters: Mapping[str, Parameter]
) -> tuple[str, ...]:
    kinds = set(rule.basis)
    kinds.update(parameters[name].basis for name in _parameters_read(rule.when, definitions))
    return tuple(kind for kind in BASIS_KINDS if kind in kinds)


def _conclusion(rule: Rule, value: bool) -> str:
    """What a trace says a rule concluded."""
    if rule.derive is not None:
        return f"{rule.derive} = {'true' if value else 'false'}"
    parts = [f"red flag ({rule.tier})"] if rule.tier is not None else []
    if rule.verdict is not None:
        parts += [f"{option}: {rule.verdict}" for option in rule.options]
    parts += [str(code) for code in rule.actions]
    if rule.warning is not None:
        parts.append("warning")
    return ", ".join(parts)


#: The source key of a threshold that is the site's own choice (``rules/sources.toml``):
#: not a publication, so never cited beside a rule's sources; its basis kind, ``site``,
#: says it.
SITE_CHOICE = "site_policy"


def default_rules_path() -> Path:
    """The rule directory shipped inside the installed package."""
    return Path(str(resources.files("fbss_pathway").joinpath("rules")))


_DEFAULT: list[RuleSet] = []


def default_ruleset() -> RuleSet:
    """The packaged rule set, read once per process.

    :func:`load_ruleset` re-reads and hashes the files on every call (so that an
    edited directory is noticed); callers that want the packaged rules on a hot
    path use this instead.
    """
    if not _DEFAULT:
        ruleset = load_ruleset()
        with _CACHE_LOCK:
            if not _DEFAULT:
                _DEFAULT.append(ruleset)
    return _DEFAULT[0]


def load_ruleset(path: str | PathLike[str] | None = None) -> RuleSet:
    """Load, validate and compile a rule directory (the packaged rules by default).

    Loading the same rule files twice returns the same compiled rule set, so a
    service can call this freely; different directories load side by side.

    Raises:
        RuleSetError: the directory has problems; the error lists each one and
            nothing is loaded.
    """
    directory = read_rule_directory(default_rules_path() if path is None else Path(path))
    with _CACHE_LOCK:
        cached = _CACHE.get(directory.version)
        if cached is None:
            cached = _CACHE[directory.version] = RuleSet(directory)
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)  # freed once no caller holds it
        else:
            _CACHE.move_to_end(directory.version)
        return cached
