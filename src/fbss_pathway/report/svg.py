"""The ladder as a picture: an SVG that reads the same on screen and printed in black and white.

The rungs stand bottom to top as on a ladder (a red flag's urgent review above
them all). The patient's rung has a thick frame and an arrow; each criterion
carries a mark whose shape says met (a filled disc with a tick), not met (an
open disc with a cross) or unknown (a dashed ring with a question mark), so
colour is never the only sign. Every word is a ``<text>`` element (selectable,
read by screen readers, never baked into paths), and ``<title>``/``<desc>``
say the whole picture in words.
"""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ..explain.summary import STATUS_WORDS, next_step, stage_words
from ..explain.words import code_words
from ..recommendation import LadderCriterion, LadderRung, LadderStep, Recommendation
from ..vocabulary import RungStatus
from .titles import plain_title

__all__ = ["ladder_svg"]

WIDTH = 860
_MARGIN = 16
_RAIL_LEFT, _RAIL_RIGHT = 30, 62
_BOX_X = 84
_BOX_WIDTH = WIDTH - _BOX_X - _MARGIN
_LINE = 18
_CHARS = 104  # characters per line of 13 px text in a box
_FONT = "DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif"
_INK, _GREY, _ACCENT, _WARN = "#1a1a1a", "#767676", "#1f4e79", "#8a1c1c"
_MAX_STEPS = 6


@dataclass(frozen=True, slots=True)
class _Line:
    text: str
    mark: bool | str | None = "none"  # True, False, None (unknown) or "none": no mark
    style: str = "plain"  # plain, heading, note, warning


def ladder_svg(recommendation: Recommendation, *, title: str | None = None) -> str:
    """The ladder view of a recommendation as a standalone SVG document.

    Raises:
        ValueError: the recommendation was made without its ladder view
            (``evaluate(..., ladder=False)``).
    """
    if recommendation.ladder is None:
        raise ValueError("this recommendation has no ladder view: evaluate it with ladder=True")
    heading = plain_title(title) or "Where the patient stands on the PSPS type 2 (FBSS) pathway"
    svg = ET.Element(
        "svg",
        {
            "xmlns": "http://www.w3.org/2000/svg",
            "role": "img",
            "aria-labelledby": "ladder-title ladder-desc",
            "font-family": _FONT,
            "font-size": "13",
            "fill": _INK,
        },
    )
    ET.SubElement(svg, "title", {"id": "ladder-title"}).text = heading
    ET.SubElement(svg, "desc", {"id": "ladder-desc"}).text = _description(recommendation)
    _definitions(svg)

    y: float = _MARGIN + 18
    _text(svg, _MARGIN, y, heading, size=18, weight="bold")
    y += 24
    for line in textwrap.wrap(_summary(recommendation), _CHARS + 10):
        _text(svg, _MARGIN, y, line)
        y += _LINE
    y += 8

    rail_top = y
    rungs = list(reversed(recommendation.ladder))  # the top of the ladder first
    for rung in rungs:
        y = _rung(svg, rung, y) + 10
    rail_bottom = y - 10
    for x in (_RAIL_LEFT, _RAIL_RIGHT):
        rail = {"x1": str(x), "y1": str(rail_top), "x2": str(x), "y2": str(rail_bottom)}
        ET.SubElement(svg, "line", {**rail, "stroke": _GREY, "stroke-width": "4"})

    y = _legend(svg, y + 6)
    svg.set("width", str(WIDTH))
    svg.set("height", str(y))
    svg.set("viewBox", f"0 0 {WIDTH} {y}")
    return ET.tostring(svg, encoding="unicode")


def _summary(recommendation: Recommendation) -> str:
    action = next_step(recommendation)
    text = f"Stage: {stage_words(recommendation.stage)}."
    if action is not None:
        text += f" Next step: {code_words(action.code)} ({action.rule_id})."
    return text


def _description(recommendation: Recommendation) -> str:
    assert recommendation.ladder is not None
    rungs = "; ".join(
        f"{stage_words(rung.stage)}: {STATUS_WORDS[rung.status]}" for rung in recommendation.ladder
    )
    return f"{_summary(recommendation)} The ladder, from the first step: {rungs}."


