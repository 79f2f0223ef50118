"""Reading what a verdict or red-flag rule concludes: options, verdict, steps, tier, basis.

A mixin of the rule-file reader (:mod:`.reader`), as :mod:`.condition_reader` is
for ``when``: it checks the keys version 2 of the specification added (pathway.md 4,
3.1, 0) and records an issue naming the key for each problem.
"""

from __future__ import annotations

from typing import Any

from ..vocabulary import ActionCode, Option, RedFlagTier, ScsAdvice, Verdict
from .condition_reader import suggest
from .model import BASIS_KINDS

__all__ = ["ConclusionReader"]


class ConclusionReader:
    """The verdict, tier, step and basis part of the rule-file reader."""

    def issue(self, key: str | None, message: str) -> None:  # pragma: no cover - overridden
        """Record a problem (the reader records it at the current file and rule)."""
        raise NotImplementedError

    def _verdict(
        self, data: dict[str, Any]
    ) -> tuple[tuple[Option, ...], Verdict | None, tuple[ActionCode, ...]]:
        """The options a verdict rule decides, its verdict and the next step it names."""
        if "option" not in data and "verdict" not in data:
            if "step" in data:
                self.issue("step", "goes only with an option and a verdict")
            return (), None, ()
        raw = data.get("option")
        names = raw if isinstance(raw, list) else [raw]
        options: list[Option] = []
        for name in names:
            try:
                options.append(Option(str(name)))
            except ValueError:
                self.issue(
                    "option",
                    f"unknown option {name!r}" + suggest(str(name), [o.value for o in Option]),
                )
        if not names or raw is None:
            self.issue("option", "a verdict names the option (or a list of options) it decides")
        verdict = None
        try:
            verdict = Verdict(str(data.get("verdict")))
        except ValueError:
            self.issue(
                "verdict",
                f"unknown verdict {data.get('verdict')!r}"
                + suggest(str(data.get("verdict")), [v.value for v in Verdict]),
            )
        if "actions" in data or "derive" in data:
            self.issue("option", "a verdict rule concludes a verdict only (no actions, no derive)")
        steps: list[ActionCode] = []
        raw_steps = data.get("step", [])
        for code in raw_steps if isinstance(raw_steps, list) else [raw_steps]:
            try:
                found = ActionCode(str(code))
            except ValueError:
                self.issue(
                    "step",
                    f"unknown action {code!r}" + suggest(str(code), [a.value for a in ActionCode]),
                )
                continue
            # An open verdict names its option's own step; a hold may name what unblocks
            # it (an action of no option); not yet may name what must come first.
            own = len(options) == 1 and found.option is options[0]
            unblocking = verdict in (Verdict.BLOCKED, Verdict.UNKNOWN) and found.option is None
            if verdict is not Verdict.NOT_YET and not (own or unblocking):
                self.issue("step", f"{found} is not a step of the option this rule decides")
            steps.append(found)
        return tuple(options), verdict, tuple(steps)

    def _tier(self, data: dict[str, Any], actions: tuple[ActionCode, ...]) -> RedFlagTier | None:
        """A red-flag rule's tier; it must recommend that tier's action."""
        if "tier" not in data:
            return None
        try:
            tier = RedFlagTier(data["tier"])
        except ValueError:
            self.issue("tier", "must be emergency or urgent")
            return None
        needed = (
            ActionCode.EMERGENCY_ASSESSMENT
            if tier is RedFlagTier.EMERGENCY
            else ActionCode.URGENT_SPECIALIST_REVIEW
        )
        if needed not in actions:
            self.issue("tier", f"a red flag of the {tier} tier recommends {needed}")
        return tier

    def _advice(
        self, data: dict[str, Any], options: tuple[Option, ...], verdict: Verdict | None
    ) -> ScsAdvice | None:
        """The SCS advice level a verdict rule states (pathway.md 7.1, 7.2), if any.

        Only a verdict rule on spinal cord stimulation alone may state one: the level
        is the rule's conclusion, carried to the appraisal, never re-derived.
        """
        if "advice" not in data:
            return None
        try:
            advice = ScsAdvice(str(data["advice"]))
        except ValueError:
            self.issue(
                "advice",
                f"unknown advice level {data['advice']!r}"
                + suggest(str(data["advice"]), [a.value for a in ScsAdvice]),
            )
            return None
        if verdict is None or options != (Option.SPINAL_CORD_STIMULATION,):
            self.issue("advice", "goes only on a verdict rule on spinal_cord_stimulation alone")
            return None
        return advice

    def _with_steps(self, data: Any) -> tuple[ActionCode, ...]:
        """The option steps a rule goes beside."""
        codes = []
        for code in data if isinstance(data, list) else [None]:
            try:
                found = ActionCode(str(code))
            except ValueError:
                found = None
            if found is None or found.option is None:
                self.issue("with_steps", f"{code!r} is not an option's step")
            else:
                codes.append(found)
        return tuple(codes)

    def _basis(self, data: Any) -> tuple[str, ...]:
        """The kinds of basis a rule declares for itself."""
        names = [data] if isinstance(data, str) else data
        if not isinstance(names, list) or not all(name in BASIS_KINDS for name in names):
            self.issue("basis", f"must be one or more of {', '.join(BASIS_KINDS)}")
            return ()
        return tuple(names)
