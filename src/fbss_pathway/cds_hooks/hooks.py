"""Answering the hooks: patient-view's cards, order-sign's guardrail.

Both hooks read the same data (the discovery's prefetch templates, completed
by :mod:`.prefetch`) as of the service's assessment date, which the caller
passes in (today, unless the application was made with another). These
functions block (reading, the engine): the service runs large calls in worker
threads, off the event loop.

A search that could not be read is never answered as "no data": its items are
unknown, and the ``FHIR-UNREAD`` warning says so on the cards; where what was
read alone would give no card (the patient seems outside the pathway, or the
ordered step seems supported), a card of its own says what was not read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from typing import Any

from pydantic import ValidationError

from ..errors import EvaluationError
from ..evaluation import evaluate
from ..explain.medication_order import (
    OrderedMedicineContext,
    medication_order_words,
    record_with_order,
)
from ..facts import extract_facts
from ..fhir import FhirError, read_bundle
from ..fhir.orders import OrderedMedicine, ordered_medicines, ordered_steps
from ..mme import current_opioids
from ..recommendation import PathwayWarning, Recommendation
from ..record import OpioidIngredient, PatientRecord
from ..report import html_report
from ..ruleset import RuleSet
from ..steps import check_step
from .calls import RefusedCallError
from .cards import UNREAD_WARNING, cards, new_card
from .order_card import (
    medication_warning_card,
    order_warning_card,
    precautions_card,
    reoperation_figures_card,
)
from .prefetch import (
    FORM_NOT_SENT,
    PREFETCH,
    bundle_of,
    complete_prefetch,
    fhir_server_for,
    needs_fetch,
    prefetch_from_bundle,
)
from .report_links import REPORT_LIFETIME, StoredCall

__all__ = [
    "HOOKS",
    "ORDER_SIGN_ID",
    "PREFETCH",
    "SERVICE_ID",
    "UNREAD_WARNING",
    "complete_prefetch",
    "fhir_server_for",
    "needs_fetch",
    "order_sign",
    "patient_view",
    "prefetch_from_bundle",
    "report_page",
]

#: The services, by id, and the hook each answers.
SERVICE_ID = "fbss-pathway"
ORDER_SIGN_ID = "fbss-pathway-order-sign"
HOOKS = {SERVICE_ID: "patient-view", ORDER_SIGN_ID: "order-sign"}


def patient_view(
    prefetch: dict[str, Any],
    patient_id: str,
    rules: RuleSet,
    unread: dict[str, str],
    assessed: date,
    link: Callable[[StoredCall], str] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """The cards for a prefetch assessed on ``assessed``, and how many resources were ignored.

    ``link`` keeps the call for its full report and gives the report's address,
    which every card then carries (:mod:`.report_links`).
    """
    reading = _read(prefetch, patient_id, assessed)
    try:
        recommendation = reading.evaluate(ruleset=rules, ladder=False)  # cards do not show it
    except EvaluationError:
        raise RefusedCallError(
            500, "exception", "the rule engine failed; no recommendation"
        ) from None
    if recommendation is None:  # outside the pathway: an answer, not an error...
        if _failed(unread):  # ...unless a search that could not be read may change it
            return [_unread_card(unread, _outside(reading.not_applicable))], len(reading.ignored)
        return [], len(reading.ignored)
    if unread:
        recommendation = _with_unread(recommendation, unread)
    result = cards(recommendation, ruleset=rules, record=reading.record)
    if reading.record is not None:
        _link_report(result, link, StoredCall(reading.record, unread, assessed))
    return result, len(reading.ignored)


def _link_report(
    result: list[dict[str, Any]], link: Callable[[StoredCall], str] | None, stored: StoredCall
) -> None:
    """Give every card of a call the same link to the call's full report (none without cards)."""
    if link is None or not result:
        return
    address = link(stored)
    minutes = round(REPORT_LIFETIME / 60)
    label = f"Full report (the link expires in {minutes} minutes)"
    for card in result:
        card["links"] = [{"label": label, "url": address, "type": "absolute"}]


def report_page(stored: StoredCall, rules: RuleSet) -> str:
    """The full report of a kept call: evaluated again with the ladder, as HTML."""
    recommendation = evaluate(stored.record, ruleset=rules, ladder=True)
    if stored.unread:
        recommendation = _with_unread(recommendation, stored.unread)
    return html_report(recommendation, ruleset=rules)


def _with_unread(recommendation: Recommendation, unread: dict[str, str]) -> Recommendation:
    """The recommendation warning first that some of the patient's data could not be read."""
    what = "; ".join(f"{key} ({reason})" for key, reason in sorted(unread.items()))
    warning = PathwayWarning(
        rule_id=UNREAD_WARNING,
        message=f"Not read from the EHR: {what}. "
        "The items these would give are unknown, not absent.",
    )
    return recommendation.model_copy(update={"warnings": (warning, *recommendation.warnings)})