def _rung(svg: ET.Element, rung: LadderRung, top: float) -> float:
    """Draw one rung's box; return the y below it."""
    lines = _lines(rung)
    height = 12 + _LINE * (1 + sum(len(_wrapped(line)) for line in lines)) + 6
    current = rung.status is RungStatus.CURRENT
    frame = {
        "x": str(_BOX_X),
        "y": str(top),
        "width": str(_BOX_WIDTH),
        "height": str(height),
        "rx": "6",
        "fill": "#eef4fb" if current else "#f4f4f4" if rung.status is RungStatus.PASSED else "#fff",
        "stroke": _ACCENT if current else _WARN if rung.status is RungStatus.BLOCKED else _GREY,
        "stroke-width": "4" if current else "1.5",
    }
    if rung.status in (
        RungStatus.BLOCKED,
        RungStatus.NOT_INDICATED,
        RungStatus.AHEAD,
        RungStatus.UNDECIDED,
    ):
        frame["stroke-dasharray"] = "8 4" if rung.status is RungStatus.BLOCKED else "3 3"
    ET.SubElement(svg, "rect", frame)
    if rung.status is RungStatus.BLOCKED:  # hatching: held back, in black and white too
        strip = {"x": str(_BOX_X + 2), "y": str(top + 2), "width": "10", "height": str(height - 4)}
        ET.SubElement(svg, "rect", {**strip, "fill": "url(#hatch)"})

    rung_y = top + 20
    rung_line = {"x1": str(_RAIL_LEFT), "x2": str(_RAIL_RIGHT), "y1": str(rung_y)}
    ET.SubElement(
        svg, "line", {**rung_line, "y2": str(rung_y), "stroke": _GREY, "stroke-width": "4"}
    )
    if current:  # the arrow: the patient is on this rung
        points = (
            f"{_RAIL_RIGHT + 4},{rung_y - 8} {_BOX_X - 4},{rung_y} {_RAIL_RIGHT + 4},{rung_y + 8}"
        )
        ET.SubElement(svg, "polygon", {"points": points, "fill": _ACCENT})

    y = top + 24
    _text(svg, _BOX_X + 18, y, stage_words(rung.stage), size=15, weight="bold")
    status = STATUS_WORDS[rung.status].upper() if current else STATUS_WORDS[rung.status]
    _text(
        svg,
        _BOX_X + _BOX_WIDTH - 12,
        y,
        status,
        anchor="end",
        weight="bold" if current else "normal",
        fill=_ACCENT if current else _INK,
    )
    for line in lines:
        for index, part in enumerate(_wrapped(line)):
            y += _LINE
            indent = 40 if line.mark != "none" else 22
            if index == 0 and line.mark != "none":
                _mark(svg, _BOX_X + 28, y - 4, line.mark)
            _text(
                svg,
                _BOX_X + indent,
                y,
                part,
                weight="bold" if line.style == "heading" else "normal",
                italic=line.style in ("note", "warning"),
                fill=_WARN if line.style == "warning" else _INK,
            )
    return top + height


def _lines(rung: LadderRung) -> list[_Line]:
    """What a rung's box says: what holds it back, its criteria, its steps."""
    lines = [
        _Line(f"Held back ({w.rule_id}): {w.message}", style="warning") for w in rung.blocked_by
    ]
    if rung.status is RungStatus.PASSED:
        return [*lines, _Line("The patient's stage is further up the ladder.", style="note")]
    lines += [_criterion(c) for c in rung.criteria]
    if rung.status is RungStatus.BLOCKED:
        return lines  # what holds it back matters, not which way onto it
    steps = rung.steps
    heading = "One of these ways onto it:" if len(steps) > 1 else "The way onto it:"
    if rung.status is RungStatus.CURRENT and any(s.met for s in steps):
        steps = tuple(s for s in steps if s.met)
        heading = "The patient is here by:"
    if steps:
        lines.append(_Line(heading, style="heading"))
        lines += [_step(step) for step in steps[:_MAX_STEPS]]
        if len(steps) > _MAX_STEPS:
            lines.append(_Line(f"and {len(steps) - _MAX_STEPS} more", style="note"))
    return lines


