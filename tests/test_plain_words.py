"""What a person reads is in clinical words: no codes, record paths, source keys or "not:".

Cards, the HTML report and the terminal text of every example patient (and of
a seeded synthetic cohort) are read as a clinician reads them. Rule ids such
as RFD-17 may appear, as references in brackets; vocabulary codes
(``radiofrequency_denervation``), record paths (``pain.back_nrs``), the rule
files' source keys (``nice_ng59``) and doubled negatives ("not: ...") may not
(pathway.md 11; issue "What the clinician reads").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest

from fbss_pathway import PatientRecord, evaluate, load_ruleset
from fbss_pathway.cds_hooks.cards import cards
from fbss_pathway.cds_hooks.order_card import order_warning_card
from fbss_pathway.cli import example_paths
from fbss_pathway.report import format_recommendation, html_report
from fbss_pathway.steps import Step, check_step
from fbss_pathway.synth import synthetic_cohort
from fbss_pathway.vocabulary import ActionCode, Option, Stage, Verdict

RULES = load_ruleset()
#: Words with an underscore between lower-case letters: a code or a field name.
_SNAKE = re.compile(r"\b[a-z0-9]+(?:_[a-z0-9]+)+\b")
#: A record path: a section and an item ("pain.back_nrs", "red_flags.screened_on").
_PATH = re.compile(r"\b(?:pain|findings|red_flags|psychosocial|examination|scs|medicines)\.[a-z]")
_SOURCE_KEYS = frozenset(RULES.sources)
#: Codes that are also plain English words and may stand in a sentence.
_WORDS = frozenset({"conservative", "radiofrequency", "neuromodulation", "appropriate", "blocked"})


class _Text(HTMLParser):
    """The text a browser shows (style and title contents left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._skip += tag in ("style", "title")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("style", "title")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _page_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(parser.parts)


def _card_text(found: list[dict[str, object]]) -> str:
    return "\n".join(f"{card['summary']}\n{card.get('detail', '')}" for card in found)


def problems(text: str) -> list[str]:
    """Everything in ``text`` a clinician should not have to read."""
    found = [m for m in _SNAKE.findall(text) if m not in _WORDS]
    found += _PATH.findall(text)
    found += [key for key in _SOURCE_KEYS if re.search(rf"\b{re.escape(key)}\b", text)]
    found += re.findall(r"\bnot: ", text)
    return found


def _results() -> Iterator[tuple[str, object]]:
    for path in example_paths():
        record = PatientRecord.model_validate_json(path.read_bytes())
        yield path.stem, evaluate(record, ruleset=RULES)
    for index, record in enumerate(synthetic_cohort(40, seed=23)):
        yield f"synthetic-{index}", evaluate(record, ruleset=RULES)


CASES = list(_results())


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.stem)
def test_the_order_sign_card_is_in_clinical_words(path: object) -> None:
    from pathlib import Path

    assert isinstance(path, Path)
    record = PatientRecord.model_validate_json(path.read_bytes())
    for step in Step:
        check = check_step(record, step, ruleset=RULES)
        if not check.supported:
            card = order_warning_card(check, ruleset=RULES, record=record)
            assert problems(_card_text([card])) == [], (path.stem, step)


@pytest.mark.parametrize(("name", "result"), CASES, ids=[name for name, _ in CASES])
def test_what_a_clinician_reads_is_in_clinical_words(name: str, result: object) -> None:
    from fbss_pathway import Recommendation

    assert isinstance(result, Recommendation)
    readings = {
        "terminal": format_recommendation(result, ruleset=RULES),
        "report": _page_text(html_report(result, ruleset=RULES)),
        "cards": _card_text(cards(result, ruleset=RULES)),
    }
    for output, text in readings.items():
        assert problems(text) == [], (name, output)


def test_the_check_finds_what_it_looks_for() -> None:
    """The same check on text that does everything it forbids: it names each."""
    bad = (
        "next: radiofrequency_denervation; read pain.back_nrs; per nice_ng59; "
        "not: Something defers an SCS trial"
    )
    found = problems(bad)
    assert "radiofrequency_denervation" in found
    assert "pain.b" in found
    assert "nice_ng59" in found
    assert "not: " in found
    assert problems("Radiofrequency denervation (RFD-17): back pain 7/10, needs 5 or more") == []


def test_every_code_a_reader_might_see_has_words() -> None:
    """The vocabulary the outputs name has words for each code (no code falls through)."""
    from fbss_pathway.explain.headline import OPTION_WORDS, VERDICT_WORDS
    from fbss_pathway.explain.summary import stage_words
    from fbss_pathway.explain.words import code_words

    assert set(OPTION_WORDS) == set(Option)
    assert set(VERDICT_WORDS) == set(Verdict)
    for stage in Stage:
        assert "_" not in stage_words(stage)
    for code in ActionCode:
        assert "_" not in code_words(code), code
    assert json.dumps(sorted(OPTION_WORDS.values()))  # plain strings


def test_the_programme_options_next_step_says_what_to_do_not_its_name_again() -> None:
    """The step of the pain management programme is the referral, not the programme again.

    "Pain management programme: appropriate; next: multidisciplinary pain programme"
    named one thing twice (a clinician's read of the reports).
    """
    path = next(p for p in example_paths() if p.stem.startswith("07_"))
    result = evaluate(PatientRecord.model_validate_json(path.read_bytes()), ruleset=RULES)
    text = " ".join(format_recommendation(result, ruleset=RULES).split())
    assert "Pain management programme: appropriate; next: referral to a multidisciplinary" in (text)
    assert "next: multidisciplinary pain programme" not in text


def test_the_ladder_and_reports_name_each_stage_as_the_headline_does() -> None:
    # A clinician's review: "Stage: Specialist review" and "Urgent review (red flag)" on
    # the ladder beside "Pathway options exhausted: MDT re-evaluation" and "Emergency" in
    # the headline (pathway.md 11: not "specialist review" as an escalation).
    from fbss_pathway.explain.headline import STAGE_WORDS
    from fbss_pathway.explain.summary import stage_words

    assert {stage: stage_words(stage) for stage in Stage} == STAGE_WORDS
    exhausted = next(p for p in example_paths() if p.name.startswith("07_"))
    result = evaluate(PatientRecord.model_validate_json(exhausted.read_bytes()), ruleset=RULES)
    for text in (
        format_recommendation(result, ruleset=RULES),
        _page_text(html_report(result, ruleset=RULES)),
    ):
        assert "Specialist review" not in text
        assert "Pathway options exhausted: MDT re-evaluation" in text
