"""The feedback endpoint's checks: what a CDS client may tell the service about its cards.

CDS Hooks 2.0 feedback says whether a card was accepted or overridden, and why.
The service keeps none of it but a log line per item, and a log line holds ids,
outcomes and this service's own override-reason codes only: a comment or any
other reason a client sends may hold patient data.
"""

from __future__ import annotations

from typing import Any

from .calls import RefusedCallError, safe_id
from .order_card import OVERRIDE_REASONS

__all__ = ["MAX_FEEDBACK_ITEMS", "feedback_events"]

#: The most feedback items one call may carry (each is a log line).
MAX_FEEDBACK_ITEMS = 100
_OUTCOMES = {"accepted", "overridden"}


def feedback_events(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The log fields of each feedback item of a call, once every item is checked.

    Raises:
        RefusedCallError: 400 when ``feedback`` is not a non-empty array of at most
            :data:`MAX_FEEDBACK_ITEMS` items, each with a card, an outcome and its
            time; nothing is logged then (the message names the item, not its values).
    """
    items = body.get("feedback")
    if not isinstance(items, list) or not items:
        raise RefusedCallError(400, "invalid", "feedback must be a non-empty array")
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise RefusedCallError(
            400, "too-costly", f"feedback holds at most {MAX_FEEDBACK_ITEMS} items a call"
        )
    for number, item in enumerate(items):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("card"), str)
            or item.get("outcome") not in _OUTCOMES
            or not isinstance(item.get("outcomeTimestamp"), str)
        ):
            raise RefusedCallError(
                400, "invalid", f"feedback[{number}] needs card, outcome and outcomeTimestamp"
            )
    return [
        {
            "card": safe_id(item["card"]),
            "outcome": item["outcome"],
            "reason": _override_reason(item.get("overrideReason")),
        }
        for item in items
    ]


def _override_reason(reason: Any) -> str | None:
    """The code of an override reason, when it is one of this service's (else '(other)')."""
    if reason is None:
        return None
    coding = reason.get("reason") if isinstance(reason, dict) else None
    code = coding.get("code") if isinstance(coding, dict) else None
    return code if code in OVERRIDE_REASONS else "(other)"
