"""Reading a user's uploaded file of translation pairs (two columns) or texts (one per line).

Uploads come from spreadsheets and text editors, so the reader is forgiving where the intent is
clear (BOM, CRLF, quoted fields, comma/tab/semicolon, trailing empty columns, a header row,
duplicates) and strict where it is not: every problem is an `InputError` that names the line and
says how to fix the file. Long files are sampled (seeded), never silently truncated.
"""

from __future__ import annotations

import csv
import io
import os
import random
import re
from typing import Iterator, Sequence

from ..errors import InputError
from ..tokens import MAX_TEXT_CHARS

_BOM = b"\xef\xbb\xbf"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SHOW_CHARS = 60
_SNIFF_CHARS = 200_000
_SNIFF_ROWS = 200
_DELIMITER_NAMES = {"\t": "a tab", ",": "a comma", ";": "a semicolon"}
# Control bytes that plain text never holds (tab, line feed, VT, form feed, CR excluded).
_BINARY_BYTES = bytes(set(range(1, 32)) - {9, 10, 11, 12, 13})
_HEADER_WORDS = set(
    """
    source target src tgt text texts translation translations sentence sentences input output
    original prompt label word text_a text_b lang_a lang_b source_text target_text sentence_a
    sentence_b en de es fr zh ja ko it pt nl ru english german spanish french chinese japanese
    korean italian portuguese dutch russian deutsch español français 中文 日本語
    """.split()
)


def _shown(line: str) -> str:
    """A line as it appears in an error message: quoted, truncated."""
    line = line.replace("\t", " ⇥ ")
    return repr(line if len(line) <= _SHOW_CHARS else line[:_SHOW_CHARS] + "…")


def _shown_line(lines: list[str], line_no: int) -> str:
    return _shown(lines[line_no - 1] if 0 < line_no <= len(lines) else "")


def _guess_legacy_encoding(body: bytes) -> str:
    """Name the likely encoding of non-UTF-8 bytes, for the error message."""
    high = [i for i, b in enumerate(body[:65536]) if b >= 0x80]
    paired = sum(
        1
        for i in high
        if (i + 1 < len(body) and body[i + 1] >= 0x80) or (i > 0 and body[i - 1] >= 0x80)
    )
    if high and paired / len(high) > 0.6:
        return "a multi-byte legacy encoding such as GBK, Big5 or Shift-JIS"
    return "Latin-1 / Windows-1252"


