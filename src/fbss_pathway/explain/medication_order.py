"""Words for an opioid or benzodiazepine order at signing (pathway.md 5.2).

The rules decide, twice: on the record as it is (the current MME a day, the
analgesic advice, what the pathway recommends instead) and on the record as it
would be if the order were signed (the cautions the order would bring: a
benzodiazepine beside the new opioid, naloxone, the reviews). This module only
words the two results; cards and other adapters lay the words out.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..recommendation import Recommendation
from ..record import OpioidIngredient, OpioidUse, PatientRecord
from ..vocabulary import ActionCode
from .words import code_words, value_text

__all__ = ["MedicationOrderWords", "medication_order_words", "record_with_order"]

#: Warnings about medicines: those a medication order is checked against.
_MEDICINE_WARNINGS = frozenset(
    {
        "mme_caution",
        "mme_high",
        "naloxone",
        "opioid_benzodiazepine",
        "opioid_gabapentinoid",
        "gabapentinoid_review",
        "benzodiazepine_review",
        "taper_mood_rescreen",
        "suicide_risk_medicines",
    }
)
_NAMES = {"opioid": "An opioid", "benzodiazepine": "A benzodiazepine"}


@dataclass(frozen=True, slots=True)
class MedicationOrderWords:
    """What a medication-order card says: its summary, lines, and the rule that leads."""

    summary: str
    lines: list[str]
    rule_id: str | None


def record_with_order(
    record: PatientRecord, kind: str, ingredient: OpioidIngredient | None
) -> PatientRecord:
    """The record as it would be with the order signed (its dose not worked out: unknown)."""
    medicines = record.medicines
    if kind == "opioid":
        added = OpioidUse(ingredient=ingredient or OpioidIngredient.OTHER)
        medicines = medicines.model_copy(update={"opioids": [*medicines.opioids, added]})
    else:
        medicines = medicines.model_copy(update={"benzodiazepine": True})
    return record.model_copy(update={"medicines": medicines})


def _current_mme(now: Recommendation, mme_unknown: bool) -> str:
    if now.mme_per_day is not None:
        return value_text("mme_per_day", now.mme_per_day)
    if mme_unknown:
        return "unknown: a current opioid's dose is not recorded"
    return "none: no opioid in current use that converts to MME (none, or buprenorphine alone)"


def medication_order_words(
    kind: str, now: Recommendation, signed: Recommendation
) -> MedicationOrderWords:
    """The card's words for an ordered opioid or benzodiazepine.

    Args:
        kind: ``opioid`` or ``benzodiazepine``.
        now: The recommendation on the record as it is.
        signed: The recommendation on the record with the order signed.
    """
    mme_unknown = any(item.fact == "mme_per_day" for item in now.missing)
    advice = next((a for a in now.actions if a.code is ActionCode.SUPPORTIVE_ANALGESIA), None)
    had = {w.key for w in now.warnings}
    brought = [w for w in signed.warnings if w.key in _MEDICINE_WARNINGS and w.key not in had]
    kept = [w for w in now.warnings if w.key in _MEDICINE_WARNINGS]
    why: list[str] = []
    if kind == "opioid" and advice is not None:
        why.append(f"- {_capital(advice.reason)}.")
    why += [f"- If signed: {w.message}." for w in brought]
    why += [f"- Already: {w.message}." for w in kept]
    lead = advice.rule_id if kind == "opioid" and advice is not None else None
    if lead is None and brought:
        lead = brought[0].rule_id
    lines = [
        f"**{_NAMES[kind]} ordered for a patient on the FBSS pathway: check before signing.**",
        "",
        f"**Current opioids, MME a day:** {_current_mme(now, mme_unknown)}.",
        "",
        "**Why:**",
        "",
        *(why or ["- No rule of the pathway adds a caution for this order."]),
        "",
        f"**The pathway recommends instead:** {now.headline}.",
        "",
        *[f"1. {code_words(action.code)} ({action.rule_id})" for action in now.actions],
        "",
        f"Rule set {now.ruleset_version}. Supports, does not replace, clinical judgement.",
    ]
    summary = f"{_NAMES[kind]} order: check against the FBSS pathway"
    return MedicationOrderWords(summary, lines, lead)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
