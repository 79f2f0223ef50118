"""Turning a decision into words and pictures for people: one voice for every output.

Combining fired rules into a recommendation, reason templates, the missing
information, the ladder view and the wording of facts live here; cards,
reports and the command line all use them.
"""

from .recommend import explain

__all__ = ["explain"]