def _looks_binary(head: bytes) -> bool:
    """NUL bytes, or more than 1% control characters that text files never contain."""
    controls = sum(head.count(bytes([b])) for b in _BINARY_BYTES)
    return b"\x00" in head or controls > max(2, len(head) // 100)


def decode_upload(data: bytes, filename: str = "upload") -> str:
    """The upload as text, or an `InputError` that says why it is not a UTF-8 text file."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InputError("The upload must be the file's bytes.")
    body = bytes(data)
    while body.startswith(_BOM):  # files concatenated by some editors carry several
        body = body[len(_BOM) :]
    if not body.strip():
        raise InputError(f"{filename} is empty: it needs at least one line of text.")
    if body.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f"{filename} is saved as UTF-16: re-save it as UTF-8 text and upload it again."
        )
    if body.startswith(b"PK\x03\x04"):
        raise InputError(
            f"{filename} is a zip archive or Excel workbook, not text: "
            "export it as CSV (UTF-8) first."
        )
    if _looks_binary(body[:65536]):
        raise InputError(
            f"{filename} looks like a binary file, not text: upload a .tsv, .csv or .txt file."
        )
    if b"\x00" in body:
        line = body.count(b"\n", 0, body.index(b"\x00")) + 1
        raise InputError(
            f"Line {line} of {filename} contains a NUL byte, so it is not a text file."
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = body.count(b"\n", 0, exc.start) + 1
        start = body.rfind(b"\n", 0, exc.start) + 1
        end = body.find(b"\n", exc.start)
        raw_line = body[start : end if end >= 0 else len(body)].rstrip(b"\r")
        shown = _shown(raw_line.decode("cp1252", errors="replace"))
        raise InputError(
            f"Line {line_no} of {filename} is not valid UTF-8 (it looks like "
            f"{_guess_legacy_encoding(body)}: {shown}); "
            "re-save the file as UTF-8 and upload it again."
        ) from None
    if not text.replace("\ufeff", "").strip():  # only Unicode whitespace (U+001F, U+2028, BOMs)
        raise InputError(f"{filename} is empty: it needs at least one line of text.")
    return text


def _check_max_rows(max_rows: int) -> None:
    if not isinstance(max_rows, int) or max_rows < 1:
        raise InputError(f"The row limit must be a positive whole number, got {max_rows!r}.")


def _check_length(text: str, line_no: int, filename: str) -> None:
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(
            f"Line {line_no} of {filename} holds a text of {len(text):,} characters; "
            f"the limit is {MAX_TEXT_CHARS:,}."
        )


def _dedupe_and_sample(items: list, max_rows: int, seed: int, notes: list[str], what: str) -> list:
    unique = list(dict.fromkeys(items))
    if len(unique) < len(items):
        removed = len(items) - len(unique)
        notes.append(f"Removed {removed:,} duplicate {what}{'s' if removed != 1 else ''}.")
    if len(unique) > max_rows:
        keep = sorted(random.Random(seed).sample(range(len(unique)), max_rows))
        notes.append(f"Sampled {max_rows:,} of {len(unique):,} {what}s (seed {seed}).")
        unique = [unique[i] for i in keep]
    return unique


# ----------------------------------------------------------------------------- pairs


def _trim(row: list[str]) -> list[str]:
    """Drop trailing empty cells beyond the second (spreadsheets export "a,b,,")."""
    while len(row) > 2 and not row[-1].strip():
        row.pop()
    return row


def _records(text: str, delimiter: str, quoted: bool) -> Iterator[tuple[int, list[str]]]:
    """(first physical line number, cells) for each record; blank lines are skipped."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        strict=quoted,
        quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE,
    )
    previous = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _RecordError(previous + 1, str(exc)) from None
        start, previous = previous + 1, reader.line_num
        if any(cell.strip() for cell in row):
            yield start, _trim(row)


class _RecordError(Exception):
    def __init__(self, line_no: int, reason: str) -> None:
        super().__init__(reason)
        self.line_no = line_no
        self.reason = reason


def _record_input_error(exc: _RecordError, lines: list[str], filename: str) -> InputError:
    shown = _shown_line(lines, exc.line_no)
    if "field larger" in exc.reason:
        return InputError(
            f"Line {exc.line_no} of {filename} starts a field longer than "
            f"{csv.field_size_limit():,} characters (often an unclosed quote): {shown}."
        )
    return InputError(
        f"Line {exc.line_no} of {filename} has unbalanced quotes ({exc.reason}): {shown}; "
        'wrap a field in double quotes and double any quote inside it ("").'
    )


def _candidates(filename: str) -> list[str]:
    ext = os.path.splitext(filename.lower())[1]
    if ext == ".csv":
        return [",", ";", "\t"]
    return ["\t", ",", ";"]


def _sniff(text: str, filename: str) -> str:
    """The delimiter that splits the most of the first rows into exactly two cells."""
    sample = text[:_SNIFF_CHARS]
    best, best_score = None, -1
    for delimiter in _candidates(filename):
        score = 0
        try:
            for n, (_, row) in enumerate(_records(sample, delimiter, quoted=True)):
                if n >= _SNIFF_ROWS:
                    break
                score += len(row) == 2
        except _RecordError:
            pass
        if score > best_score:
            best, best_score = delimiter, score
    return best or "\t"


def _looks_like_header(row: Sequence[str]) -> bool:
    cells = [cell.strip().lower() for cell in row]
    return len(set(cells)) == len(cells) and all(cell in _HEADER_WORDS for cell in cells)


