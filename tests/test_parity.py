"""Parity: one integrator chart, one decision, whichever way it reaches the pathway.

Each case of ``tests/integrator/`` (see its README) is a FHIR chart written as a
US EHR integrator would, from the documentation, in one of three styles (codes
only; the assessment form only; both, with billed sessions and problem-list
leftovers), and the ``PatientRecord`` it means. For one assessment day (60 days
ago, so the record accepts it) the decision (stage, action codes in order,
warning rule ids, and every option's verdict and next step) must be the same:

1. evaluating the record;
2. reading the chart (``read_bundle(..., assessment_date=day)``);
3. through the CDS Hooks service under uvicorn, the client prefetching what
   discovery asks for (``create_app(today=lambda: day)``);
4. through the service fetching everything from a real FHIR server (fhirsnake
   serving every case's resources, answering each search with all patients'
   resources, so the patient guard is exercised);
5. through ``screen_export`` of a Bulk Data export of the same resources
   (NDJSON per type and a manifest whose ``transactionTime`` is the day); its
   rows carry the stage, actions, warnings and every option's verdict (not the
   next steps).

Servers start once per module. These are the guard that later clinical changes
do not break the FHIR paths: keep them passing.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx2
import pyarrow.parquet as pq
import pytest

from fbss_pathway import PatientRecord, Recommendation, evaluate
from fbss_pathway.cds_hooks import cards
from fbss_pathway.cds_hooks.hooks import SERVICE_ID
from fbss_pathway.cds_hooks.service import create_app
from fbss_pathway.cli import example_paths
from fbss_pathway.explain.headline import OPTION_WORDS, STAGE_WORDS, VERDICT_WORDS
from fbss_pathway.explain.words import code_words, in_sentence
from fbss_pathway.fhir import read_bundle
from fbss_pathway.population import screen_export
from fbss_pathway.vocabulary import ActionCode, Option, Stage, Verdict

from .integrator_paths import CASES, INTEGRATOR, assessment_day, chart, record
from .servers import LoopbackServer, fhirsnake, free_port

#: The one assessment day of every path, fixed for the whole module.
DAY: date = assessment_day()
#: What each case was written to show (its style and decision), for the first test.
WRITTEN: dict[str, dict[str, Any]] = json.loads((INTEGRATOR / "cases.json").read_text())


@dataclass(frozen=True)
class Verdicted:
    """One option as the paths must agree on it."""

    option: str
    verdict: str
    next_step: str | None
    counts_for_stage: bool


@dataclass(frozen=True)
class Decision:
    """What the paths must agree on."""

    stage: str
    actions: tuple[str, ...]
    warnings: tuple[str, ...]
    options: tuple[Verdicted, ...]

    def verdicts(self) -> dict[str, str]:
        return {o.option: o.verdict for o in self.options}


def decision_of(recommendation: Recommendation) -> Decision:
    return Decision(
        stage=recommendation.stage.value,
        actions=tuple(code.value for code in recommendation.action_codes()),
        warnings=tuple(warning.rule_id for warning in recommendation.warnings),
        options=tuple(
            Verdicted(
                option=o.option.value,
                verdict=o.verdict.value,
                next_step=None if o.next_step is None else o.next_step.value,
                counts_for_stage=o.counts_for_stage,
            )
            for o in recommendation.options
        ),
    )


def _patient_id(name: str) -> str:
    return next(
        str(entry["resource"]["id"])
        for entry in chart(name, DAY)["entry"]
        if entry["resource"]["resourceType"] == "Patient"
    )


def _resources() -> Iterator[dict[str, Any]]:
    """Every resource of every case, dated for the day."""
    for name in CASES:
        for entry in chart(name, DAY)["entry"]:
            yield entry["resource"]


@pytest.fixture(scope="module")
def expected() -> dict[str, Decision]:
    """Path 1, the reference: each case's record, evaluated."""
    return {name: decision_of(evaluate(record(name, DAY))) for name in CASES}


def test_the_cases_are_the_integrator_set() -> None:
    assert set(WRITTEN) == set(CASES)
    styles = {case["style"] for case in WRITTEN.values()}
    assert styles == {"codes", "form", "both"}
    assert len(CASES) >= 12


