"""Reports for people: the ladder picture and the HTML page, as a reader and a printer see them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fbss_pathway import Recommendation, evaluate, load_ruleset
from fbss_pathway.cli import example_paths, main
from fbss_pathway.explain.layout import context_line, option_line
from fbss_pathway.explain.summary import INTENDED_USE, STATUS_WORDS, stage_words
from fbss_pathway.explain.words import code_words, item_label
from fbss_pathway.report import html_report, ladder_svg

from .helpers import patched

SVG = "{http://www.w3.org/2000/svg}"
EXAMPLES = {path.stem: path for path in example_paths()}
FHIR = Path(__file__).parents[1] / "examples" / "fhir"


def example(prefix: str) -> Recommendation:
    path = next(p for name, p in EXAMPLES.items() if name.startswith(prefix))
    return evaluate(json.loads(path.read_text()))


def words_of(svg: ET.Element) -> str:
    return " ".join(t.text or "" for t in svg.iter(f"{SVG}text"))


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_picture_says_every_rung_and_its_status_in_words(name: str) -> None:
    result = evaluate(json.loads(EXAMPLES[name].read_text()))
    assert result.ladder is not None
    svg = ET.fromstring(ladder_svg(result))
    assert svg.get("role") == "img"
    title, desc = svg.find(f"{SVG}title"), svg.find(f"{SVG}desc")
    assert title is not None
    assert title.text
    assert desc is not None
    assert desc.text
    text = words_of(svg)
    for rung in result.ladder:
        assert stage_words(rung.stage) in text
        assert STATUS_WORDS[rung.status] in desc.text
    # The patient's rung is marked by a frame, an arrow and words, not by colour alone.
    assert len(list(svg.iter(f"{SVG}polygon"))) == 1
    assert "THE PATIENT IS HERE" in text
    for path in svg.iter(f"{SVG}path"):
        assert not (path.text or "").strip()  # words are text elements, never drawn


def test_met_unmet_and_unknown_have_different_shapes_and_a_legend_in_words() -> None:
    svg = ET.fromstring(ladder_svg(example("04_")))
    circles = list(svg.iter(f"{SVG}circle"))
    filled = [c for c in circles if c.get("fill") not in ("#fff", None)]
    dashed = [c for c in circles if c.get("stroke-dasharray")]
    open_ = [c for c in circles if c.get("fill") == "#fff" and not c.get("stroke-dasharray")]
    assert filled
    assert dashed
    assert open_
    text = words_of(svg)
    for word in ("met", "not met", "unknown: not recorded"):
        assert word in text
    assert "?" in text  # the unknown mark carries a question mark


def test_a_held_back_rung_says_why_and_is_hatched() -> None:
    # A failed conservative trial, sacroiliac pain not assessed and the red-flag screen
    # incomplete: the sacroiliac option is held by the safety gate above the stage.
    result = evaluate(
        patched(
            {
                "pain": {"back_nrs": 6},
                "findings": {"sacroiliac_joint_pain": "<unknown>"},
                "red_flags": {"cauda_equina_signs": "<unknown>"},
            }
        )
    )
    assert result.stage == "conservative"
    svg = ET.fromstring(ladder_svg(result))
    text = words_of(svg)
    assert "Held back (SAF-01)" in text
    assert any(r.get("fill") == "url(#hatch)" for r in svg.iter(f"{SVG}rect"))


def test_a_recommendation_without_its_ladder_view_has_no_picture() -> None:
    data = json.loads(EXAMPLES[sorted(EXAMPLES)[0]].read_text())
    with pytest.raises(ValueError, match="ladder=True"):
        ladder_svg(evaluate(data, ladder=False))


class _Page(HTMLParser):
    """Tags, attributes and text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    return parsed


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_page_is_self_contained_and_shows_the_whole_basis(name: str) -> None:
    result = evaluate(json.loads(EXAMPLES[name].read_text()))
    ruleset = load_ruleset()
    page = parse(html_report(result))
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed"}
    for _, attrs in page.tags:
        assert not {"src", "href"} & attrs.keys()
        assert not any(name.startswith("on") for name in attrs)  # no event handlers
    csp = [a for t, a in page.tags if t == "meta" and a.get("http-equiv")]
    assert csp
    assert "default-src 'none'" in (csp[0].get("content") or "")
    text = " ".join(" ".join(page.text).split())
    assert f"Stage: {stage_words(result.stage)}" in text
    assert " ".join(INTENDED_USE.split()) in text
    assert result.ruleset_version in text
    assert context_line(result.patient) in text  # dated and checkable when printed
    for action in result.actions:
        assert code_words(action.code).lower() in text.lower()
        for key in action.sources:
            assert ruleset.sources[key].citation.rstrip(".") in text
    for item in result.missing:
        assert item_label(item.field) in text
    for warning in result.warnings:
        assert warning.message in text


