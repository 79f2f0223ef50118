"""Rule files and records an attacker writes: refused with the library's errors, never raw ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from fbss_pathway import RuleSetError, evaluate, load_ruleset
from fbss_pathway.ruleset import default_rules_path

from .helpers import base_record


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(default_rules_path(), target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"test fixture out of date: {old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _issues(directory: Path) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        load_ruleset(directory)
    return [str(issue) for issue in caught.value.issues]


def test_an_integer_of_thousands_of_digits_is_a_rule_set_error(rules_copy: Path) -> None:
    with (rules_copy / "parameters.toml").open("a", encoding="utf-8") as handle:
        handle.write(f"\n[huge]\nvalue = {'9' * 5000}\n")
    issues = _issues(rules_copy)
    assert any("parameters.toml" in issue and "too large" in issue for issue in issues), issues


@pytest.mark.parametrize(
    "rule_id",
    [
        "RED-\uff10\uff11",  # fullwidth digits: \d matches them
        "RED-\u0661\u0662",  # Arabic-Indic digits
        "RED-01\\n",  # a trailing newline: $ matches before it
        "ÄBC-01",
    ],
)
def test_a_rule_id_is_ascii_capitals_dash_two_digits_and_nothing_more(
    rules_copy: Path, rule_id: str
) -> None:
    _edit(rules_copy / "red_flags.toml", 'id = "RED-01"', f'id = "{rule_id}"')
    issues = _issues(rules_copy)
    assert any("a rule id looks like ABC-01" in issue for issue in issues), issues


def test_a_parameter_name_with_a_trailing_newline_is_refused(rules_copy: Path) -> None:
    with (rules_copy / "parameters.toml").open("a", encoding="utf-8") as handle:
        handle.write(
            '\n["extra_months\\n"]\nvalue = 3\nunit = "months"\ndescription = "x"\n'
            'sources = ["nice_ng59"]\nbasis = "guideline"\n'
        )
    issues = _issues(rules_copy)
    assert any("parameter name must be snake_case" in issue for issue in issues), issues


def test_a_rule_file_linked_from_outside_the_directory_is_refused(
    rules_copy: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (rules_copy / "red_flags.toml").rename(outside / "red_flags.toml")
    (rules_copy / "red_flags.toml").symlink_to(outside / "red_flags.toml")
    issues = _issues(rules_copy)
    assert any("red_flags.toml" in issue and "outside" in issue for issue in issues), issues


def test_a_parameters_file_linked_from_outside_the_directory_is_refused(
    rules_copy: Path, tmp_path: Path
) -> None:
    (rules_copy / "parameters.toml").rename(tmp_path / "parameters.toml")
    (rules_copy / "parameters.toml").symlink_to(tmp_path / "parameters.toml")
    issues = _issues(rules_copy)
    assert any("parameters.toml" in issue and "outside" in issue for issue in issues), issues


def test_a_link_inside_the_directory_and_a_linked_directory_still_load(
    rules_copy: Path, tmp_path: Path
) -> None:
    (rules_copy / "red_flags.toml").rename(rules_copy / "red_flags.txt")
    (rules_copy / "red_flags.toml").symlink_to("red_flags.txt")
    (tmp_path / "linked").symlink_to(rules_copy)
    assert load_ruleset(tmp_path / "linked").rules


def _nested(depth: int, value: object = 0) -> object:
    for _ in range(depth):
        value = [value]
    return value


def _depth(value: object) -> int:
    depth = 0
    while isinstance(value, list | dict):
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
        depth += 1
    return depth


# Where pydantic's repr of the value runs out of recursion depends on the interpreter: a
# thousand deep on CPython 3.11, further on 3.13 and 3.14 (where a thousand deep is the
# field's own error); a hundred thousand deep runs out on all of them.
@pytest.mark.parametrize("path", ["surgical_opinion", "operations.0.kind", "treatments.0.kind"])
@pytest.mark.parametrize(
    "deep",
    [_nested(1000), {"a": _nested(1000)}, _nested(100_000), {"a": _nested(100_000)}],
    ids=["list-1000", "dict-1000", "list-100000", "dict-100000"],
)
def test_a_value_nested_a_thousand_deep_is_a_validation_error(path: str, deep: object) -> None:
    record = base_record()
    record.setdefault("operations", [{"kind": "discectomy", "date": "2020-01-01"}])
    record.setdefault("treatments", [{"kind": "physiotherapy"}])
    holder: object = record
    *parents, last = path.split(".")
    for part in parents:
        holder = holder[int(part)] if isinstance(holder, list) else holder[part]  # type: ignore[index]
    if isinstance(holder, list):
        holder[int(last)] = deep
    else:
        assert isinstance(holder, dict)
        holder[last] = deep
    with pytest.raises(ValidationError) as caught:
        evaluate(record)
    message = str(caught.value)
    assert "[[[" not in message  # no value echoed
    if "nested too deeply" not in message:  # the interpreter's recursion held: the field's error
        assert _depth(deep) < 100_000, message
        assert f"{path}\n" in message, message


@pytest.mark.parametrize("processes", [1, 2])
def test_a_batch_record_nested_a_thousand_deep_is_that_records_error(processes: int) -> None:
    from fbss_pathway import evaluate_many

    record = base_record()
    record["surgical_opinion"] = _nested(1000)
    results = list(evaluate_many([record, base_record()], processes=processes))
    assert results[0].error is not None
    assert results[0].error.kind == "invalid_record"
    assert results[1].ok