@pytest.mark.parametrize("name", CASES)
def test_each_record_is_the_decision_it_was_written_for(
    name: str, expected: dict[str, Decision]
) -> None:
    written = WRITTEN[name]
    assert expected[name].stage == written["stage"]
    assert expected[name].actions[0] == written["first_action"]
    assert expected[name].warnings == tuple(written["warnings"])
    assert expected[name].verdicts() == written["verdicts"]


# --- 2. read_bundle ------------------------------------------------------------------


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    """A record's JSON with its lists in date order (the order of lists never matters)."""
    data = dict(data)
    data["operations"] = sorted(data["operations"], key=lambda o: (o["date"], o["kind"]))
    data["treatments"] = sorted(
        data["treatments"], key=lambda t: (t["kind"], t["start_date"] or "")
    )
    return data


@pytest.mark.parametrize("name", CASES)
def test_the_reader_reads_each_chart_as_its_record(name: str) -> None:
    """Not a decision but its cause: when a path below disagrees, this says which item."""
    reading = read_bundle(chart(name, DAY), assessment_date=DAY)
    assert reading.record is not None, reading.not_applicable
    mine = PatientRecord.model_validate(record(name, DAY)).model_dump(mode="json")
    assert _plain(reading.record.model_dump(mode="json")) == _plain(mine)
    assert not reading.conflicts


@pytest.mark.parametrize("name", CASES)
def test_the_reader_decides_as_the_record(name: str, expected: dict[str, Decision]) -> None:
    reading = read_bundle(chart(name, DAY), assessment_date=DAY)
    recommendation = reading.evaluate()
    assert recommendation is not None, reading.not_applicable
    assert decision_of(recommendation) == expected[name], (reading.conflicts, reading.ignored)


