"""Words for an opioid or benzodiazepine order at signing (pathway.md 5.2).

The rules decide, twice: on the record as it is (the current MME a day, the
analgesic advice, what the pathway recommends instead) and on the record as it
would be if the order were signed (the cautions the order would bring: a
benzodiazepine beside the new opioid, naloxone, the reviews). This module only
words the two results; cards and other adapters lay the words out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..recommendation import Recommendation
from ..record import OpioidIngredient, OpioidUse, PatientRecord
from ..vocabulary import ActionCode
from .words import code_words, value_text

__all__ = [
    "MedicationOrderWords",
    "OrderedMedicineContext",
    "medication_order_words",
    "record_with_order",
]

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
_CLASS = {"opioid": "an opioid", "benzodiazepine": "a benzodiazepine"}
#: The stewardship point that applies first (pathway.md 5.2), by what is ordered and taken.
_ON_TOP = (
    "Another opioid on top of a current one: review the current opioid's benefit and "
    "harm with the patient first; where it does not help, taper it rather than add to it"
)
_TOGETHER = (
    "An opioid with a benzodiazepine: together they raise the risk of respiratory "
    "depression and fatal overdose; avoid the combination, or keep both at the lowest "
    "dose and offer naloxone"
)


@dataclass(frozen=True, slots=True)
class OrderedMedicineContext:
    """What the order and the record say that the card's words name.

    ``name``: what the order calls the medicine (its text or the RxNorm display);
    ``ingredient``: the ordered opioid's ingredient, where known; ``current``: the
    ingredients of the opioids in current use; ``on_opioid``, ``on_benzodiazepine``:
    whether the record has one in current use.
    """

    name: str | None = None
    ingredient: str | None = None
    on_opioid: bool = False
    current: tuple[str, ...] = field(default=())
    on_benzodiazepine: bool = False


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
        return "unknown: a dose is not recorded"
    return "none: no opioid in current use that converts to MME (none, or buprenorphine alone)"


def medication_order_words(
    kind: str,
    now: Recommendation,
    signed: Recommendation,
    order: OrderedMedicineContext | None = None,
) -> MedicationOrderWords:
    """The card's words for an ordered opioid or benzodiazepine.

    Args:
        kind: ``opioid`` or ``benzodiazepine``.
        now: The recommendation on the record as it is.
        signed: The recommendation on the record with the order signed.
        order: What was ordered and what the patient takes now.
    """
    order = order or OrderedMedicineContext()
    mme_unknown = any(item.fact == "mme_per_day" for item in now.missing)
    mme = _current_mme(now, mme_unknown)
    advice = next((a for a in now.actions if a.code is ActionCode.SUPPORTIVE_ANALGESIA), None)
    review = next((a for a in now.actions if a.code is ActionCode.OPIOID_REVIEW), None)
    had = {w.key for w in now.warnings}
    brought = [w for w in signed.warnings if w.key in _MEDICINE_WARNINGS and w.key not in had]
    kept = [w for w in now.warnings if w.key in _MEDICINE_WARNINGS]
    why: list[str] = []
    lead: str | None = None
    on_top = kind == "opioid" and order.on_opioid
    together = (kind == "opioid" and order.on_benzodiazepine) or (
        kind == "benzodiazepine" and order.on_opioid
    )
    if on_top:
        why.append(f"- {_ON_TOP}.")
        lead = review.rule_id if review is not None else None
    if together:
        why.append(f"- {_TOGETHER}.")
        combined = next((w for w in signed.warnings if w.key == "opioid_benzodiazepine"), None)
        lead = lead or (combined.rule_id if combined is not None else None)
    if kind == "opioid" and advice is not None:
        why.append(f"- {_capital(advice.reason)}.")
        lead = lead or advice.rule_id
    why += [f"- If signed: {w.message}." for w in brought]
    why += [f"- Already: {w.message}." for w in kept]
    if lead is None and brought:
        lead = brought[0].rule_id
    lines = [
        f"**{_ordered(kind, order, mme)}: check before signing.**",
        "",
        f"**Current opioids, MME a day:** {mme}.",
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
    return MedicationOrderWords(_summary(kind, order), lines, lead)


def _ordered(kind: str, order: OrderedMedicineContext, mme: str) -> str:
    """'Oxycodone 5 MG Oral Tablet: an opioid added to a current opioid (morphine; MME ...)'."""
    head = f"{_capital(order.name)}: {_CLASS[kind]}" if order.name else _NAMES[kind]
    if order.on_opioid:
        current = f"{', '.join(order.current)}; " if order.current else ""
        dose = mme if mme[:1].isdigit() else f"MME a day {mme}"  # "20 MME a day"
        return f"{head} added to a current opioid ({current}{dose})"
    if kind == "opioid" and order.on_benzodiazepine:
        return f"{head} added to a current benzodiazepine"
    return f"{head} ordered for a patient on the PSPS type 2 (FBSS) pathway"


def _summary(kind: str, order: OrderedMedicineContext) -> str:
    """'Oxycodone order: check against the PSPS type 2 (FBSS) pathway first' (under 140)."""
    tail = " order: check against the PSPS type 2 (FBSS) pathway first"
    name = order.ingredient if order.ingredient and order.ingredient != "other" else order.name
    if not name or len(name) + len(tail) >= 140:
        name = _NAMES[kind]
    return _capital(name) + tail


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
