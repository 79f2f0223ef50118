"""Reading and validating a rule directory.

A rule directory holds ``parameters.toml``, ``sources.toml`` and one or more
rule files (``*.toml``, each a list of ``[[rule]]`` tables). The format is
described in ``docs/rule-files.md``. Every problem is collected before anything
is returned, so one run shows them all, and a directory with any problem is
refused whole: a rule set never loads half.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import RuleIssue, RuleSetError
from ..facts import FACTS
from ..mme import MmeTable
from .conditions import derived_read, facts_read
from .limits import (
    MAX_BRANCHES,
    MAX_COMPARISONS,
    MAX_DERIVED_CHAIN,
    MAX_RULES,
    chain_depths,
    comparisons,
    polarity_branches,
)
from .mme_reader import MME_FILE
from .model import Parameter, Rule, Source
from .reader import NAME, PARAMETERS_FILE, SOURCES_FILE, Reader


@dataclass(frozen=True, slots=True)
class RuleDirectory:
    """A validated rule directory, ready to compile."""

    path: Path
    version: str
    parameters: Mapping[str, Parameter]
    sources: Mapping[str, Source]
    rules: tuple[Rule, ...]
    mme: MmeTable


def _version(files: list[Path], root: Path) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def _derived_names(tables: Mapping[str, list[Any]]) -> set[str]:
    names = set()
    for rules in tables.values():
        for data in rules:
            name = data.get("derive") if isinstance(data, dict) else None
            if isinstance(name, str) and NAME.match(name) and name not in FACTS:
                names.add(name)
    return names


def _check_graph(rules: list[Rule], reader: Reader) -> None:
    """Refuse duplicate ids, facts derived twice, and derived facts that depend on themselves."""
    seen: dict[str, str] = {}
    definitions: dict[str, Rule] = {}
    for rule in rules:
        reader.file, reader.rule_id = rule.file, rule.id
        if rule.id in seen:
            reader.issue("id", f"duplicate rule id (also in {seen[rule.id]})")
        seen.setdefault(rule.id, rule.file)
        if rule.derive is not None:
            if rule.derive in definitions:
                reader.issue(
                    "derive", f"{rule.derive} is also derived by {definitions[rule.derive].id}"
                )
            definitions.setdefault(rule.derive, rule)

    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(name: str) -> None:
        state[name] = 1
        for needed in sorted(derived_read(definitions[name].when)):
            if needed not in definitions:
                continue  # its rule did not load; reported on its own
            if state.get(needed) == 1:
                rule = definitions[name]
                reader.file, reader.rule_id = rule.file, rule.id
                reader.issue("when", f"{name} depends on itself through {needed}")
            elif needed not in state:
                visit(needed)
        state[name] = 2

    for name in sorted(definitions):
        if name not in state:
            visit(name)


def _check_limits(rules: list[Rule], reader: Reader) -> None:
    """Refuse rule shapes the engine cannot take (see ``limits``)."""
    if len(rules) > MAX_RULES:
        reader.file, reader.rule_id = "(the rule directory)", None
        reader.issue(None, f"the rule set holds {len(rules)} rules; at most {MAX_RULES}")
    reads: dict[str, set[str]] = {}
    for rule in rules:
        reader.file, reader.rule_id = rule.file, rule.id
        if comparisons(rule.when) > MAX_COMPARISONS:
            reader.issue("when", f"has more than {MAX_COMPARISONS} comparisons")
        elif polarity_branches(rule.when, rule.derive is not None) > MAX_BRANCHES:
            reader.issue(
                "when",
                f"its ORs over derived facts make more than {MAX_BRANCHES} combinations",
            )
        if rule.derive is not None:
            reads[rule.derive] = derived_read(rule.when)
    by_fact = {rule.derive: rule for rule in rules if rule.derive is not None}
    depths = chain_depths(reads)
    for name, depth in sorted(depths.items()):
        # Only where a chain first passes the limit: one problem per chain, not per link.
        if depth == MAX_DERIVED_CHAIN + 1:
            rule = by_fact[name]
            reader.file, reader.rule_id = rule.file, rule.id
            reader.issue(
                "derive", f"rests on a chain of {depth} derived facts; at most {MAX_DERIVED_CHAIN}"
            )


def _files(path: Path) -> tuple[list[Path], list[Path]]:
    """The directory's TOML files, and those that are links to files outside it (never read).

    A link inside the directory is followed (the directory itself may be a link).
    """
    root = path.resolve()
    inside: list[Path] = []
    outside: list[Path] = []
    for file in sorted(p for p in path.glob("*.toml") if p.is_file()):
        (inside if file.resolve().is_relative_to(root) else outside).append(file)
    return inside, outside


def read_rule_directory(path: Path) -> RuleDirectory:
    """Read and validate a rule directory.

    Raises:
        RuleSetError: with every problem found; nothing is loaded.
    """
    reader = Reader()
    if not path.is_dir():
        raise RuleSetError([RuleIssue(str(path), None, None, "is not a directory")])
    files, outside = _files(path)
    for file in outside:
        reader.file = file.name
        reader.issue(None, "links to a file outside the rule directory: not read")
    rule_files = [p for p in files if p.name not in (PARAMETERS_FILE, SOURCES_FILE, MME_FILE)]
    tables: dict[str, Any] = {}
    for name in (SOURCES_FILE, PARAMETERS_FILE):
        reader.file = name
        if path / name not in files:
            if path / name not in outside:
                reader.issue(None, "is missing")
            tables[name] = {}
        else:
            tables[name] = reader.load_toml(path / name) or {}
    reader.file = SOURCES_FILE
    sources = reader.sources(tables[SOURCES_FILE])
    reader.file = PARAMETERS_FILE
    parameters = reader.parameters(tables[PARAMETERS_FILE], sources)
    mme: MmeTable = {}
    if path / MME_FILE in files:
        reader.file = MME_FILE
        mme = reader.mme_table(reader.load_toml(path / MME_FILE) or {}, sources)

    rule_tables: dict[str, list[Any]] = {}
    for file in rule_files:
        reader.file, reader.rule_id = file.name, None
        data = reader.load_toml(file)
        if data is None:
            continue
        for key in data.keys() - {"rule"}:
            reader.issue(key, "unknown top-level key; a rule file holds [[rule]] tables only")
        items = data.get("rule")
        if not isinstance(items, list) or not items:
            reader.issue(None, "holds no [[rule]] tables")
            continue
        rule_tables[file.name] = items
    if reader.issues:
        # A file that does not parse hides the facts it derives: listing every rule
        # that names them would bury the one real problem.
        raise RuleSetError(reader.issues)
    if not rule_tables:
        reader.file = str(path)
        reader.issue(None, "holds no rule files")

    derived_names = _derived_names(rule_tables)
    rules: list[Rule] = []
    for file_name, rule_items in rule_tables.items():
        reader.file = file_name
        for item in rule_items:
            reader.rule_id = None
            rule = reader.rule(item, parameters, sources, derived_names)
            if rule is not None:
                rules.append(rule)
    defined = {rule.derive for rule in rules if rule.derive}
    for name in sorted(derived_names - defined):
        reader.file, reader.rule_id = str(path), None
        reader.issue(name, "derived fact is referenced but its rule did not load")
    _check_graph(rules, reader)
    _check_limits(rules, reader)
    if not mme:
        _check_mme_read(rules, reader)
    if reader.issues:
        raise RuleSetError(reader.issues)
    return RuleDirectory(path, _version(files, path), parameters, sources, tuple(rules), mme)


def _check_mme_read(rules: list[Rule], reader: Reader) -> None:
    """Refuse rules that compare MME a day in a directory with no MME table.

    Without the table no dose is converted and every MME is unknown: the rules
    would silently never decide, so the directory says it at load instead.
    """
    for rule in rules:
        if "mme_per_day" in facts_read(rule.when, None):
            reader.file, reader.rule_id = rule.file, rule.id
            reader.issue("when", f"reads mme_per_day, but the directory has no {MME_FILE} rows")
