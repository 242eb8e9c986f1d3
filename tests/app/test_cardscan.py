"""Card-number and CVV detection (test PANs only)."""

from __future__ import annotations

import pytest
from payment_app.cardscan import CardDataError, contains_pan, is_cvv_name, luhn_valid, scan


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "pay 5500 0000 0000 0004 now",
        "378282246310005",  # 15-digit Amex test number
        "ref 12 4111 1111 1111 1111",
        "6011000990139424",
    ],
)
def test_detects_pans(text: str) -> None:
    assert contains_pan(text)


@pytest.mark.parametrize(
    "text", ["4111111111111112", "123456789012", "order 1001", "2024-06-01", "tok_abc123"]
)
def test_ignores_non_pans(text: str) -> None:
    assert not contains_pan(text)


def test_luhn() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


@pytest.mark.parametrize("name", ["cvv", "CVV2", "cvc", "security_code", "Security-Code", "cid"])
def test_cvv_names(name: str) -> None:
    assert is_cvv_name(name)


def test_scan_reports_path_not_value() -> None:
    with pytest.raises(CardDataError) as info:
        scan({"a": [{"b": "x 4111111111111111"}]})
    assert info.value.path == "body.a[0].b"
    assert "4111" not in str(info.value)
