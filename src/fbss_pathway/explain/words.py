"""Facts, items and codes in the words a clinician reads: one voice for cards and reports.

``item_label("examination.myofascial_trigger_zones")`` is "Myofascial trigger
zones" (the record's own description of the item); ``value_text`` puts units on
numbers ("7/10", "80 %", "53 months"); ``code_words`` turns a stage or action
code into words with its acronyms ("SCS trial"). The dates a clinician checks a
decision against are :func:`fbss_pathway.explain.layout.context_line`'s.
"""

from __future__ import annotations

import math
import re
from datetime import date
from functools import cache, lru_cache
from typing import Any

from pydantic import BaseModel

from ..facts import FACTS
from ..record import OpioidUse, PatientRecord, SpineOperation, Treatment

__all__ = [
    "code_words",
    "date_words",
    "fact_label",
    "in_sentence",
    "item_label",
    "percent_range",
    "value_text",
]

_ACRONYMS = {
    "scs": "SCS",
    "sij": "SIJ",
    "mri": "MRI",
    "phq9": "PHQ-9",
    "gad7": "GAD-7",
    "nrs": "NRS",
    "mme": "MME",
}
_WEEKS = "{} weeks"
_UNITS = (
    (re.compile(r"(^|_)nrs$"), "{}/10"),
    (re.compile(r"percent$"), "{} %"),
    (re.compile(r"(months$|^months_)"), "{} months"),
    (re.compile(r"weeks$"), _WEEKS),
    (re.compile(r"^age_years$"), "{} years"),
    (re.compile(r"oswestry_disability_index$"), "{} %"),
    (re.compile(r"^mme_per_day(_at_least)?$"), "{} MME a day"),
)
_SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)\. ")  # "e.g. " ends no sentence
#: ", " between items, not inside a selection in brackets ("[exercise_therapy, longest ...]").
_LIST_SEPARATOR = re.compile(r", (?![^\[]*\])")
_ALTERNATIVE = re.compile(r"(?P<first>[^ ]+) \(else (?P<other>[^()]+)\)")
_OPIOID_ITEM = re.compile(r"^medicines\.opioids\[[^\]]*\](?:\.(?P<name>[a-z_]+))?$")
_TREATMENT_ITEM = re.compile(
    r"^(?P<group>treatments|operations)\[(?P<kind>[a-z_]*)[^\]]*\](?:\.(?P<name>[a-z_]+))?$"
)


#: Codes whose words alone would not read well.
_PHRASES = {
    "treat_depression_anxiety": "treat depression or anxiety",
    "screen_depression_anxiety": "screen for depression and anxiety",
    "examine_trigger_zones": "examine for trigger zones and allodynia",
    "fitness_program": "fitness programme",
    "reoperation_caution": "caution before another operation",
    "reoperation": "re-operation",
    # The option is the pain management programme: its step says what to do, not its
    # name again ("Pain management programme: appropriate; next: referral to ...").
    "multidisciplinary_pain_programme": "referral to a multidisciplinary pain programme",
}


@lru_cache(maxsize=1024)  # cards and reports ask for the same few codes again and again
def code_words(code: str) -> str:
    """A stage or action code in words, first letter capitalised: ``scs_trial`` is 'SCS trial'."""
    text = _PHRASES.get(str(code)) or " ".join(
        _ACRONYMS.get(word, word) for word in str(code).split("_")
    )
    return text[:1].upper() + text[1:]


def in_sentence(text: str) -> str:
    """Words for use inside a sentence: first letter lower-cased unless it starts an acronym.

    "Exercise therapy" becomes "exercise therapy"; "SCS trial" and "PHQ-9" stay.
    """
    first = text.split(" ", 1)[0]
    if first.isupper() or first[:1].isdigit() or (len(first) > 1 and first[1].isupper()):
        return text
    return text[:1].lower() + text[1:]


def value_text(name: str, value: Any, *, unknown: str = "not recorded") -> str:
    """A fact's or item's value with its unit, for people: the one way values are written.

    Cards, reports and the reasons rules give all write values with it: "7/10",
    "80 %", "53 months", "1 month", "yes". ``unknown`` stands for None, without
    a unit (never "unknown %").
    """
    if value is None:
        return unknown
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        form = _unit(name)
        if form == _WEEKS and value != int(value):
            # Weeks counted from dates (59 days: 8.43 weeks) are written to a tenth, cut
            # rather than rounded, so that 11.96 weeks never reads as the 12 it falls short of.
            value = math.floor(value * 10) / 10
        number = f"{value:g}"
        if form is None:
            return number
        text = form.format(number)
        return text[:-1] if value == 1 and text.endswith("s") else text  # 1 month
    return str(value).replace("_", " ")