def test_the_title_is_text_never_markup() -> None:
    page = html_report(example("02_"), title='<script>alert("x")</script> & co')
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_report_writes_a_page_from_a_record_or_a_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = EXAMPLES["05_neuromodulation_scs_trial"]
    code, _, err = run(capsys, "report", str(record), "-o", str(tmp_path / "r.html"))
    assert (code, err) == (0, f"HTML report written to {tmp_path / 'r.html'}\n")
    assert "Stage: Spinal cord stimulation" in (tmp_path / "r.html").read_text()
    bundle = FHIR / "05_neuromodulation_scs_trial.bundle.json"
    out = tmp_path / "b.svg"
    code, _, _ = run(capsys, "report", str(bundle), "-o", str(out), "--format", "svg")
    assert code == 0
    assert ET.fromstring(out.read_text()).tag == f"{SVG}svg"


def test_report_refuses_what_makes_no_recommendation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"assessment_date": "2026-10-01", "pain": {"back_nrs": 14}}))
    code, _, err = run(capsys, "report", str(bad), "-o", str(tmp_path / "r.html"))
    assert code == 1
    assert "pain.back_nrs" in err
    assert "14" not in err
    assert not (tmp_path / "r.html").exists()
    outside = {"resourceType": "Bundle", "type": "collection", "entry": []}
    (tmp_path / "empty.json").write_text(json.dumps(outside))
    # Outside the pathway is an answer, as for evaluate: exit 0, the reason said, nothing written.
    code, out, err = run(capsys, "report", str(tmp_path / "empty.json"), "-o", str(tmp_path / "e"))
    assert code == 0
    assert "outside the PSPS type 2 (FBSS) pathway" in out
    assert "no report written" in err
    assert not (tmp_path / "e").exists()


def test_the_demo_writes_one_report_per_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "demo", "--reports", str(tmp_path / "reports"))
    assert code == 0
    written = sorted(p.stem for p in (tmp_path / "reports").glob("*.html"))
    assert written == sorted(EXAMPLES)
    assert f"{len(EXAMPLES)} HTML reports written" in err


def test_the_report_shows_every_option_with_its_verdict_and_basis() -> None:
    result = example("06_")
    page = html_report(result)
    assert "<h2>Options side by side</h2>" in page
    for appraisal in result.options:
        assert f'<div class="option verdict-{appraisal.verdict}">' in page
        assert escape(option_line(appraisal)) in page
    assert result.headline.split(" (")[0] in page
    assert "site" in page  # the PHQ-9 deferral's basis (pathway.md 0)


def test_an_emergency_red_flag_heads_the_page_with_a_banner() -> None:
    page = html_report(example("01_"))
    assert '<p class="banner emergency" id="red-flag">' in page
    assert page.index('id="red-flag"') < page.index('id="stage"')
    assert 'id="red-flag"' not in html_report(example("04_"))


def test_a_title_with_control_characters_never_breaks_the_picture_or_the_page() -> None:
    result = example("04_")
    title = "Patient\x00 A\x07\ttab\nline\ud800 \x9f"
    svg = ET.fromstring(ladder_svg(result, title=title))  # well-formed XML
    assert "Patient A tab line" in words_of(svg)
    page = html_report(result, title=title)
    assert "\x00" not in page
    assert "\x07" not in page
    assert "Patient A tab line" in page


def test_a_step_to_discuss_at_the_mdt_is_marked_in_both_reports() -> None:
    # The cards marked it; the text and HTML reports listed the step bare (an MDT review).
    from fbss_pathway.report.text import format_recommendation

    result = evaluate(
        patched(
            {
                "pain": {"back_nrs": 7},
                "findings": {"facet_pain_suspected": True},
                "treatments": [
                    {
                        "kind": "exercise_therapy",
                        "start_date": "2024-07-01",
                        "duration_weeks": 16,
                        "adherence": "good",
                    },
                    {
                        "kind": "medial_branch_block",
                        "start_date": "2026-08-01",
                        "relief_percent": 60,
                    },
                    {
                        "kind": "medial_branch_block",
                        "start_date": "2026-08-20",
                        "relief_percent": 20,
                    },
                ],
            }
        )
    )
    marked = [a for a in result.actions if a.discuss_at_mdt]
    assert marked, "an option that may be appropriate lists its step to discuss"
    words = code_words(marked[0].code) + " (discuss at the MDT)"
    assert words in " ".join(format_recommendation(result, width=200).split())
    assert escape(words) in html_report(result)


def test_a_same_day_suicide_risk_step_heads_the_page_with_a_banner() -> None:
    # A clinician's review: only red flags had a banner; a positive PHQ-9 item 9 led with
    # other attention boxes (pathway.md 3.4: same day, under any stage).
    page = html_report(example("10_"))
    assert '<p class="banner emergency" id="same-day">' in page
    assert "Same day: suicide risk assessment" in page
    assert page.index('id="same-day"') < page.index('id="stage"')
    assert 'id="same-day"' not in html_report(example("04_"))


def test_a_printed_report_keeps_the_inputs_each_action_read() -> None:
    # pathway.md 12: every action shows the inputs read. A clinician's review: the print
    # style hid them, so the copy filed in the notes could not be checked.
    import re

    page = html_report(evaluate(json.loads(example_paths()[3].read_text())))
    printed = page[page.index("@media print") :]
    printed = printed[: printed.index("</style>")]
    hidden = re.findall(r"([^{}]+)\{\s*display:\s*none;?\s*\}", printed)
    assert not [rule for rule in hidden if re.search(r"\.inputs\s*(,|$)", rule.strip())]
    assert '<div class="inputs">' in page
