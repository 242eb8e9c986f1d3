"""Detect and redact primary account numbers (PANs) and CVV-like fields, in any spelling.

A PAN can be written with any separators (spaces of every kind, zero-width characters, dots,
slashes, dashes...), in any Unicode decimal digits, or buried in a longer digit run. The text
is normalised first (NFKC, then every decimal digit to ASCII); a candidate is a run of digits
where up to three non-alphanumeric characters may sit between two digits (a letter ends it), and
every 13-19 digit window of such a run is tested. A window is a PAN when it passes Luhn AND lies
in a card brand's IIN range with a length that brand issues; the brand check is what keeps
random identifiers from being refused, the windows are what keeps a padded PAN from passing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

REDACTED = "[redacted-pan]"
_MIN_PAN, _MAX_PAN = 13, 19
# Up to three non-alphanumeric characters ([\W_] is "not a letter or digit" in Unicode mode)
# may separate two digits; letters and longer gaps end a candidate. Linear: every repetition
# consumes a digit.
_SEGMENT = re.compile(r"[0-9](?:[\W_]{0,3}[0-9])*")
_NON_DIGIT = re.compile(r"[^0-9]")
_UUID = re.compile(
    r"(?<![^\W_])(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{20,})(?![^\W_])"
)
_HEX_LETTER = re.compile(r"[a-fA-F]")
# ISO 8601 / RFC 3339 date-times as databases and loggers write them, e.g.
# "2026-12-02 14:41:24.953405+00:00": microseconds join 16-22 digits with ':', '.', '+' and ' '.
# Only a whole date-time is exempt: a bare time ("00:00:06") or date is a few digits that a PAN
# split by colons or dashes can spell, so exempting those would hide card numbers.
_TIME = (
    r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:[.,]\d{1,9})?(?:Z|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?"
)
_DATE = r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
_TIMESTAMP = re.compile(rf"(?<!\d){_DATE}[T ]{_TIME}(?!\d)")
_CVV_NAMES = frozenset(
    {
        "cvv",
        "cvc",
        "cvv2",
        "cvc2",
        "cav2",
        "cid",
        "csc",
        "cvn",
        "cvd",
        "securitycode",
        "cardsecuritycode",
        "cardverificationvalue",
        "cardverificationcode",
        "cardcvv",
        "cardcvc",
    }
)


@dataclass(frozen=True)
class IinRange:
    """Issuer identification numbers low..high (same digit count) and the lengths issued."""

    brand: str
    low: str
    high: str
    lengths: frozenset[int]


def _lengths(low: int, high: int) -> frozenset[int]:
    return frozenset(range(low, high + 1))


# Source: ISO/IEC 7812 issuer ranges as tabulated in "Payment card number", section "Issuer
# identification number (IIN)", https://en.wikipedia.org/wiki/Payment_card_number (brands
# that issue cards today; Maestro's 12-digit cards are below the 13-digit floor).
IIN_RANGES: tuple[IinRange, ...] = (
    IinRange("visa", "4", "4", frozenset({13, 16, 19})),
    IinRange("mastercard", "51", "55", frozenset({16})),
    IinRange("mastercard", "2221", "2720", frozenset({16})),
    IinRange("amex", "34", "34", frozenset({15})),
    IinRange("amex", "37", "37", frozenset({15})),
    IinRange("discover", "6011", "6011", _lengths(16, 19)),
    IinRange("discover", "644", "649", _lengths(16, 19)),
    IinRange("discover", "65", "65", _lengths(16, 19)),
    IinRange("discover", "622126", "622925", _lengths(16, 19)),
    IinRange("jcb", "3528", "3589", _lengths(16, 19)),
    IinRange("diners", "36", "36", _lengths(14, 19)),
    IinRange("diners", "300", "305", _lengths(14, 19)),
    IinRange("diners", "38", "39", _lengths(14, 19)),
    IinRange("unionpay", "62", "62", _lengths(16, 19)),
    IinRange("maestro", "50", "50", _lengths(13, 19)),
    IinRange("maestro", "56", "69", _lengths(13, 19)),
)


def _index_ranges() -> tuple[dict[str, frozenset[int]], dict[str, frozenset[int]]]:
    """Lengths by 4-digit prefix, plus by 6-digit prefix for the ranges that need six digits."""
    by4: dict[str, set[int]] = {}
    by6: dict[str, set[int]] = {}
    for row in IIN_RANGES:
        width = len(row.low)
        table, size = (by4, 4) if width <= 4 else (by6, 6)
        for value in range(int(row.low), int(row.high) + 1):
            prefix = str(value).zfill(width)
            for tail in range(10 ** (size - width)):
                key = prefix + (str(tail).zfill(size - width) if size > width else "")
                table.setdefault(key, set()).update(row.lengths)
    return (
        {key: frozenset(value) for key, value in by4.items()},
        {key: frozenset(value) for key, value in by6.items()},
    )


_BY_PREFIX4, _BY_PREFIX6 = _index_ranges()
_EMPTY: frozenset[int] = frozenset()
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


class CardDataError(ValueError):
    """Raised with a field path only; the offending value is never included."""

    def __init__(self, path: str, kind: str) -> None:
        super().__init__(f"{kind} in {path}")
        self.path = path
        self.kind = kind


def luhn_valid(digits: str) -> bool:
    """Return True when the digit string passes the Luhn checksum."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        total += _DOUBLED[value] if index % 2 == 1 else value
    return total % 10 == 0


