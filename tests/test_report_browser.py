"""Every example's report opened in a real headless Chromium, as a clinician would open it.

The browser is Debian's ``chromium`` (``make unit`` installs it where it is
missing and the user may install packages); outside CI a machine without it
skips these tests, in CI (``CI=true``) they fail instead. Set FBSS_SCREENSHOTS
to a directory to keep the screenshots and look at them.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from fbss_pathway import evaluate, load_ruleset
from fbss_pathway.cli import example_paths
from fbss_pathway.cli.report import write_example_reports

from .browser import Browser, chromium_path

CHROMIUM = chromium_path()
if CHROMIUM is None and os.environ.get("CI") != "true":
    pytest.skip("Chromium is not installed (make unit installs it)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None, "CI must have Chromium: make unit installs Debian's chromium"
    with Browser(CHROMIUM) as opened:
        yield opened


def rendered(png: bytes) -> tuple[int, float]:
    """Distinct colours, and the share of pixels that are not the page background."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20) or []
    background = max(colours)[1] if colours else (255, 255, 255)
    pixels = image.width * image.height
    other = sum(count for count, colour in colours if colour != background)
    return len(colours), other / pixels


def test_every_example_report_renders_with_no_request_and_no_console_error(
    browser: Browser, tmp_path: Path
) -> None:
    pages = write_example_reports(tmp_path, load_ruleset())
    keep = os.environ.get("FBSS_SCREENSHOTS")
    assert len(pages) == len(example_paths())
    for page, record in zip(pages, example_paths(), strict=True):
        url = page.resolve().as_uri()
        visit = browser.visit(url)
        expected = evaluate(json.loads(record.read_text()))
        assert visit.requests == [url], page.name  # the page itself, nothing else
        assert visit.console == [], page.name
        assert visit.stage == expected.headline, page.name  # what a clinician reads first
        assert "Where the patient stands" in visit.text
        colours, drawn = rendered(visit.screenshot)
        assert colours > 20, page.name  # text, marks and frames, not a blank page
        assert drawn > 0.03, page.name
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            (Path(keep) / f"{page.stem}.png").write_bytes(visit.screenshot)


def test_the_checks_see_a_request_and_an_error_when_a_page_makes_them(
    browser: Browser, tmp_path: Path
) -> None:
    """The same checks on a page that does what reports must not: they catch it."""
    page = tmp_path / "leaky.html"
    page.write_text(
        "<!DOCTYPE html><html><body><p id=stage>Stage: none</p>"
        '<img src="http://127.0.0.1:9/pixel.png"></body></html>'
    )
    url = page.resolve().as_uri()
    visit = browser.visit(url)
    assert visit.requests[0] == url
    assert "http://127.0.0.1:9/pixel.png" in visit.requests
    assert visit.console  # the failed load is reported as an error
    _colours, drawn = rendered(visit.screenshot)
    assert drawn < 0.03  # nearly blank: the blank check would fail it


#: Every element that lies outside the viewport's width, except inside the ladder picture's
#: own frame, which scrolls sideways so that its words stay legible in a side panel.
_OVERFLOW = """(() => {
  const width = document.documentElement.clientWidth;
  const outside = [];
  for (const element of document.body.querySelectorAll('*')) {
    if (element.parentElement && element.parentElement.closest('.ladder')) continue;
    const box = element.getBoundingClientRect();
    if (box.width && (box.right > width + 1 || box.left < -1)) {
      outside.push(element.tagName.toLowerCase() + '.' + element.className);
    }
  }
  const scroll = document.documentElement.scrollWidth;
  return JSON.stringify({width: width, scroll: scroll, outside: outside.slice(0, 8)});
})()"""


@pytest.mark.parametrize("width", [420, 1280])
def test_every_report_fits_an_ehr_side_panel_and_a_desktop(
    browser: Browser, tmp_path: Path, width: int
) -> None:
    """Nothing runs off the page at 420 px (an EHR side panel) or 1280 px: element widths."""
    pages = write_example_reports(tmp_path, load_ruleset())
    keep = os.environ.get("FBSS_SCREENSHOTS")
    for page in pages:
        visit = browser.visit(page.resolve().as_uri(), width=width, height=900, script=_OVERFLOW)
        measured = json.loads(visit.measured)
        assert measured["outside"] == [], (page.name, width, measured)
        assert measured["scroll"] <= measured["width"], (page.name, width, measured)
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            (Path(keep) / f"{page.stem}-{width}px.png").write_bytes(visit.screenshot)


def test_the_overflow_check_sees_a_page_that_runs_off_a_side_panel(browser: Browser) -> None:
    """The same check on a page with a wide table: it names the table."""
    wide = "<!DOCTYPE html><html><body><table><tr>" + "<td>column</td>" * 60 + "</tr></table>"
    visit = browser.visit("data:text/html," + wide, width=420, height=600, script=_OVERFLOW)
    measured = json.loads(visit.measured)
    assert any(name.startswith("table") for name in measured["outside"])


def test_a_typical_report_prints_on_two_pages_at_most(browser: Browser, tmp_path: Path) -> None:
    """Printed on A4 (pathway.md 11: a printed copy is dated and complete), two pages at most."""
    pages = {p.stem[:3]: p for p in write_example_reports(tmp_path, load_ruleset())}
    for typical in ("02_", "04_", "05_"):  # conservative, radiofrequency, neuromodulation
        visit = browser.visit(pages[typical].resolve().as_uri(), print_pdf=True)
        assert 1 <= visit.printed_pages <= 2, (typical, visit.printed_pages)