# --- 3 and 4. the CDS Hooks service --------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """What the cards show of a decision, by card (docs/cds-hooks.md, "Cards").

    Cards carry no machine-readable stage, verdicts or action codes (only
    ``source.topic``, the first rule of each card), so the decision is read from
    the card text, in the words ``fbss_pathway.explain`` gives each code:

    * the stage card: the headline (its first line in bold; the summary
      "PSPS type 2 (FBSS): <headline>" drops the headline's parenthesised part, what
      holds the stage, when over 140 characters, and is cut short if still too
      long), which names the stage (or the red-flag tier) and the next step (its
      acronyms kept: "next: SCS trial"), the first action; its "**Options:**"
      list, every option's verdict and, unless not appropriate, its next step;
      its "**With every stage:**" list, the standing actions;
    * the "Now: ..." card: the safety actions, one bold heading each;
    * one card per option worth acting on, its verdict and next step in the summary;
    * "Needs attention: ...": what treats or unblocks a held option (depression or
      anxiety to treat, an opioid to review, psychological concerns, addiction
      services, the periprocedural antithrombotic plan), one bold heading each;
    * the cautions card: the warnings' rule ids (each a line ending with its rule id),
      then the cautions (a bold heading each).

    The cards group the actions: their order is compared within each card, and the
    standing actions (grouped by rule) as a sorted list.
    """

    stage: str
    next_step: str
    options: tuple[tuple[str, str, str | None], ...]
    option_cards: tuple[tuple[str, str, str | None], ...]
    now: tuple[str, ...]
    attention: tuple[str, ...]
    cautions: tuple[str, ...]
    standing: tuple[str, ...]
    warnings: tuple[str, ...]


_ACTION_WORDS = {code_words(code): code.value for code in ActionCode}
#: A next step inside a sentence keeps its acronyms ("next: SCS trial", "next: exercise therapy").
_NEXT_WORDS = {in_sentence(code_words(code)): code.value for code in ActionCode}
_OPTION_OF_WORDS = {words: option.value for option, words in OPTION_WORDS.items()}
_VERDICT_OF_WORDS = {words: verdict.value for verdict, words in VERDICT_WORDS.items()}
#: The cards' groups (docs/cds-hooks.md): safety actions lead ("Now: ..."), an
#: option's steps go with its card, what treats or unblocks a held option needs
#: attention (depression or anxiety to treat, an opioid to review, psychological
#: concerns to address, addiction services, the periprocedural antithrombotic plan),
#: the caution before another operation goes with the warnings; exercise therapy
#: stands with every stage.
_ATTENTION = {
    code.value
    for code in (
        ActionCode.TREAT_DEPRESSION_ANXIETY,
        ActionCode.OPIOID_REVIEW,
        ActionCode.ADDRESS_PSYCHOLOGICAL_CONCERNS,
        ActionCode.ADDICTION_SERVICES_REFERRAL,
        ActionCode.PERIPROCEDURAL_ANTITHROMBOTIC_PLAN,
    )
}
_CAUTIONS = {ActionCode.REOPERATION_CAUTION.value}
_SAFETY = {code.value for code in ActionCode if code.safety}
_OPTION_STEPS = {code.value for code in ActionCode if code.option is not None} - {
    ActionCode.EXERCISE_THERAPY.value
}
_RULE_AT_END = re.compile(r"\(([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)\)$")
_HEADING = re.compile(r"^\*\*(.+?)\*\* \(([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+)\)$", re.M)


def _shown_next(verdicted: Verdicted) -> str | None:
    """The next step a card shows beside a verdict (none beside "not appropriate")."""
    return None if verdicted.verdict == Verdict.NOT_APPROPRIATE else verdicted.next_step


def _worth_a_card(verdicted: Verdicted) -> bool:
    """The options the cards give a card of their own (docs/cds-hooks.md)."""
    option = Option(verdicted.option)
    if option is Option.CONSERVATIVE_CARE:
        return False
    if verdicted.verdict in (Verdict.APPROPRIATE, Verdict.MAY_BE_APPROPRIATE):
        return True
    if verdicted.verdict == Verdict.IN_PLACE:
        return verdicted.next_step is not None or option.rung is not None
    return verdicted.counts_for_stage


def shown_of(decision: Decision) -> Shown:
    """What the cards should show of a decision."""
    actions = decision.actions
    urgent = decision.stage == Stage.URGENT_REVIEW
    grouped = _SAFETY | _ATTENTION | _CAUTIONS | _OPTION_STEPS
    return Shown(
        stage=decision.stage,
        next_step=actions[0],
        options=tuple((o.option, o.verdict, _shown_next(o)) for o in decision.options),
        option_cards=()
        if urgent
        else tuple(
            (o.option, o.verdict, _shown_next(o)) for o in decision.options if _worth_a_card(o)
        ),
        now=tuple(a for a in actions if a in _SAFETY),
        attention=tuple(a for a in actions if a in _ATTENTION),
        cautions=tuple(a for a in actions if a in _CAUTIONS),
        standing=tuple(sorted(a for a in actions if a not in grouped)),
        warnings=decision.warnings,
    )


def _named(text: str) -> tuple[str, ...]:
    return tuple(_ACTION_WORDS.get(words.strip(), f"?{words.strip()}") for words in text.split(","))


def _verdicted(text: str) -> tuple[str, str, str | None]:
    """An option as a card writes it, "<option>: <verdict>[; next: <step>]", as codes."""
    option_words = next((w for w in _OPTION_OF_WORDS if text.startswith(f"{w}: ")), None)
    if option_words is None:
        return (f"?{text}", "", None)
    verdict_words, _, step_words = text.removeprefix(f"{option_words}: ").partition("; next: ")
    return (
        _OPTION_OF_WORDS[option_words],
        _VERDICT_OF_WORDS.get(verdict_words, f"?{verdict_words}"),
        _NEXT_WORDS.get(step_words, f"?{step_words}") if step_words else None,
    )


def _stage_of_headline(headline: str) -> str:
    """The stage a headline names: a red-flag tier, or the stage's words."""
    if headline.startswith(("Emergency: ", "Urgent: ")):
        return Stage.URGENT_REVIEW.value
    named = [*STAGE_WORDS.items()]
    # A rung placed by one option alone is named by that option (docs/cds-hooks.md).
    named += [(o.rung, OPTION_WORDS[o].split(" (")[0]) for o in Option if o.rung is not None]
    for stage, words in sorted(named, key=lambda item: -len(item[1])):
        if headline == words or headline.startswith((f"{words};", f"{words}:")):
            return stage.value
    return f"?{headline}"


def _summary_of(headline: str, summary: str) -> bool:
    """Whether a stage card's summary is its headline, as far as 140 characters allow.

    The whole headline; or, when that is too long, the headline without its
    parenthesised parts (what holds the stage), keeping the next step; or, when that
    is still too long, the headline cut short with "…".
    """
    plain = re.sub(r" \([^)]*\)", "", headline)
    if summary.endswith("…"):
        return headline.startswith(summary[:-1]) or plain.startswith(summary[:-1])
    return summary in (headline, plain)


