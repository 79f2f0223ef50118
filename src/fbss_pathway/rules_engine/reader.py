"""Turning the TOML tables of a rule directory into the rule model, collecting every problem.

The reader checks each table as it goes (keys, names, operators, values,
references, templates, limits on shapes) and records a :class:`RuleIssue` naming
file, rule and key for each problem, with a did-you-mean suggestion where one
exists; :mod:`.loading` decides what to do with them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import RuleIssue
from ..facts import FACTS
from ..vocabulary import ActionCode, Verdict
from .conclusion_reader import ConclusionReader
from .condition_reader import ConditionReader, suggest
from .conditions import (
    AllOf,
    Condition,
)
from .limits import (
    MAX_FILE_BYTES,
    number_problem,
)
from .mme_reader import MmeReading
from .model import BASIS_KINDS, BenefitRange, Parameter, Rule, Source
from .templates import BANDS, COMPUTED_DATES, PLACEHOLDER, TOTALS, UNIT_AFTER

PARAMETERS_FILE = "parameters.toml"
SOURCES_FILE = "sources.toml"

_RULE_KEYS = frozenset(
    {
        "id",
        "title",
        "when",
        "always",
        "reason",
        "sources",
        "derive",
        "actions",
        "warning",
        "warning_key",
        "expected_benefit",
        "option",
        "verdict",
        "step",
        "tier",
        "basis",
        "awaits_surgical_opinion",
        "with_steps",
        "advice",
    }
)
_PARAMETER_KEYS = frozenset({"value", "unit", "description", "sources", "basis", "choices"})
_SOURCE_KEYS = frozenset({"citation", "verified"})
#: A rule id: ASCII only, and nothing after it (``re.fullmatch``; ``$`` would allow a newline).
_ID = re.compile(r"[A-Z]{2,5}-[0-9]{2}", re.ASCII)
#: A snake_case name; ``\Z`` rather than ``$``, so that no trailing newline passes ``match``.
NAME = re.compile(r"^[a-z][a-z0-9_]*\Z", re.ASCII)


class Reader(ConclusionReader, ConditionReader, MmeReading):
    """Collects issues while turning TOML tables into the rule model."""

    def __init__(self) -> None:
        self.issues: list[RuleIssue] = []
        self.file = ""
        self.rule_id: str | None = None

    def issue(self, key: str | None, message: str) -> None:
        """Record a problem at the current file and rule."""
        self.issues.append(RuleIssue(self.file, self.rule_id, key, message))

    def load_toml(self, path: Path) -> dict[str, Any] | None:
        """A TOML file's tables, or None (with the problem recorded)."""
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                self.issue(None, f"is larger than {MAX_FILE_BYTES // 1024} KiB")
                return None
            return tomllib.loads(path.read_bytes().decode("utf-8"))
        except tomllib.TOMLDecodeError as error:
            self.issue(None, f"not valid TOML: {error}")
        except UnicodeDecodeError:
            self.issue(None, "is not UTF-8 text")
        except ValueError:  # an integer of thousands of digits (int's conversion limit)
            self.issue(None, "holds a number too large to read")
        except RecursionError:
            self.issue(None, "is nested too deeply")
        except OSError as error:
            self.issue(None, f"cannot be read: {error.strerror}")
        return None

    # -- parameters and sources -------------------------------------------------------

    def parameters(
        self, data: dict[str, Any], sources: Mapping[str, Source]
    ) -> dict[str, Parameter]:
        """The named thresholds, each with a number, unit, description and sources."""
        result = {}
        for name, table in data.items():
            if not NAME.match(name) or name in FACTS:
                self.issue(name, "a parameter name must be snake_case and not a fact name")
                continue
            if not isinstance(table, dict):
                self.issue(name, "must be a table with value, unit, description and sources")
                continue
            for key in table.keys() - _PARAMETER_KEYS:
                self.issue(f"{name}.{key}", "unknown key" + suggest(key, _PARAMETER_KEYS))
            value = table.get("value")
            choices = self._choices(name, value, table.get("choices"))
            if choices is None or not isinstance(value, int | float | str):
                continue
            unit, description = table.get("unit"), table.get("description")
            if not isinstance(unit, str) or not isinstance(description, str) or not description:
                self.issue(name, "needs a unit and a description (strings)")
                continue
            keys = self.source_keys(table.get("sources"), f"{name}.sources", sources)
            basis = table.get("basis")
            if basis not in BASIS_KINDS:
                self.issue(f"{name}.basis", f"must be one of {', '.join(BASIS_KINDS)}")
                continue
            result[name] = Parameter(name, value, unit, description, keys, basis, choices)
        return result

    def _choices(self, name: str, value: Any, choices: Any) -> tuple[str, ...] | None:
        """A word parameter's choices (``()`` for a number), or None with the problem recorded."""
        if isinstance(value, str):
            if (
                not isinstance(choices, list)
                or not choices
                or not all(isinstance(c, str) and NAME.match(c) for c in choices)
            ):
                self.issue(f"{name}.choices", "a word value needs a list of snake_case choices")
                return None
            if value not in choices:
                self.issue(f"{name}.value", f"must be one of {choices}")
                return None
            return tuple(choices)
        if choices is not None:
            self.issue(f"{name}.choices", "only a word value has choices")
            return None
        problem = number_problem(value)
        if problem is not None or not isinstance(value, int | float):
            self.issue(f"{name}.value", problem or "must be a number or a word with choices")
            return None
        return ()

    def sources(self, data: dict[str, Any]) -> dict[str, Source]:
        """The citation keys."""
        result = {}
        for key, table in data.items():
            if (
                not isinstance(table, dict)
                or "citation" not in table
                or table.keys() - _SOURCE_KEYS
            ):
                self.issue(key, "a source is a table with a citation (and optionally verified)")
                continue
            citation, verified = table["citation"], table.get("verified", True)
            if not isinstance(citation, str) or not citation.strip():
                self.issue(f"{key}.citation", "must be a non-empty string")
                continue
            if not isinstance(verified, bool):
                self.issue(f"{key}.verified", "must be true or false")
                continue
            result[key] = Source(key, citation.strip(), verified)
        return result

    def source_keys(self, value: Any, key: str, sources: Mapping[str, Source]) -> tuple[str, ...]:
        """A list of known source keys."""
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.issue(key, "must list at least one source key")
            return ()
        for source in value:
            if source not in sources:
                self.issue(key, f"unknown source {source!r}" + suggest(source, sources))
        return tuple(value)

    def rule(
        self,
        data: Any,
        parameters: Mapping[str, Parameter],
        sources: Mapping[str, Source],
        derived_names: set[str],
    ) -> Rule | None:
        """One rule, or None (with its problems recorded)."""
        if not isinstance(data, dict):
            self.issue(None, "each [[rule]] must be a table")
            return None
        rule_id = data.get("id")
        self.rule_id = rule_id if isinstance(rule_id, str) else None
        if not isinstance(rule_id, str) or not _ID.fullmatch(rule_id):
            self.issue("id", "a rule id looks like ABC-01 (2-5 capitals, dash, two digits)")
            return None
        count = len(self.issues)
        for key in data.keys() - _RULE_KEYS:
            self.issue(key, "unknown key" + suggest(key, _RULE_KEYS))
        title, reason = data.get("title"), data.get("reason")
        if not isinstance(title, str) or not title.strip():
            self.issue("title", "needs a title")
        if not isinstance(reason, str) or not reason.strip():
            self.issue("reason", "needs a reason template")
        keys = self.source_keys(data.get("sources"), "sources", sources)

        when: Condition | None = None
        if ("when" in data) == ("always" in data):
            self.issue("when", "give exactly one of when (a condition) or always = true")
        elif "always" in data:
            if data["always"] is not True:
                self.issue("always", "must be true (or use when)")
            when = AllOf(())
        else:
            when = self.condition(data["when"], "when", parameters, derived_names)

        derive, actions, warning, benefit = self._conclusions(data, parameters, derived_names)
        options, verdict, steps = self._verdict(data)
        tier = self._tier(data, actions)
        basis = self._basis(data.get("basis", []))
        awaits = data.get("awaits_surgical_opinion", False)
        if not isinstance(awaits, bool) or (awaits and verdict is not Verdict.NOT_YET):
            self.issue("awaits_surgical_opinion", "is true only on a not_yet verdict rule")
        with_steps = self._with_steps(data.get("with_steps", []))
        advice = self._advice(data, options, verdict)
        warning_key = data.get("warning_key")
        if warning_key is not None and (
            warning is None or not isinstance(warning_key, str) or not NAME.match(warning_key)
        ):
            self.issue("warning_key", "a snake_case key, only with a warning")
        for name, text in (("reason", reason), ("warning", warning)):
            if isinstance(text, str):
                self.template(text, name, parameters)
        if len(self.issues) > count or when is None or not isinstance(title, str):
            return None
        assert isinstance(reason, str)
        return Rule(
            id=rule_id,
            title=title.strip(),
            file=self.file,
            when=when,
            reason=reason.strip(),
            sources=keys,
            derive=derive,
            actions=actions,
            warning=warning,
            warning_key=warning_key,
            expected_benefit=benefit,
            options=options,
            verdict=verdict,
            steps=steps,
            tier=tier,
            basis=basis,
            awaits_surgical_opinion=awaits is True,
            with_steps=with_steps,
            advice=advice,
        )

    def _conclusions(
        self, data: dict[str, Any], parameters: Mapping[str, Parameter], derived_names: set[str]
    ) -> tuple[str | None, tuple[ActionCode, ...], str | None, BenefitRange | None]:
        derive = data.get("derive")
        concludes = [key for key in ("actions", "warning", "verdict") if key in data]
        if (derive is None) == (not concludes):
            self.issue(
                "derive",
                "a rule either derives a fact or concludes a verdict, actions or a warning",
            )
        if derive is not None and (not isinstance(derive, str) or derive not in derived_names):
            self.issue("derive", "a derived fact name must be snake_case and not a fact name")
        actions: list[ActionCode] = []
        raw_actions = data.get("actions", [])
        if not isinstance(raw_actions, list) or ("actions" in data and not raw_actions):
            self.issue("actions", "must be a non-empty list of action codes")
            raw_actions = []
        for code in raw_actions:
            try:
                actions.append(ActionCode(code))
            except ValueError:
                self.issue(
                    "actions",
                    f"unknown action {code!r}" + suggest(str(code), [a.value for a in ActionCode]),
                )
        for action in actions:
            if action.option is not None:
                self.issue(
                    "actions",
                    f"{action} is a step of the option {action.option}: it comes from that "
                    "option's verdict (step = ...), not from a list of actions",
                )
        warning = data.get("warning")
        if warning is not None and not (isinstance(warning, str) and warning.strip()):
            self.issue("warning", "must be a non-empty template string")
            warning = None
        benefit = None
        if "expected_benefit" in data:
            benefit = self._benefit(data["expected_benefit"], parameters)
            if ActionCode.REOPERATION_CAUTION not in actions:
                self.issue("expected_benefit", "goes only with the action reoperation_caution")
        return derive, tuple(actions), warning, benefit

    def _benefit(self, data: Any, parameters: Mapping[str, Parameter]) -> BenefitRange | None:
        if not isinstance(data, dict) or set(data) != {"low", "high"}:
            self.issue("expected_benefit", "must be a table { low = param, high = param }")
            return None
        names = data["low"], data["high"]
        for name in names:
            if not isinstance(name, str) or name not in parameters:
                self.issue(
                    "expected_benefit",
                    f"unknown parameter {name!r}" + suggest(str(name), parameters),
                )
                return None
        low, high = (parameters[name].value for name in names)
        if isinstance(low, str) or isinstance(high, str):
            self.issue("expected_benefit", "names a word parameter; it needs numbers")
            return None
        if low > high:
            self.issue("expected_benefit", "low is above high")
            return None
        return BenefitRange(low, high, names[0], names[1])

    def template(self, text: str, key: str, parameters: Mapping[str, Parameter]) -> None:
        """Check a template's placeholders and braces."""
        for name in PLACEHOLDER.findall(text):
            if name in BANDS or name in TOTALS:
                continue
            if name in COMPUTED_DATES:
                months = parameters.get(COMPUTED_DATES[name][1])
                if months is None or isinstance(months.value, str):
                    self.issue(key, f"{{{name}}} needs the parameter {COMPUTED_DATES[name][1]}")
                continue
            if name not in FACTS and name not in parameters:
                self.issue(
                    key, f"unknown placeholder {{{name}}}" + suggest(name, [*FACTS, *parameters])
                )
        for name, unit in UNIT_AFTER.findall(text):
            if name in FACTS:
                self.issue(
                    key,
                    f"write {{{name}}} without '{unit.strip()}' after it: a fact is written "
                    "with its unit",
                )
        if text.count("{") != text.count("}"):
            self.issue(key, "unbalanced braces")