def _read_pairs(
    text: str, lines: list[str], delimiter: str, quoted: bool, filename: str
) -> tuple[list[tuple[str, str]], list[str] | None]:
    pairs: list[tuple[str, str]] = []
    header: list[str] | None = None
    for line_no, row in _records(text, delimiter, quoted):
        if len(row) != 2:
            raise InputError(
                f"Line {line_no} of {filename} has {len(row)} column{'s' if len(row) != 1 else ''} "
                f"but needs exactly 2 separated by {_DELIMITER_NAMES[delimiter]}: "
                f"{_shown_line(lines, line_no)}."
            )
        a, b = row[0].strip(), row[1].strip()
        if not a or not b:
            side = "first" if not a else "second"
            raise InputError(
                f"Line {line_no} of {filename} has an empty {side} column; every row needs text on "
                f"both sides: {_shown_line(lines, line_no)}."
            )
        if not pairs and header is None and _looks_like_header((a, b)):
            header = [a, b]
            continue
        _check_length(a, line_no, filename)
        _check_length(b, line_no, filename)
        pairs.append((a, b))
    return pairs, header


def parse_pairs(
    data: bytes, filename: str = "upload", max_rows: int = 5000, seed: int = 0
) -> tuple[list[tuple[str, str]], list[str]]:
    """Translation pairs from a two-column TSV/CSV upload, plus notes on what was changed.

    The delimiter is sniffed from the content (the extension breaks ties). Quoted fields may
    hold delimiters and line breaks. A TSV whose quotes are not CSV-style ("Hi," he said) is
    re-read with quotes taken literally. A first row like "english, german" is skipped as a
    header; duplicate rows are removed; beyond `max_rows` a seeded random sample is kept.
    """
    filename = filename or "upload"
    _check_max_rows(max_rows)
    text = decode_upload(data, filename)
    lines = _LINE_BREAK.split(text)
    delimiter = _sniff(text, filename)
    notes: list[str] = []
    try:
        pairs, header = _read_pairs(text, lines, delimiter, True, filename)
    except _RecordError as exc:
        if delimiter != "\t" or "field larger" in exc.reason:
            raise _record_input_error(exc, lines, filename) from None
        try:
            pairs, header = _read_pairs(text, lines, delimiter, False, filename)
        except _RecordError as exc2:
            raise _record_input_error(exc2, lines, filename) from None
        notes.append("Read quotes literally (the file is not CSV-quoted).")
    if header is not None:
        notes.append(f"Skipped the header row ({header[0]!r}, {header[1]!r}).")
    if not pairs:
        raise InputError(f"{filename} has no rows of text after the header.")
    pairs = _dedupe_and_sample(pairs, max_rows, seed, notes, "row")
    return pairs, notes


# ----------------------------------------------------------------------------- texts


def parse_texts(
    data: bytes, filename: str = "upload", max_rows: int = 5000, seed: int = 0
) -> tuple[list[str], list[str]]:
    """One text per line (blank lines skipped), plus notes; same checks and sampling as pairs.

    In a .csv file a line wrapped in double quotes is unquoted ("" becomes ").
    """
    filename = filename or "upload"
    _check_max_rows(max_rows)
    text = decode_upload(data, filename)
    is_csv = filename.lower().endswith(".csv")
    texts: list[str] = []
    for line_no, line in enumerate(_LINE_BREAK.split(text), 1):
        line = line.strip()
        if is_csv and len(line) >= 2 and line[0] == line[-1] == '"':
            line = line[1:-1].replace('""', '"').strip()
        if not line:
            continue
        _check_length(line, line_no, filename)
        texts.append(line)
    if not texts:
        raise InputError(f"{filename} has no lines of text.")
    notes: list[str] = []
    texts = _dedupe_and_sample(texts, max_rows, seed, notes, "line")
    return texts, notes
