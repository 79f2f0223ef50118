"""Rule files can never hang or crash the loader: limits are checked before the engine sees them.

Loads run in a child process with a time limit, so that a regression that makes
durable_rules spin (holding the GIL) or abort is caught as a failure, not a hung
or killed test run.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fbss_pathway import RuleSetError, evaluate, load_ruleset, ruleset
from fbss_pathway.cli import example_paths
from fbss_pathway.ruleset import default_rules_path

SOURCE = 'sources = ["nice_ng59"]\nreason = "r"\n'
LOADER = textwrap.dedent(
    """
    import json, sys, time
    from fbss_pathway import load_ruleset, RuleSetError
    for path in sys.argv[1:]:
        started = time.perf_counter()
        try:
            load_ruleset(path)
            outcome, message = "loaded", ""
        except RuleSetError as error:
            outcome, message = "refused", str(error)
        except BaseException as error:
            outcome, message = "raised", type(error).__name__
        print(json.dumps({"path": path, "outcome": outcome, "message": message,
                          "seconds": time.perf_counter() - started}), flush=True)
    """
)


def _load_in_child(paths: list[Path], timeout: float) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, "-c", LOADER, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"the loader died ({result.returncode}): {result.stderr[-500:]}"
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outcomes) == len(paths)
    return outcomes


def _rule(rule_id: str, when: str, conclusion: str = 'warning = "w"') -> str:
    return f'[[rule]]\nid = "{rule_id}"\ntitle = "t"\n{when}\n{conclusion}\n{SOURCE}'


def _ids(count: int) -> list[str]:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return [f"Z{letters[n // 2600]}{letters[(n // 100) % 26]}-{n % 100:02d}" for n in range(count)]


def _chain(length: int) -> str:
    ids = _ids(length + 1)
    rules = [_rule(ids[0], 'when = { fact = "back_nrs", op = ">=", value = 5 }', 'derive = "c0"')]
    rules += [
        _rule(ids[n], f'when = {{ derived = "c{n - 1}", is = true }}', f'derive = "c{n}"')
        for n in range(1, length)
    ]
    rules.append(_rule(ids[length], f'when = {{ derived = "c{length - 1}", is = true }}'))
    return "\n".join(rules)


def _any_of(count: int) -> str:
    items = ", ".join(f'{{ fact = "back_nrs", op = ">=", value = {n} }}' for n in range(count))
    return _rule("ZZZ-01", f"when.any = [{items}]")


def _groups_over_derived(count: int) -> str:
    derive = [
        _rule("ZZA-01", 'when = { fact = "back_nrs", op = ">=", value = 5 }', 'derive = "da"'),
        _rule("ZZA-02", 'when = { fact = "leg_nrs", op = ">=", value = 5 }', 'derive = "db"'),
    ]
    group = '{ any = [ { derived = "da", is = true }, { derived = "db", is = true } ] }'
    return "\n".join([*derive, _rule("ZZA-03", f"when.all = [{', '.join([group] * count)}]")])


def _nested(depth: int) -> str:
    condition = '{ fact = "back_nrs", op = ">=", value = 5 }'
    for _ in range(depth):
        condition = f"{{ all = [{condition}] }}"
    return _rule("ZZN-01", f"when = {condition}")


def _many_files(count: int, per_file: int) -> Callable[[Path], None]:
    def change(rules: Path) -> None:
        ids = _ids(count)
        for start in range(0, count, per_file):
            text = "\n".join(
                _rule(rule_id, 'when = { fact = "back_nrs", op = ">=", value = 5 }')
                for rule_id in ids[start : start + per_file]
            )
            (rules / f"zz_many_{start:05d}.toml").write_text(text)

    return change


def _parameter(value: str) -> Callable[[Path], None]:
    def change(rules: Path) -> None:
        text = (rules / "parameters.toml").read_text()
        start = text.index("value =", text.index("[pain_threshold_nrs]"))
        end = text.index("\n", start)
        (rules / "parameters.toml").write_text(f"{text[:start]}value = {value}{text[end:]}")

    return change


def _extra(text: str | bytes) -> Callable[[Path], None]:
    def change(rules: Path) -> None:
        target = rules / "zz_extra.toml"
        target.write_bytes(text if isinstance(text, bytes) else text.encode())

    return change


CASES: dict[str, tuple[Callable[[Path], None], str | None]] = {
    "any-of-449": (_extra(_any_of(449)), "holds more than 32 conditions"),
    "any-of-33": (_extra(_any_of(33)), "holds more than 32 conditions"),
    "any-of-32": (_extra(_any_of(32)), None),
    "chain-of-500": (_extra(_chain(500)), "rests on a chain of 33 derived facts"),
    "chain-of-32": (_extra(_chain(32)), None),
    "16-groups-over-derived": (_extra(_groups_over_derived(16)), "more than 32 combinations"),
    "5-groups-over-derived": (_extra(_groups_over_derived(5)), None),
    "nested-150": (_extra(_nested(150)), "nested more than 8 deep"),
    "10000-rules": (_many_files(10_000, 1_000), "at most 1000"),
    "a-file-over-1-mib": (_extra("# padding\n" * 120_000), "larger than 1024 KiB"),
    "parameter-1e-05": (_parameter("1e-05"), "plain decimal"),
    "parameter-1e16": (_parameter("1e16"), "at most"),
    "parameter-inf": (_parameter("inf"), "finite"),
    "parameter-nan": (_parameter("nan"), "finite"),
    "value-nan": (
        _extra(_rule("ZZV-01", 'when = { fact = "back_nrs", op = ">=", value = nan }')),
        "finite",
    ),
    "list-as-derived-name": (
        _extra(_rule("ZZL-01", 'when = { derived = ["x"], is = true }')),
        "must be the name of a derived fact",
    ),
    "list-as-parameter": (
        _extra(_rule("ZZL-02", 'when = { fact = "back_nrs", op = ">=", param = ["x"] }')),
        "unknown parameter",
    ),
    "list-as-other-fact": (
        _extra(_rule("ZZL-03", 'when = { fact = "back_nrs", op = ">=", than_fact = ["x"] }')),
        "is not a number fact",
    ),
    "list-as-derive": (
        _extra(_rule("ZZL-04", "always = true", 'derive = ["x"]')),
        "derived fact name",
    ),
    "not-utf8": (_extra(b'# \xff\xfe\n[[rule]]\nid = "ZZU-01"\n'), "not UTF-8"),
    "deep-toml": (_extra("x = " + "[" * 5000 + "]" * 5000 + "\n"), "zz_extra.toml"),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("rule-limits")
    paths = []
    for name, (change, _) in CASES.items():
        rules = root / name
        shutil.copytree(default_rules_path(), rules)
        change(rules)
        paths.append(rules)
    return {Path(o["path"]).name: o for o in _load_in_child(paths, timeout=240)}


@pytest.mark.parametrize("case", CASES)
def test_a_rule_set_beyond_the_limits_is_refused_quickly(
    outcomes: dict[str, dict[str, Any]], case: str
) -> None:
    expected = CASES[case][1]
    outcome = outcomes[case]
    assert outcome["seconds"] < 10
    if expected is None:
        assert outcome["outcome"] == "loaded", outcome["message"]
    else:
        assert outcome["outcome"] == "refused"
        assert expected in outcome["message"]


def test_one_toml_syntax_error_is_one_problem(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_path(), rules)
    broken = rules / "conservative.toml"
    broken.write_text(broken.read_text().replace('id = "CON-03"', 'id = "CON-03', 1))
    with pytest.raises(RuleSetError) as caught:
        load_ruleset(rules)
    assert len(caught.value.issues) == 1
    assert caught.value.issues[0].file == "conservative.toml"


def test_the_rule_set_cache_is_bounded_and_a_held_rule_set_keeps_working(
    tmp_path: Path,
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_path(), rules)
    first = load_ruleset(rules)
    for edit in range(ruleset.CACHE_SIZE + 4):
        (rules / "sources.toml").write_text((rules / "sources.toml").read_text() + f"# {edit}\n")
        load_ruleset(rules)
    assert len(ruleset._CACHE) <= ruleset.CACHE_SIZE
    assert first.version not in ruleset._CACHE
    record = example_paths()[3].read_bytes()
    assert evaluate(json.loads(record), ruleset=first).stage == "radiofrequency"


# --- Fuzz: generated rule directories ------------------------------------------------------

_WILD_VALUES = [
    "nan",
    "inf",
    "-inf",
    "1e-05",
    "1e16",
    "1.5e-07",
    "0",
    "-1",
    "1e300",
    '"x"',
    "true",
    "[]",
    "{}",
    '["back_nrs"]',
    '{ fact = "back_nrs" }',
    "99999999999999999999",
    '"\\u0000"',
]


def _mutate(text: str, rng: random.Random) -> str:
    """One random edit of a rule file: a value replaced, a line dropped, duplicated or nested."""
    lines = text.splitlines()
    for _ in range(rng.randint(1, 4)):
        index = rng.randrange(len(lines))
        line = lines[index]
        choice = rng.random()
        if choice < 0.5 and "=" in line:
            key = line.split("=", 1)[0]
            lines[index] = f"{key}= {rng.choice(_WILD_VALUES)}"
        elif choice < 0.65:
            del lines[index]
        elif choice < 0.8:
            lines.insert(index, line)
        elif choice < 0.9 and "when" in line and "=" in line:
            key, value = line.split("=", 1)
            nested = value.strip()
            for _ in range(rng.randint(1, 12)):
                nested = f"{{ {rng.choice(['all', 'any'])} = [{nested}] }}"
            lines[index] = f"{key}= {nested}"
        else:
            lines.insert(index, line[: rng.randrange(len(line) + 1)])
    return "\n".join(lines) + "\n"


def test_generated_rule_directories_load_or_are_refused_never_hang_or_crash(
    tmp_path: Path,
) -> None:
    rng = random.Random(20261122)
    files = sorted(default_rules_path().glob("*.toml"))
    paths = []
    for number in range(120):
        rules = tmp_path / f"fuzz-{number:03d}"
        shutil.copytree(default_rules_path(), rules)
        for target in rng.sample(files, rng.randint(1, 3)):
            (rules / target.name).write_text(_mutate(target.read_text(), rng))
        paths.append(rules)
    outcomes = _load_in_child(paths, timeout=300)
    assert {o["outcome"] for o in outcomes} <= {"loaded", "refused"}, [
        o for o in outcomes if o["outcome"] == "raised"
    ]
    assert max(o["seconds"] for o in outcomes) < 10
    assert any(o["outcome"] == "refused" for o in outcomes)