def _list_after(lines: list[str], heading: str) -> list[str]:
    """The "- " items under a bold heading of a card's detail."""
    if heading not in lines:
        return []
    items: list[str] = []
    for line in lines[lines.index(heading) + 1 :]:
        if not line and not items:
            continue
        if not line.startswith("- "):
            break
        items.append(line.removeprefix("- "))
    return items


def shown_in(cards: list[dict[str, Any]]) -> Shown:
    """Read the decision back from the service's cards."""
    assert cards, "no cards: the service found the patient outside the pathway"
    stage_card, *others = cards
    lines = stage_card.get("detail", "").splitlines()
    headline = lines[0].removeprefix("**").removesuffix("**")
    summary = stage_card["summary"]
    assert summary.startswith("PSPS type 2 (FBSS): "), summary
    assert _summary_of(headline, summary.removeprefix("PSPS type 2 (FBSS): ")), (summary, headline)
    if headline.startswith("Same day: "):  # the same-day step leads: "Same day: X; <stage>"
        next_words, _, stage_words = headline.removeprefix("Same day: ").partition("; ")
    else:
        stage_words, _, next_words = headline.rpartition("; next: ")
    options = tuple(_verdicted(item) for item in _list_after(lines, "**Options:**"))
    standing: list[str] = []
    for item in _list_after(lines, "**With every stage:**"):
        standing += _named(item.split(": ", 1)[0])
    now: tuple[str, ...] = ()
    attention: tuple[str, ...] = ()
    option_cards: list[tuple[str, str, str | None]] = []
    cautions: list[str] = []
    warnings: list[str] = []
    for card in others:
        text = card["summary"]
        detail = card.get("detail", "")
        if text.startswith("Now: "):
            now = tuple(
                _ACTION_WORDS.get(words, f"?{words}") for words, _ in _HEADING.findall(detail)
            )
        elif text.startswith("Needs attention: "):  # the summary may be cut short
            attention = tuple(
                _ACTION_WORDS.get(words, f"?{words}") for words, _ in _HEADING.findall(detail)
            )
        elif text.startswith(tuple(f"{words}: " for words in _OPTION_OF_WORDS)):
            option_cards.append(_verdicted(text))
        else:  # the cautions card: warnings first (one line each), then the cautions
            for line in detail.splitlines():
                if not line.startswith("- "):
                    break
                found = _RULE_AT_END.search(line)
                warnings.append(found[1] if found else f"?{line}")
            cautions += [
                _ACTION_WORDS[words]
                for words, _ in _HEADING.findall(detail)
                if words in _ACTION_WORDS
            ]
    return Shown(
        stage=_stage_of_headline(stage_words),
        next_step=_NEXT_WORDS.get(next_words, f"?{next_words}"),
        options=options,
        option_cards=tuple(option_cards),
        now=now,
        attention=attention,
        cautions=tuple(cautions),
        standing=tuple(sorted(standing)),
        warnings=tuple(warnings),
    )


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.stem)
def test_the_card_reader_reads_each_example_as_its_decision(path: Path) -> None:
    """The reader of the cards, on the examples (every safety action, cautions, warnings)."""
    record_ = PatientRecord.model_validate_json(path.read_bytes())
    recommendation = evaluate(record_)
    assert shown_in(cards(recommendation, record=record_)) == shown_of(decision_of(recommendation))


@pytest.fixture(scope="module")
def service() -> Iterator[LoopbackServer]:
    """The service under uvicorn on loopback (no authentication), assessing as of the day."""
    with LoopbackServer(create_app(today=lambda: DAY), free_port()) as server:
        yield server


@pytest.fixture(scope="module")
def fhir_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The FHIR server (fhirsnake) with every case's resources; a search answers all of a type."""
    with fhirsnake(_resources(), tmp_path_factory.mktemp("integrator-fhir")) as base:
        yield base


@pytest.fixture(scope="module")
def discovery(service: LoopbackServer) -> dict[str, str]:
    """The prefetch templates the service asks for, as an EHR reads them from discovery."""
    answer = httpx2.get(f"{service.base}/cds-services", timeout=30)
    assert answer.status_code == 200, answer.text
    found = next(s for s in answer.json()["services"] if s["id"] == SERVICE_ID)
    prefetch: dict[str, str] = found["prefetch"]
    return prefetch


