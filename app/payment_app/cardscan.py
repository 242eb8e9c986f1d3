"""Detect primary account numbers and CVV-like fields so card data is refused, never stored."""

from __future__ import annotations

import re
from typing import Any

# Digit groups separated by at most one space or hyphen, e.g. "4111 1111-1111 1111".
_DIGIT_RUN = re.compile(r"\d+(?:[ -]\d+)*")
_SEPARATOR = re.compile(r"[ -]")
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
_MIN_PAN, _MAX_PAN = 13, 19


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
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def contains_pan(text: str) -> bool:
    """True if any 13-19 digit sequence (spaces/hyphens allowed) in text passes Luhn."""
    for match in _DIGIT_RUN.finditer(text):
        groups = _SEPARATOR.split(match.group())
        # Try every contiguous span of groups so "ref 12 4111 1111 1111 1111" is still caught.
        for start in range(len(groups)):
            digits = ""
            for group in groups[start:]:
                digits += group
                if len(digits) > _MAX_PAN:
                    break
                if len(digits) >= _MIN_PAN and luhn_valid(digits):
                    return True
    return False


def is_cvv_name(name: str) -> bool:
    """Match CVV-style field names regardless of case, underscores or hyphens."""
    normalized = re.sub(r"[^a-z0-9]", "", name.lower())
    return normalized in _CVV_NAMES


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
        child = f"{path}.{key_str}" if len(key_str) <= 64 else f"{path}.<key>"
        if is_cvv_name(key_str):
            raise CardDataError(child, "cvv_field")
        if contains_pan(key_str):
            raise CardDataError(f"{path}.<key>", "card_number")
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