@lru_cache(maxsize=1024)
def _unit(name: str) -> str | None:
    """The unit a fact's or item's numbers are written with (None: a bare number)."""
    return next((form for pattern, form in _UNITS if pattern.search(name)), None)


def date_words(day: date) -> str:
    """A date no reader can misread: '1 Oct 2026' (never 01/10 against 10/01)."""
    return f"{day.day} {day:%b %Y}"


def percent_range(low: float, high: float) -> str:
    """A range of percentages, 'about 30 %' when both ends are one figure."""
    return f"about {low:g} %" if low == high else f"{low:g}-{high:g} %"


@lru_cache(maxsize=1024)
def fact_label(fact: str) -> str:
    """A fact rules read, in words (its catalogue description)."""
    spec = FACTS.get(fact)
    return _sentence(spec.description) if spec is not None else code_words(fact)


def item_label(path: str) -> str:
    """A record item in words, never its field name.

    ``pain.back_nrs``, ``treatments[exercise_therapy, ...].adherence``,
    ``operations[fusion].levels``, ``medicines.opioids[current].daily_dose_mg`` and
    ``a (else b)`` (an item read, else the one that stands in for it) are all record
    items.
    """
    alternative = _ALTERNATIVE.fullmatch(path)
    if alternative is not None:  # "a (else b)": the item read, else the one that stands in
        others = " and ".join(
            in_sentence(item_label(other)) for other in alternative["other"].split(", ")
        )
        return f"{item_label(alternative['first'])} (else {others})"
    parts = _LIST_SEPARATOR.split(path)
    if len(parts) > 1:  # several items: a bare name belongs to the first item's part
        parent = parts[0].rsplit(".", 1)[0]
        labels = [item_label(parts[0])]
        for part in parts[1:]:
            whole = part if "." in part or "[" in part or part in _record_labels() else None
            labels.append(in_sentence(item_label(whole or f"{parent}.{part}")))
        return "; ".join(labels)
    opioid = _OPIOID_ITEM.match(path)
    if opioid is not None:
        if opioid["name"] is None:
            return "Opioids in current use"
        detail = _descriptions(OpioidUse).get(opioid["name"], code_words(opioid["name"]))
        return f"Opioid in current use: {in_sentence(detail)}"
    treatment = _TREATMENT_ITEM.match(path)
    if treatment is not None:
        model = Treatment if treatment["group"] == "treatments" else SpineOperation
        if not treatment["kind"]:
            kind = "Treatments" if model is Treatment else "Spine operations"
        else:
            kind = code_words(treatment["kind"]) + (" operation" if model is SpineOperation else "")
        if treatment["name"] is None:  # the treatment itself: whether one is on record
            return kind
        detail = _details(model).get(treatment["name"], code_words(treatment["name"]))
        return f"{kind}: {detail[:1].lower()}{detail[1:]}"
    return _record_labels().get(path, code_words(path.rsplit(".", 1)[-1]))


@cache
def _record_labels() -> dict[str, str]:
    labels = {}
    for name, info in PatientRecord.model_fields.items():
        section = info.annotation
        if isinstance(section, type) and issubclass(section, BaseModel):
            labels.update({f"{name}.{k}": v for k, v in _descriptions(section).items()})
        elif info.description:
            labels[name] = _sentence(info.description)
    return labels


@cache
def _details(model: type[BaseModel]) -> dict[str, str]:
    """A treatment's or operation's items in words, after any note of which kinds have them.

    "SCS trial only: analgesic use during the trial" is shown under the trial's own
    name, so the words are "analgesic use during the trial".
    """
    details = {}
    for name, info in model.model_fields.items():
        scope, _, rest = (info.description or "").partition(": ")
        text = rest or scope
        details[name] = _SENTENCE_END.split(text)[0].rstrip(".") if text else code_words(name)
    return details


@cache
def _descriptions(model: type[BaseModel]) -> dict[str, str]:
    return {
        name: _sentence(info.description) if info.description else code_words(name)
        for name, info in model.model_fields.items()
    }


def _sentence(description: str) -> str:
    """The description as a label: its first sentence, without the closing full stop."""
    return _SENTENCE_END.split(description.split(": ")[0])[0].rstrip(".")
