r"""Which lines of a file may be a candidate's: decided for a whole run of lines at once.

The split (:mod:`.partition`) keeps a line of a file other than Patient and
Medication only if it may be about a candidate (:mod:`.scope`), and most such
lines are never parsed. The test is :func:`may_be_kept`, defined on one line.
In an export nearly every line is out of scope, so the split asks it of a run
of lines (:class:`.blocks.Run`, about 1 MiB) with a few scans of the whole run
in C, and gives the same answer for every line:

- a line holding a backslash is cut out of the run and parsed (an escape may
  hide a reference), found with ``find`` (``memchr``), as rare as it is;
- the rest is *plain* if every line begins as a resource of the file's type
  and ends its object (the count of ``}\n{"resourceType":"<type>"`` between
  lines) and holds one ``"resourceType"`` (their count): then a reference is
  what the text shows, and one scan for ``Patient/`` and one for ``urn:uuid:``
  collect the ids the run names, each hashed once (a run names a few
  patients, its lines hundreds of times). A run that names no candidate is out
  of scope whole; else only the lines naming one are cut out, by ``find``;
- a run that is not plain is halved until its halves are (or are small, or
  both fail: then a line at a time), so that one odd line costs a few scans.
"""

from __future__ import annotations

import re

from .blocks import Run, lines_of
from .scope import patient_hash

__all__ = ["Sieve", "may_be_kept"]

#: Lines below which a run that is not plain is read a line at a time.
_FEWEST = 32
#: Text that may mark a line as one that must be parsed whoever it is about.
_OBJECT_ENDS = (b"}", b"}\r", b"}\n", b"}\r\n")
#: What follows each ``Patient/`` and ``urn:uuid:``: up to the first quote (or newline).
_PATIENT = re.compile(rb'Patient/(?=([^"\n]*["\n]?))')
_URN = re.compile(rb'urn:uuid:(?=([^"\n]*["\n]?))')

#: Lines of a run that must be parsed, numbered, without their newline.
Kept = list[tuple[int, bytes]]


def may_be_kept(line: bytes, typed: bytes, candidates: frozenset[int]) -> bool:
    """Whether a line may be about a candidate, or must be parsed to know what it is.

    ``typed`` is how a line of the file's type begins (``{"resourceType":"Observation"``).
    A line that begins so, without a backslash and with no other ``"resourceType"``,
    is of the file's type (not a Patient, Medication or scope type: those files are
    parsed whole), and its strings are their text: a reference to a candidate,
    ``Patient/<id>`` (relative or absolute, any version) or ``urn:uuid:<id>``, shows
    the id as written. Any other line is parsed (a malformed one is then counted).
    """
    if not (line.startswith(typed) and line.endswith(_OBJECT_ENDS)):
        return True  # another type first, or not an object: parsed, to see which
    if b"\\" in line or line.count(b'"resourceType"') != 1:
        return True  # an escape, or a second type (contained, or the key twice)
    for marker in (b"Patient/", b"urn:uuid:"):
        at = line.find(marker)
        while at >= 0:
            start = at + len(marker)
            close = line.find(b'"', start)
            if close < 0:
                return True
            named = line[start:close]
            if marker == b"Patient/":
                named = named.split(b"/", 1)[0]
            if patient_hash(named) in candidates:
                return True
            at = line.find(marker, start)
    return False