def _criterion(criterion: LadderCriterion) -> _Line:
    return _Line(f"{criterion.text} ({criterion.rule_id})", criterion.met)


def _step(step: LadderStep) -> _Line:
    text = f"{step.title} ({step.rule_id})"
    if step.met is not True:
        deciding = [c.text for c in step.criteria if c.met is step.met]
        if deciding:
            text += (" - needs " if step.met is False else " - unknown: ") + "; ".join(deciding)
    return _Line(text, step.met)


def _wrapped(line: _Line) -> list[str]:
    width = _CHARS - (4 if line.mark != "none" else 0)
    return textwrap.wrap(line.text, width) or [""]


def _legend(svg: ET.Element, y: float) -> float:
    y += 14
    _text(svg, _MARGIN, y, "Key", weight="bold")
    x = _MARGIN + 40
    for mark, words in ((True, "met"), (False, "not met"), (None, "unknown: not recorded")):
        _mark(svg, x + 6, y - 4, mark)
        _text(svg, x + 18, y, words)
        x += 40 + 8 * len(words)
    y += _LINE + 4
    key = (
        "Thick frame and arrow: the patient's rung. Dashed and hatched: held back (the reason "
        "is given). Dotted: ahead, undecided or not indicated. Grey: passed."
    )
    for part in textwrap.wrap(key, _CHARS + 10):
        _text(svg, _MARGIN, y, part)
        y += _LINE
    return y + _MARGIN


def _mark(svg: ET.Element, cx: float, cy: float, met: bool | str | None) -> None:
    """Met: a filled disc with a tick; not met: an open disc and cross; unknown: a dashed ring."""
    disc = {"cx": str(cx), "cy": str(cy), "r": "7"}
    if met is True:
        ET.SubElement(svg, "circle", {**disc, "fill": _INK})
        tick = f"M{cx - 4},{cy} L{cx - 1},{cy + 3} L{cx + 4},{cy - 3}"
        ET.SubElement(
            svg, "path", {"d": tick, "stroke": "#fff", "stroke-width": "2", "fill": "none"}
        )
    elif met is False:
        ET.SubElement(
            svg, "circle", {**disc, "fill": "#fff", "stroke": _INK, "stroke-width": "1.5"}
        )
        cross = f"M{cx - 3},{cy - 3} L{cx + 3},{cy + 3} M{cx + 3},{cy - 3} L{cx - 3},{cy + 3}"
        ET.SubElement(svg, "path", {"d": cross, "stroke": _INK, "stroke-width": "1.8"})
    else:
        ring = {"fill": "#fff", "stroke": _INK, "stroke-width": "1.2", "stroke-dasharray": "2 2"}
        ET.SubElement(svg, "circle", {**disc, **ring})
        _text(svg, cx, cy + 4, "?", anchor="middle", size=10, weight="bold")


def _definitions(svg: ET.Element) -> None:
    defs = ET.SubElement(svg, "defs")
    pattern = ET.SubElement(
        defs,
        "pattern",
        {"id": "hatch", "width": "6", "height": "6", "patternUnits": "userSpaceOnUse"},
    )
    ET.SubElement(pattern, "path", {"d": "M0,6 L6,0", "stroke": _WARN, "stroke-width": "1.5"})


def _text(
    svg: ET.Element,
    x: float,
    y: float,
    text: str,
    *,
    size: int = 13,
    weight: str = "normal",
    anchor: str = "start",
    italic: bool = False,
    fill: str = _INK,
) -> None:
    attributes = {"x": str(x), "y": str(y), "font-size": str(size), "fill": fill}
    if weight != "normal":
        attributes["font-weight"] = weight
    if anchor != "start":
        attributes["text-anchor"] = anchor
    if italic:
        attributes["font-style"] = "italic"
    ET.SubElement(svg, "text", attributes).text = text