def order_sign(
    prefetch: dict[str, Any],
    patient_id: str,
    rules: RuleSet,
    unread: dict[str, str],
    assessed: date,
    draft_orders: Any,
    link: Callable[[StoredCall], str] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """A warning card for each ordered ladder step the pathway does not support now.

    And one for each class of medicine ordered that pathway.md 5.2 warns about
    (an opioid, a benzodiazepine), for every patient the pathway applies to.
    ``link`` gives every card the full report's address, as in :func:`patient_view`:
    the report is of the record as it stands, before the order.
    """
    try:
        steps = ordered_steps(draft_orders)
        medicines = ordered_medicines(draft_orders, rules.mme)
    except FhirError as error:
        raise RefusedCallError(400, "invalid", str(error)) from None
    if not steps and not medicines:
        return [], 0
    reading = _read(prefetch, patient_id, assessed)
    if reading.record is None:  # outside the pathway: it has no opinion on the order
        if _failed(unread):
            return [_unread_card(unread, _outside(reading.not_applicable))], len(reading.ignored)
        return [], len(reading.ignored)
    result = []
    for step in dict.fromkeys(ordered.step for ordered in steps):
        try:
            check = check_step(reading.record, step, ruleset=rules)
        except EvaluationError:
            raise RefusedCallError(500, "exception", "the rule engine failed") from None
        if not check.supported:
            if unread:
                check = replace(check, recommendation=_with_unread(check.recommendation, unread))
            result.append(order_warning_card(check, ruleset=rules, record=reading.record))
        else:
            for card in (
                reoperation_figures_card(check, ruleset=rules, record=reading.record),
                precautions_card(check, ruleset=rules, record=reading.record),
            ):
                if card is not None:
                    result.append(card)
    result += _medication_cards(reading.record, medicines, rules, unread)
    if not result and _failed(unread):  # supported on what was read: say what was not
        result.append(_unread_card(unread, _CHECKED_WITHOUT))
    _link_report(result, link, StoredCall(reading.record, unread, assessed))
    return result, len(reading.ignored)


def _medication_cards(
    record: PatientRecord, medicines: list[OrderedMedicine], rules: RuleSet, unread: dict[str, str]
) -> list[dict[str, Any]]:
    """One card per class of medicine ordered: the rules on the record now and as if signed."""
    cards_found = []
    first = {order.kind: order for order in reversed(medicines)}
    try:
        now = evaluate(record, ruleset=rules, ladder=False) if first else None
        for kind in ("opioid", "benzodiazepine"):
            order = first.get(kind)
            if order is None or now is None:
                continue
            signed = evaluate(
                record_with_order(record, kind, order.ingredient), ruleset=rules, ladder=False
            )
            shown = _with_unread(now, unread) if unread else now
            words = medication_order_words(kind, shown, signed, _context(record, order, rules))
            cards_found.append(medication_warning_card(words, ruleset=rules, record=record))
    except EvaluationError:
        raise RefusedCallError(500, "exception", "the rule engine failed") from None
    return cards_found


def _context(
    record: PatientRecord, order: OrderedMedicine, rules: RuleSet
) -> OrderedMedicineContext:
    """What the order names and what the record says the patient takes now."""
    facts = extract_facts(record, rules.parameter_values, mme=rules.mme)
    current = current_opioids(record.medicines, record.assessment_date)
    names = (o.ingredient.value for o in current if o.ingredient is not OpioidIngredient.OTHER)
    ingredient = order.ingredient.value if order.ingredient is not None else None
    return OrderedMedicineContext(
        name=order.name,
        ingredient=None if ingredient is None else ingredient.replace("_", " "),
        on_opioid=facts.get("opioid_in_use") is True,
        current=tuple(dict.fromkeys(name.replace("_", " ") for name in names)),
        on_benzodiazepine=record.medicines.benzodiazepine is True,
    )


_CHECKED_WITHOUT = (
    "The ordered step was checked on what could be read: it is what the pathway "
    "recommends on that data, but the data not read may change this."
)


def _failed(unread: dict[str, str]) -> dict[str, str]:
    """The searches that failed (a form the client did not send is not a failure)."""
    return {key: reason for key, reason in unread.items() if reason != FORM_NOT_SENT}


def _outside(reasons: tuple[str, ...]) -> str:
    why = "; ".join(reasons) or "outside the pathway"
    return (
        f"What could be read places the patient outside the pathway ({why}), "
        "but the data not read may change this: the pathway was not assessed."
    )


def _unread_card(unread: dict[str, str], consequence: str) -> dict[str, Any]:
    """The FHIR-UNREAD warning as a card of its own (reasons name keys, never data)."""
    what = "; ".join(f"{key} ({reason})" for key, reason in sorted(unread.items()))
    lines = [
        f"Not read from the EHR: {what}. The items these would give are unknown, not absent.",
        "",
        consequence,
    ]
    titles = {UNREAD_WARNING: "Patient data not read from the EHR"}
    summary = "PSPS type 2 (FBSS): patient data could not be read from the EHR"
    return new_card(summary, "warning", UNREAD_WARNING, titles, lines)


def _read(prefetch: dict[str, Any], patient_id: str, assessed: date) -> Any:
    try:
        return read_bundle(bundle_of(prefetch), assessment_date=assessed, patient_id=patient_id)
    except FhirError as error:
        raise RefusedCallError(400, "invalid", str(error)) from None
    except ValidationError as error:
        fields = sorted({".".join(map(str, e["loc"])) for e in error.errors()})
        raise RefusedCallError(
            400, "invalid", f"the prefetched data is not a valid record: {fields}"
        ) from None