def prefetch_for(name: str, templates: dict[str, str]) -> dict[str, Any]:
    """What an EHR prefetches from the chart for discovery's templates.

    ``Patient/{{context.patientId}}`` is the Patient itself; ``<Type>?patient=...``
    a searchset of the chart's resources of that type (null when it has none),
    as ``prefetch_from_bundle`` builds it: resources the service did not ask
    for (Encounters, Claims) are not sent.
    """
    entries = chart(name, DAY)["entry"]
    prefetch: dict[str, Any] = {}
    for key, template in templates.items():
        kind = template.split("?")[0].split("/")[0]
        found = [e for e in entries if e["resource"]["resourceType"] == kind]
        if "?" not in template:
            prefetch[key] = found[0]["resource"] if found else None
        else:
            prefetch[key] = (
                {"resourceType": "Bundle", "type": "searchset", "total": len(found), "entry": found}
                if found
                else None
            )
    return prefetch


def _hook(service: LoopbackServer, name: str, **call: Any) -> list[dict[str, Any]]:
    body = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/example", "patientId": _patient_id(name)},
        **call,
    }
    answer = httpx2.post(f"{service.base}/cds-services/{SERVICE_ID}", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    cards: list[dict[str, Any]] = answer.json()["cards"]
    return cards


@pytest.mark.parametrize("name", CASES)
def test_the_service_with_prefetch_decides_as_the_record(
    name: str, expected: dict[str, Decision], service: LoopbackServer, discovery: dict[str, str]
) -> None:
    cards = _hook(service, name, prefetch=prefetch_for(name, discovery))
    assert shown_in(cards) == shown_of(expected[name])


@pytest.mark.parametrize("name", CASES)
def test_the_service_fetching_from_the_fhir_server_decides_as_the_record(
    name: str, expected: dict[str, Decision], service: LoopbackServer, fhir_server: str
) -> None:
    cards = _hook(
        service,
        name,
        fhirServer=fhir_server,
        fhirAuthorization={"access_token": "t0ken", "token_type": "Bearer", "scope": "x"},
    )
    assert shown_in(cards) == shown_of(expected[name])


# --- 5. screen of a Bulk Data export -------------------------------------------------


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The Parquet rows of a screen of every case's resources, by patient id."""
    root = tmp_path_factory.mktemp("integrator-bulk")
    export = root / "export"
    export.mkdir()
    by_type: dict[str, list[str]] = {}
    for resource in _resources():
        by_type.setdefault(resource["resourceType"], []).append(json.dumps(resource))
    output = []
    for kind, lines in sorted(by_type.items()):
        (export / f"{kind}.ndjson").write_text("\n".join(lines) + "\n")
        url = f"https://ehr.example.org/bulk/5f1c/{kind}.ndjson"
        output.append({"type": kind, "url": url, "count": len(lines)})
    manifest = {
        "transactionTime": f"{DAY.isoformat()}T21:40:12.345Z",
        "request": "https://ehr.example.org/fhir/Group/spine-clinic/$export",
        "requiresAccessToken": True,
        "output": output,
        "error": [],
    }
    (export / "manifest.json").write_text(json.dumps(manifest))
    logging.getLogger("distributed").setLevel(logging.ERROR)
    summary = screen_export(export, root / "screen", workers=1, progress=False)
    assert summary.read == len(CASES)
    rows: dict[str, dict[str, Any]] = {}
    for part in sorted((root / "screen" / "patients").glob("part-*.parquet")):
        for row in pq.read_table(part).to_pylist():
            rows[row["patient_id"]] = row
    return rows


@pytest.mark.parametrize("name", CASES)
def test_the_screen_of_a_bulk_export_decides_as_the_record(
    name: str, expected: dict[str, Decision], screened: dict[str, dict[str, Any]]
) -> None:
    row = screened[_patient_id(name)]
    assert row["outcome"] == "evaluated", row["detail"]
    shown = (row["stage"], tuple(row["actions"]), tuple(row["warnings"]), row["verdicts"])
    decision = expected[name]
    assert shown == (decision.stage, decision.actions, decision.warnings, decision.verdicts())