def brand_lengths(digits: str) -> frozenset[int]:
    """The PAN lengths card brands issue for the IIN these digits start with (empty if none)."""
    return _BY_PREFIX4.get(digits[:4], _EMPTY) | _BY_PREFIX6.get(digits[:6], _EMPTY)


def is_pan(digits: str) -> bool:
    """An ASCII digit string that is a whole PAN: brand range, brand length and Luhn."""
    return len(digits) in brand_lengths(digits) and luhn_valid(digits)


@lru_cache(maxsize=4096)
def _normalise_char(char: str) -> str:
    """NFKC of one character with every Unicode decimal digit (category Nd) made ASCII."""
    out = []
    for part in unicodedata.normalize("NFKC", char):
        if part > "\x7f" and unicodedata.category(part) == "Nd":
            out.append(chr(48 + unicodedata.decimal(part)))
        else:
            out.append(part)
    return "".join(out)


def _normalise(text: str) -> tuple[str, list[int] | None]:
    """The normalised text and, for non-ASCII input, each normalised char's source index.

    Characters are normalised one by one so every output position maps back to its source;
    digits and separators never compose with their neighbours, so this finds what whole-text
    NFKC would.
    """
    if text.isascii():
        return text, None
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        norm = char if char < "\x80" else _normalise_char(char)
        chars.append(norm)
        origin.extend([index] * len(norm))
    return "".join(chars), origin


def _identifier_spans(norm: str) -> list[tuple[int, int]]:
    """Spans of identifier tokens (canonical UUIDs, 20+ hex digits) holding a hex letter, and
    of timestamps, sorted: none of them is a spelling of a card number.

    Timestamps: a date-time with microseconds and its offset ("2026-12-02 14:41:24.953405+00:00")
    is 24 digits, so every stored or logged timestamp would be a candidate; a valid date and
    time with their fixed 2-digit fields and separators is not how anyone writes a card number.

    Random UUIDs, digests and references (the processor's 24-hex ones) often hold 13+ digits
    between their letters (the canonical UUID also joins its groups with hyphens): without
    this, one random UUID in 400 and one 24-hex reference in 900 look like a PAN. Such a token
    is an identifier, not a spelling of a card number; an all-digit one is still scanned. The
    price: a PAN glued to enough hex letters to make a 20+ character hex word passes.
    """
    spans = [m.span() for m in _TIMESTAMP.finditer(norm)]
    if len(norm) >= 20:
        spans += [m.span() for m in _UUID.finditer(norm) if _HEX_LETTER.search(m.group())]
    return sorted(spans)


def _pan_windows(digits: str) -> list[tuple[int, int]]:
    """Every 13-19 digit window of a digit run that is a PAN, as [start, end) digit indexes."""
    count = len(digits)
    values = [ord(char) - 48 for char in digits]
    # Luhn in O(1) per window: sums[p][k] adds digits before k, doubling those whose index
    # parity differs from p (the check digit, at the window's end, is never doubled).
    sums = ([0] * (count + 1), [0] * (count + 1))
    for parity in (0, 1):
        acc, row = 0, sums[parity]
        for index, value in enumerate(values):
            acc += value if index % 2 == parity else _DOUBLED[value]
            row[index + 1] = acc
    found: list[tuple[int, int]] = []
    for start in range(count - _MIN_PAN + 1):
        lengths = brand_lengths(digits[start : start + 6])
        if not lengths:
            continue
        for length in lengths:
            end = start + length
            if end > count:
                continue
            row = sums[(end - 1) % 2]
            if (row[end] - row[start]) % 10 == 0:
                found.append((start, end))
    return found


