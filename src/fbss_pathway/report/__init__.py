"""Reports for people: a recommendation as text, as a picture of the ladder, as an HTML page.

An adapter at the edge: the words come from :mod:`fbss_pathway.explain`; this
package lays them out.
"""

from .html import html_report
from .svg import ladder_svg
from .text import format_recommendation

__all__ = ["format_recommendation", "html_report", "ladder_svg"]