class Sieve:
    """The lines of a file's runs that :func:`may_be_kept` keeps, found a run at a time."""

    def __init__(self, resource_type: str, candidates: frozenset[int]) -> None:
        self._typed = b'{"resourceType":"' + resource_type.encode() + b'"'
        self._between = b"}\n" + self._typed
        self._between_crlf = b"}\r\n" + self._typed
        self._candidates = candidates

    def sift(self, run: Run) -> tuple[Kept, int]:
        """The run's lines that must be parsed, and how many others are out of scope.

        Blank lines are neither.
        """
        text, start, end, number = run.text, run.start, run.end, run.before
        kept: Kept = []
        if run.lines == 1:  # a line on its own (past a block, or the file's last)
            return kept, self._by_line(text, start, end, number, 1, kept)
        dropped = 0
        at = start
        while at < end:  # every line ends with a newline
            slash = text.find(b"\\", at, end)
            if slash < 0:
                stop, lines = end, run.lines - (number - run.before)
            else:  # the lines before the one holding it
                stop = max(text.rfind(b"\n", at, slash) + 1, at)
                lines = text.count(b"\n", at, stop)
            if stop > at:
                dropped += self._plain_or_halved(text, at, stop, number, lines, kept)
                number += lines
            if slash < 0:
                break
            newline = text.find(b"\n", slash, end)
            number += 1
            kept.append((number, text[stop:newline]))  # an escape: parsed
            at = newline + 1
        return kept, dropped

    def _plain_or_halved(
        self,
        text: bytes,
        start: int,
        end: int,
        before: int,
        count: int,
        kept: Kept,
        *,
        odd: bool = False,
    ) -> int:
        """Lines out of scope among ``count`` lines without a backslash; parsed ones to ``kept``.

        ``odd``: the lines are known not to be plain.
        """
        if not odd:
            dropped = self._if_plain(text, start, end, before, count, kept)
            if dropped is not None:
                return dropped
        middle = text.find(b"\n", (start + end) // 2, end) + 1
        if count < _FEWEST or middle >= end:
            return self._by_line(text, start, end, before, count, kept)
        first = text.count(b"\n", start, middle)
        left: Kept = []
        right: Kept = []
        left_dropped = self._if_plain(text, start, middle, before, first, left)
        right_dropped = self._if_plain(text, middle, end, before + first, count - first, right)
        if left_dropped is None and right_dropped is None:  # odd lines throughout
            return self._by_line(text, start, end, before, count, kept)
        if left_dropped is None:
            left_dropped = self._plain_or_halved(text, start, middle, before, first, left, odd=True)
        if right_dropped is None:
            right_dropped = self._plain_or_halved(
                text, middle, end, before + first, count - first, right, odd=True
            )
        kept += left
        kept += right
        return left_dropped + right_dropped

    def _if_plain(
        self, text: bytes, start: int, end: int, before: int, count: int, kept: Kept
    ) -> int | None:
        """Lines out of scope, the rest to ``kept``; None if the lines are not plain."""
        typed = self._typed
        if not text.startswith(typed, start, end):
            return None
        if not (text.endswith(b"}\n", start, end) or text.endswith(b"}\r\n", start, end)):
            return None
        between = text.count(self._between, start, end)
        if between != count - 1:
            between += text.count(self._between_crlf, start, end)
            if between != count - 1:
                return None
        if text.count(b'"resourceType"', start, end) != count:
            return None
        named = self._naming_candidates(text, start, end)
        if named is None:
            return None
        if not named:
            return count
        return count - self._lines_naming(text, start, end, before, named, kept)

    def _naming_candidates(
        self, text: bytes, start: int, end: int
    ) -> list[tuple[re.Pattern[bytes], set[bytes]]] | None:
        """What follows each reference to a candidate, by pattern; None if one is unended."""
        candidates = self._candidates
        found = []
        for pattern, versioned in ((_PATIENT, True), (_URN, False)):
            named = set()
            for rest in set(pattern.findall(text, start, end)):
                if rest[-1:] != b'"':
                    return None  # no closing quote on the line: parsed, line by line
                who = rest[:-1].split(b"/", 1)[0] if versioned else rest[:-1]
                if patient_hash(who) in candidates:
                    named.add(rest)
            if named:
                found.append((pattern, named))
        return found

    def _lines_naming(
        self,
        text: bytes,
        start: int,
        end: int,
        before: int,
        named: list[tuple[re.Pattern[bytes], set[bytes]]],
        kept: Kept,
    ) -> int:
        """Cut out the lines holding a reference to a candidate, in order, to ``kept``; how many."""
        lines: dict[int, int] = {}  # where each starts: where it ends
        for pattern, rests in named:
            line_end = start
            for match in pattern.finditer(text, start, end):
                at = match.start()
                if at < line_end or match[1] not in rests:
                    continue  # in the line just kept, or nobody in scope
                line_start = max(text.rfind(b"\n", start, at) + 1, start)
                line_end = text.find(b"\n", at, end) + 1
                lines[line_start] = line_end
        number, counted = before, start
        for line_start in sorted(lines):
            number += 1 if line_start == counted else text.count(b"\n", counted, line_start) + 1
            counted = lines[line_start]
            kept.append((number, text[line_start : counted - 1]))
        return len(lines)

    def _by_line(
        self, text: bytes, start: int, end: int, before: int, count: int, kept: Kept
    ) -> int:
        """The test asked of each line: those kept to ``kept``; how many are out of scope."""
        dropped = 0
        for number, line in lines_of(text, start, end, before, count):
            if may_be_kept(line, self._typed, self._candidates):
                kept.append((number, line))
            else:
                dropped += 1
        return dropped
