"""Reason and warning templates: the placeholders they name, checked when rules load.

A template names facts and parameters in braces (``{back_nrs}/10``,
``{pain_threshold_nrs}``). Filling one for a patient is explanation, and lives
in :mod:`fbss_pathway.explain.templates`.
"""

from __future__ import annotations

import re

__all__ = ["PLACEHOLDER", "facts_in_template"]

#: A placeholder in a template.
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def facts_in_template(text: str) -> list[str]:
    """The placeholders of a reason or warning template."""
    return PLACEHOLDER.findall(text)
