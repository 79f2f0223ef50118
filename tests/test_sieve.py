"""The split's block-at-a-time test of which lines may be a candidate's (issue 25).

:class:`~fbss_pathway.population.sieve.Sieve` must give, for every line, the
answer of the per-line test :func:`~fbss_pathway.population.sieve.may_be_kept`
(the test the split made a line at a time before), with the same line numbers,
however the lines fall into blocks: every count of a screen's summary rests on
it. The property test compares the two on files of odd lines cut into blocks of
any size; the examples pin each edge the block scan has, with the split's
counts where the answer shows in them.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fbss_pathway.population import blocks, sieve
from fbss_pathway.population.blocks import ExportError, read_lines, read_runs
from fbss_pathway.population.export import ExportFile
from fbss_pathway.population.partition import FileSplit, split_span, unreadable_owner
from fbss_pathway.population.ranges import Span
from fbss_pathway.population.scope import patient_hash
from fbss_pathway.population.sieve import Sieve, may_be_kept

CANDIDATES = ("C-1", "C-2")
OTHERS = ("N-1", "N-2")
IN_SCOPE = frozenset(patient_hash(who) for who in CANDIDATES)
TYPED = b'{"resourceType":"Observation"'


def _line(who: str, note: str = "routine care", kind: str = "Observation") -> bytes:
    """A compact line, as servers write them."""
    return (
        f'{{"resourceType":"{kind}","id":"o","status":"final",'
        f'"subject":{{"reference":"Patient/{who}"}},"note":[{{"text":"{note}"}}]}}'
    ).encode()


def _sifted(path: Path) -> tuple[list[tuple[int, bytes]], int]:
    kept: list[tuple[int, bytes]] = []
    dropped = 0
    observations = Sieve("Observation", IN_SCOPE)
    for run in read_runs(path):
        lines, out = observations.sift(run)
        kept += lines
        dropped += out
    return kept, dropped


def _line_by_line(path: Path) -> tuple[list[tuple[int, bytes]], int]:
    kept = [(n, line) for n, line in read_lines(path) if may_be_kept(line, TYPED, IN_SCOPE)]
    return kept, sum(1 for _ in read_lines(path)) - len(kept)


def _split(path: Path, workdir: Path) -> FileSplit:
    return split_span(Span(ExportFile(path, "Observation"), 0, 0), workdir, 3, IN_SCOPE)


def _shards(workdir: Path) -> list[bytes]:
    return [
        line
        for shard in sorted(workdir.glob("p*/*.ndjson"))
        for line in shard.read_bytes().splitlines()
    ]


_WHO = st.sampled_from(CANDIDATES + OTHERS)
_REFERENCE = st.one_of(
    _WHO.map(lambda who: f"Patient/{who}"),
    _WHO.map(lambda who: f"Patient/{who}/_history/2"),
    _WHO.map(lambda who: f"https://ehr.example/fhir/Patient/{who}"),
    _WHO.map(lambda who: f"urn:uuid:{who}"),
    st.just("Patient/"),
    st.just("Group/g-1"),
)
#: Fields of a plain line: its references are what the text shows.
_PLAIN_FIELD = st.one_of(
    _REFERENCE.map(lambda ref: f',"subject":{{"reference":"{ref}"}}'),
    _REFERENCE.map(lambda ref: f',"note":[{{"text":"see {ref}"}}]'),  # in another field
    _WHO.map(lambda who: f',"x":Patient/{who}'),  # no closing quote after it on its line
    st.integers(0, 120).map(lambda n: f',"filler":"{"x" * n}"'),
)
_PLAIN_LINE = st.lists(_PLAIN_FIELD, max_size=3).map(
    lambda fields: ('{"resourceType":"Observation"' + "".join(fields) + "}").encode()
)
#: Lines that must be read one at a time, whoever they name.
_ODD_LINE = st.one_of(
    st.sampled_from(
        [
            b"",
            b"   ",
            b"\t",
            b"not json",
            b'{"resourceType":"Observation","x":"a \\"quoted\\" word"}',  # a backslash
            b'{"resourceType":"Observation","contained":[{"resourceType":"Patient"}]}',
            b'{"resourceType":"Observation","resourceType":"Patient"}',  # the key twice
            b'{"resourceType":"Patient","id":"C-1"}',
            b'{"resourceType":"ObservationDefinition","subject":"Patient/C-1"}',
            b'{"resourceType": "Observation","subject":{"reference":"Patient/C-2"}}',
            b'{"id":"o","resourceType":"Observation"}',
        ]
    ),
    _PLAIN_LINE.map(lambda line: line.replace(b"Patient/", b"Patient\\/")),  # escaped slashes
    _PLAIN_LINE.map(lambda line: b" " + line),
    _PLAIN_LINE.map(lambda line: line + b" "),
    _PLAIN_LINE.map(lambda line: line[:-1]),
)


def _file(
    plain: list[bytes], odd: list[tuple[int, bytes]], endings: list[bytes], last: bool
) -> bytes:
    """Plain lines with a few odd ones among them; the last one with its newline or not."""
    lines = list(plain)
    for at, line in odd:
        lines.insert(at, line)
    ended = [line + endings[i % len(endings)] for i, line in enumerate(lines)]
    if not last:
        ended[-1] = ended[-1].rstrip(b"\r\n")
    return b"".join(ended)


_FILE = st.builds(
    _file,
    st.lists(_PLAIN_LINE, min_size=1, max_size=60),
    st.lists(st.tuples(st.sampled_from([0, 1, 99]) | st.integers(0, 60), _ODD_LINE), max_size=3),
    st.sampled_from([[b"\n"], [b"\r\n"], [b"\n", b"\r\n", b"\n"]]),
    st.booleans(),
)


@given(
    text=_FILE,
    block=st.sampled_from([16, 200, 1000, 5000, 1 << 20]),
    fewest=st.sampled_from([2, 32]),
)
def test_a_run_at_a_time_keeps_the_lines_a_line_at_a_time_keeps(
    text: bytes, block: int, fewest: int
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Observation.ndjson"
        path.write_bytes(text)
        with (
            mock.patch.object(blocks, "_BLOCK", block),
            mock.patch.object(sieve, "_FEWEST", fewest),
        ):
            assert _sifted(path) == _line_by_line(path)


_ODD = [
    b'{"resourceType":"Patient","id":"N-3"}',  # another type: parsed, then refused
    b'{"resourceType": "Observation","subject":{"reference":"Patient/N-1"}}',  # spaces
    b'{"resourceType":"Observation","status":"final"',  # not an object's end
    b'{"resourceType":"Observation","contained":[{"resourceType":"Medication"}]}',
    b'{"resourceType":"Observation","x":"\\u0050atient/C-1"}',  # an escape
]


@pytest.mark.parametrize("odd", _ODD)
@pytest.mark.parametrize("at", [0, 25, 50])
def test_an_odd_line_anywhere_in_a_run_is_parsed(tmp_path: Path, odd: bytes, at: int) -> None:
    lines = [_line("N-1")] * 50
    lines.insert(at, odd)
    path = tmp_path / "Observation.ndjson"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    assert _sifted(path) == ([(at + 1, odd)], 50)


def test_one_odd_line_is_read_alone_and_the_run_keeps_its_order(tmp_path: Path) -> None:
    odd = b'{"resourceType":"Observation","contained":[{"resourceType":"Medication"}]}'
    lines = [_line("N-1")] * 400
    lines[10] = lines[150] = lines[390] = _line("C-1")
    lines[50] = odd
    path = tmp_path / "Observation.ndjson"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    asked: list[bytes] = []

    def line_test(line: bytes, typed: bytes, candidates: frozenset[int]) -> bool:
        asked.append(line)
        return may_be_kept(line, typed, candidates)

    with mock.patch.object(sieve, "may_be_kept", side_effect=line_test):
        kept, dropped = _sifted(path)
    assert kept == [(11, _line("C-1")), (51, odd), (151, _line("C-1")), (391, _line("C-1"))]
    assert dropped == 396
    assert odd in asked
    assert len(asked) < sieve._FEWEST  # the odd line's few neighbours, not the run


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("Patient/C-1", True),
        ("Patient/C-1/_history/2", True),
        ("https://ehr.example/fhir/Patient/C-1", True),
        ("urn:uuid:C-1", True),
        ("Patient/N-1/_history/2", False),
        ("urn:uuid:N-1", False),
        ("Patient/C-1x", False),
        ("Patient/", False),
    ],
)
def test_references_are_read_as_the_line_test_reads_them(
    tmp_path: Path, written: str, kept: bool
) -> None:
    line = b'{"resourceType":"Observation","subject":{"reference":"%s"}}' % written.encode()
    path = tmp_path / "Observation.ndjson"
    path.write_bytes(
        b"".join(x + b"\n" for x in [_line("N-1")] * 20 + [line] + [_line("N-2")] * 20)
    )
    assert _sifted(path) == (([(21, line)], 40) if kept else ([], 41))


@pytest.mark.parametrize("who", ["C-1", "N-1"])
def test_a_reference_with_no_closing_quote_has_its_line_parsed(tmp_path: Path, who: str) -> None:
    unended = b'{"resourceType":"Observation","x":Patient/%s}' % who.encode()
    path = tmp_path / "Observation.ndjson"
    path.write_bytes(b"".join(x + b"\n" for x in [_line("N-1")] * 20 + [unended] + [_line("N-2")]))
    assert _sifted(path) == ([(21, unended)], 21)


@pytest.mark.parametrize("into", [0, 3, 8, 10])
def test_a_reference_cut_by_a_block_boundary_is_found(tmp_path: Path, into: int) -> None:
    lines = [_line("N-1")] * 16 + [_line("C-1")] + [_line("N-2")] * 30
    text = b"".join(line + b"\n" for line in lines)
    boundary = text.index(b"Patient/C-1") + into  # inside "Patient/C-1" (or at its start)
    path = tmp_path / "Observation.ndjson"
    path.write_bytes(text)
    with mock.patch.object(blocks, "_BLOCK", boundary):
        assert _sifted(path) == ([(17, _line("C-1"))], 46)


def test_the_last_line_of_a_file_without_a_newline_is_decided_too(tmp_path: Path) -> None:
    path = tmp_path / "Observation.ndjson"
    path.write_bytes(b"\n".join([_line("N-1")] * 5 + [_line("C-2")]))
    assert _sifted(path) == ([(6, _line("C-2"))], 5)
    path.write_bytes(b"\n".join([_line("N-1")] * 5 + [_line("N-2")]))
    assert _sifted(path) == ([], 6)


def test_crlf_lines_are_decided_a_run_at_a_time(tmp_path: Path) -> None:
    lines = [_line("N-1")] * 40 + [_line("C-1")] + [_line("N-2")] * 40
    path = tmp_path / "Observation.ndjson"
    path.write_bytes(b"".join(line + b"\r\n" for line in lines))
    with mock.patch.object(sieve, "may_be_kept", side_effect=AssertionError("a line at a time")):
        assert _sifted(path) == ([(41, _line("C-1") + b"\r")], 80)


def test_a_candidate_named_in_another_field_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "Observation.ndjson"
    about_nobody = b'{"resourceType":"Observation","note":[{"text":"see Patient/%s"}]}'
    path.write_bytes(
        b"\n".join(
            [_line("N-1")] * 20
            + [_line("N-2", note="seen with Patient/C-1")]  # a candidate named in a note
            + [about_nobody % b"C-2"]  # names a candidate, has no patient: counted as such
            + [about_nobody % b"N-2"]  # names nobody in scope: never parsed
            + [_line("C-1")]
        )
        + b"\n"
    )
    kept, dropped = _sifted(path)
    assert [number for number, _ in kept] == [21, 22, 24]
    assert dropped == 21
    found = _split(path, tmp_path / "work")
    assert found.lines == 24
    assert found.out_of_scope == 20 + 1 + 1  # line 21 is parsed, and is N-2's
    assert found.without_patient == {"Observation": 1}
    assert found.resources == {"Observation": 2}
    assert _shards(tmp_path / "work") == [b"C-1".hex().encode() + b" " + _line("C-1")]


def test_an_escaped_slash_is_read_as_the_reader_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "Observation.ndjson"
    escaped = _line("C-2").replace(b"Patient/", b"Patient\\/")
    assert b"Patient/C-2" not in escaped
    path.write_bytes(
        b"\n".join(
            [_line("N-1")] * 30
            + [escaped, _line("N-2").replace(b"Patient/", b"Patient\\/")]
            + [_line("N-1")] * 30
        )
        + b"\n"
    )
    found = _split(path, tmp_path / "work")
    assert (found.lines, found.out_of_scope, found.resources["Observation"]) == (62, 61, 1)
    assert _shards(tmp_path / "work") == [b"C-2".hex().encode() + b" " + escaped]
    assert json.loads(escaped)["subject"]["reference"] == "Patient/C-2"


def test_a_patient_among_plain_lines_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "Observation.ndjson"
    hidden = b'{"resourceType":"Patient","id":"N-3","note":"}"}'
    path.write_bytes(b"\n".join([_line("N-1")] * 500 + [hidden] + [_line("N-2")] * 500) + b"\n")
    with pytest.raises(ExportError, match=r"a Patient resource in a file of Observation.*line 501"):
        _split(path, tmp_path / "work")


def test_a_second_resource_type_in_a_line_has_it_parsed(tmp_path: Path) -> None:
    path = tmp_path / "Observation.ndjson"
    contained = b'{"resourceType":"Observation","contained":[{"resourceType":"Medication"}]}'
    path.write_bytes(b"\n".join([_line("N-1")] * 300 + [contained] + [_line("N-2")] * 300) + b"\n")
    found = _split(path, tmp_path / "work")
    assert found.without_patient == {"Observation": 1}  # read: it names no patient
    assert found.out_of_scope == 600


def test_a_malformed_line_is_numbered_wherever_its_block_begins(tmp_path: Path) -> None:
    path = tmp_path / "Observation.ndjson"
    broken = b'{"resourceType":"Observation","subject":{"reference":"Patient/C-1"},}'
    lines = [_line("N-1")] * 1000
    lines[320] = broken
    lines[700] = broken.replace(b"C-1", b"N-2")  # nobody's in scope: never parsed
    path.write_bytes(b"\n\n".join(lines) + b"\n")  # a blank line between each two
    with mock.patch.object(blocks, "_BLOCK", 50_000):
        found = _split(path, tmp_path / "work")
    assert (found.malformed, found.malformed_lines) == (1, [641])
    assert (found.lines, found.ended, found.out_of_scope) == (1000, 1999, 999)


def _plainly(text: bytes, longest: int) -> list[tuple[int, bytes]]:
    """The numbered lines of a file as the reader gives them, written plainly."""
    lines = text.split(b"\n")
    ended = [True] * (len(lines) - 1) + [False]
    if lines[-1] == b"":  # the file ends with a newline
        lines.pop()
        ended.pop()
    found = []
    for number, (line, newline) in enumerate(zip(lines, ended, strict=True), 1):
        if len(line) + newline > longest:
            found.append((number, b""))  # too long: never held, counted as malformed
        elif line.strip():
            found.append((number, line))
    return found


@given(
    pieces=st.lists(
        st.sampled_from([b"\n", b"\r\n", b"  ", b"\t", b"{}", b"x" * 40, b"y" * 130]), max_size=80
    ),
    # A line within its block is never too long: blocks are smaller than the bound.
    sizes=st.sampled_from([(7, 100), (64, 100), (1000, 1 << 24), (1 << 20, 1 << 24)]),
)
def test_runs_give_every_line_numbered_whatever_the_blocks(
    pieces: list[bytes], sizes: tuple[int, int]
) -> None:
    text = b"".join(pieces)
    block, longest = sizes
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "Observation.ndjson"
        path.write_bytes(text)
        with (
            mock.patch.object(blocks, "_BLOCK", block),
            mock.patch.object(blocks, "MAX_LINE_BYTES", longest),
        ):
            ended: list[int] = []
            assert list(read_lines(path, ended=ended)) == _plainly(text, longest)
            runs = list(read_runs(path))
    assert ended == [text.count(b"\n") + (not text.endswith(b"\n") and bool(text))]
    assert sum(run.lines for run in runs) == ended[0]
    for run in runs:  # whole lines: only a file's last line may lack its newline
        if run.lines > 1:
            assert run.text[run.end - 1 : run.end] == b"\n"
            assert run.text.count(b"\n", run.start, run.end) == run.lines


def test_a_line_is_too_long_by_its_length_with_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "Observation.ndjson"
    path.write_bytes(b"a" * 99 + b"\n" + b"b" * 100 + b"\n" + b"c" * 100)
    with mock.patch.object(blocks, "_BLOCK", 64), mock.patch.object(blocks, "MAX_LINE_BYTES", 100):
        assert list(read_lines(path)) == [(1, b"a" * 99), (2, b""), (3, b"c" * 100)]


def test_a_patient_in_a_later_span_is_found_by_the_byte_its_span_begins_at(
    tmp_path: Path,
) -> None:
    """The message once said "line 10 of its part 1", not found in a large file (a review)."""
    path = tmp_path / "Observation.ndjson"
    hidden = b'{"resourceType":"Patient","id":"N-3"}'
    head = b"\n".join([_line("N-1")] * 500) + b"\n"
    path.write_bytes(head + b"\n".join([_line("N-2")] * 9 + [hidden]) + b"\n")
    span = Span(ExportFile(path, "Observation"), 0, 1, len(head), None)
    with pytest.raises(ExportError, match=f"line 10 of the lines from byte {len(head):,} on"):
        split_span(span, tmp_path / "work", 4, frozenset({patient_hash("C-1")}))
    assert path.read_bytes()[len(head) :].splitlines()[9] == hidden  # where it says


def test_a_line_that_is_not_json_is_kept_for_the_one_candidate_it_names() -> None:
    """Else it is only counted: no guessing between patients (population/partition.py)."""
    one = b'{"resourceType":"Condition","subject":{"reference":"Patient/C-1"},"code":{"te'
    two = one + b'xt":"see Patient/C-2"'
    other = b'{"resourceType":"Condition","subject":{"reference":"Patient/N-1"},"co'
    assert unreadable_owner(one, "Condition", IN_SCOPE) == "C-1"
    assert unreadable_owner(b'{"subject":{"reference":"urn:uuid:C-1"', "Condition", IN_SCOPE) == (
        "C-1"
    )
    assert unreadable_owner(two, "Condition", IN_SCOPE) is None  # two candidates named
    assert unreadable_owner(other, "Condition", IN_SCOPE) is None  # not a candidate
    assert unreadable_owner(other, "Condition", None) == "N-1"  # everyone in scope
    assert unreadable_owner(b'{"resourceType":"Patient","id":"N-9","na', "Patient", IN_SCOPE) == (
        "N-9"
    )
    assert unreadable_owner(b'{"id":"N-9","resourceType":"Pat', "Patient", IN_SCOPE) is None