def _spans(text: str, first_only: bool = False) -> list[tuple[int, int]]:
    """[start, end) spans of the source text covering each PAN found (separators included)."""
    norm, origin = _normalise(text)
    skip: list[tuple[int, int]] | None = None  # found on first need: most text has no run
    spans: list[tuple[int, int]] = []
    for match in _SEGMENT.finditer(norm):
        if match.end() - match.start() < _MIN_PAN:
            continue
        if skip is None:
            skip = _identifier_spans(norm)
        pieces = _split_around(match.start(), match.end(), skip)
        for piece_start, piece_end in pieces:
            segment = norm[piece_start:piece_end]
            digits = _NON_DIGIT.sub("", segment)
            if len(digits) < _MIN_PAN:
                continue
            windows = _pan_windows(digits)
            if not windows:
                continue
            positions = [piece_start + i for i, char in enumerate(segment) if "0" <= char <= "9"]
            for start, end in windows:
                first, last = positions[start], positions[end - 1]
                if origin is not None:
                    first, last = origin[first], origin[last]
                spans.append((first, last + 1))
                if first_only:
                    return spans
    return spans


def _split_around(start: int, end: int, skip: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [start, end) outside the skipped spans (a skipped token ends a run)."""
    pieces: list[tuple[int, int]] = []
    cursor = start
    for skip_start, skip_end in skip:
        if skip_end <= cursor or skip_start >= end:
            continue
        if skip_start > cursor:
            pieces.append((cursor, skip_start))
        cursor = max(cursor, skip_end)
    if cursor < end:
        pieces.append((cursor, end))
    return pieces


def contains_pan(text: str) -> bool:
    """True if text holds a PAN in any spelling (separators, Unicode digits, inside a run)."""
    return bool(_spans(text, first_only=True))


def redact(text: str) -> str:
    """Text with every PAN (and the separators inside it) replaced by ``[redacted-pan]``.

    Text without a PAN is returned unchanged (the same object), so callers can compare.
    """
    spans = _spans(text)
    if not spans:
        return text
    spans.sort()
    out: list[str] = []
    cursor = 0
    merged_end = -1
    for start, end in spans:
        if start < merged_end:  # overlapping windows of one run: one marker
            merged_end = max(merged_end, end)
            cursor = merged_end
            continue
        out.append(text[cursor:start])
        out.append(REDACTED)
        cursor = merged_end = end
    out.append(text[cursor:])
    return "".join(out)


def is_cvv_name(name: str) -> bool:
    """Match CVV-style field names regardless of case, width, separators or digit script."""
    normalised, _ = _normalise(name)
    return re.sub(r"[^a-z0-9]", "", normalised.casefold()) in _CVV_NAMES


def scan(value: Any, path: str = "body") -> None:
    """Walk decoded JSON and raise CardDataError on the first card number or CVV field."""
    if isinstance(value, dict):
        _scan_object(value, path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            scan(item, f"{path}[{index}]")
    else:
        text = _scalar_text(value)
        if text is not None and contains_pan(text):
            raise CardDataError(path, "card_number")


def _scan_object(value: dict[Any, Any], path: str) -> None:
    """Keys are checked before their values: a PAN or a CVV name can hide in either."""
    for key, item in value.items():
        key_str = str(key)
        if contains_pan(key_str):
            raise CardDataError(f"{path}.<key>", "card_number")
        # redact() again although no PAN was found: a path is logged, so it gets the same pass.
        shown = redact(key_str)
        child = f"{path}.{shown}" if len(shown) <= 64 else f"{path}.<key>"
        if is_cvv_name(key_str):
            raise CardDataError(child, "cvv_field")
        scan(item, child)


def _scalar_text(value: Any) -> str | None:
    """The digits a scalar shows when printed; None for values that cannot hold a PAN.

    bool is tested first because it is an int; floats are printed without an exponent.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format(value, "f")
    if isinstance(value, str):
        return value
    return None
