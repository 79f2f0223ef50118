"""A report's title as a page can hold it: no character XML forbids or HTML calls broken.

A title comes from the caller (a patient label, a file name, a command-line
argument): tabs and line breaks become spaces, other control characters, lone
surrogates and non-characters are dropped, so that the SVG stays well-formed XML
and the HTML page valid, whoever calls.
"""

from __future__ import annotations

import re

__all__ = ["plain_title"]

#: Characters XML 1.0 forbids or HTML calls non-conforming: controls (C0 but tab, line
#: feed and carriage return, DEL, C1), lone surrogates (an undecodable argument), U+FFFE/F.
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def plain_title(title: str | None) -> str | None:
    """A title that cannot break a page: tabs and line breaks as spaces, other controls dropped."""
    if title is None:
        return None
    return _UNWRITABLE.sub("", re.sub("[\t\n\r]", " ", title)).strip() or None
