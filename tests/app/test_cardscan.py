"""Card-number and CVV detection: every spelling of a PAN is found, identifiers are not."""

from __future__ import annotations

import random
import re
import time
import unicodedata
import uuid

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from payment_app.cardscan import (
    IIN_RANGES,
    REDACTED,
    CardDataError,
    brand_lengths,
    contains_pan,
    is_cvv_name,
    is_pan,
    luhn_valid,
    redact,
    scan,
)

# Every separator the scanner must see through: spaces of every kind, zero-width characters,
# punctuation, control characters and dashes.
SEPARATORS = (
    " ",
    "-",
    ".",
    "_",
    "/",
    ":",
    "\t",
    "\n",
    "\r\n",
    "\u00a0",  # no-break space
    "\u2007",  # figure space
    "\u2009",  # thin space
    "\u202f",  # narrow no-break space
    "\u3000",  # ideographic space
    "\u200b",  # zero-width space
    "\u200c",  # zero-width non-joiner
    "\u200d",  # zero-width joiner
    "\u2060",  # word joiner
    "\ufeff",  # zero-width no-break space
    "\u00ad",  # soft hyphen
    "\u2010",  # hyphen
    "\u2011",  # non-breaking hyphen
    "\u2013",  # en dash
    "\u2014",  # em dash
    "\u2212",  # minus sign
    "\ufe63",  # small hyphen-minus
    "\uff0d",  # fullwidth hyphen-minus
)
# The zero of every decimal-digit script in the first two planes (fullwidth, Arabic-Indic,
# Devanagari, mathematical bold...): each script's digits are zero + 0..9.
DIGIT_ZEROS = tuple(
    cp
    for cp in range(0x20000)
    if unicodedata.category(chr(cp)) == "Nd" and unicodedata.decimal(chr(cp)) == 0
)
NON_HEX_WORDS = st.text(alphabet="ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8)
WORDS = st.lists(st.sampled_from(["pay", "card", "ref", "order", "Kunde", "карта", "num"]))


def complete_luhn(partial: str) -> str:
    """partial plus the check digit that makes it pass Luhn."""
    for check in "0123456789":
        if luhn_valid(partial + check):
            return partial + check
    raise AssertionError("unreachable: one check digit always fits")


@st.composite
def pans(draw: st.DrawFn) -> str:
    """A PAN every brand could issue: a prefix in an IIN range, a brand length, Luhn."""
    row = draw(st.sampled_from(IIN_RANGES))
    length = draw(st.sampled_from(sorted(n for n in row.lengths if 13 <= n <= 19)))
    width = len(row.low)
    prefix = str(draw(st.integers(int(row.low), int(row.high)))).zfill(width)
    body = draw(st.text(alphabet="0123456789", min_size=length - width - 1))
    return complete_luhn((prefix + body)[: length - 1])


def spell(digits: str, zeros: list[int]) -> str:
    """The digits in the given scripts, one zero code point per digit (cycled)."""
    return "".join(chr(zeros[i % len(zeros)] + int(d)) for i, d in enumerate(digits))


@st.composite
def disguised(draw: st.DrawFn, pan: str) -> str:
    """pan written as a person or a program might: any script, any separators, in a longer
    digit run, inside text."""
    zeros = draw(st.lists(st.sampled_from(DIGIT_ZEROS), min_size=1, max_size=3))
    gaps = draw(
        st.lists(
            st.lists(st.sampled_from(SEPARATORS), max_size=2).map("".join),
            min_size=len(pan) - 1,
            max_size=len(pan) - 1,
        )
    )
    gaps = [gap if len(gap) <= 3 else gap[:3] for gap in gaps]  # "\r\n" twice would be 4
    spelled = spell(pan, zeros)
    text = spelled[0] + "".join(gap + char for gap, char in zip(gaps, spelled[1:], strict=True))
    before = draw(st.text(alphabet="0123456789", max_size=6))
    after = draw(st.text(alphabet="0123456789", max_size=6))
    joint = draw(st.sampled_from(["", " ", "-", "\u200b"]))
    text = f"{before}{joint if before else ''}{text}{joint if after else ''}{after}"
    words_before, words_after = draw(WORDS), draw(WORDS)
    glue = draw(st.sampled_from([" ", ": ", "\n", "#"]))
    if draw(st.booleans()):  # glued to letters ("card4111..."), none of them hex digits
        return draw(NON_HEX_WORDS) + text + draw(NON_HEX_WORDS)
    return " ".join(words_before) + glue + text + glue + " ".join(words_after)


# The scanner's one documented exemption, written independently and broader: a whole ISO
# date-time ("2026-12-02 14:41:24") is a timestamp, not a spelling of a card number.
DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d")


def normalised(text: str) -> str:
    """NFKC with every Unicode digit made ASCII, independent of the scanner."""
    return "".join(
        str(unicodedata.decimal(c)) if unicodedata.category(c) == "Nd" else c
        for c in unicodedata.normalize("NFKC", text)
    )


def normalised_digit_runs(text: str) -> list[str]:
    """Independent of the scanner: NFKC, Unicode digits to ASCII, then the digits of every
    letter-free stretch (separators dropped), where a hidden PAN would still show."""
    norm = normalised(text)
    return [re.sub(r"[^0-9]", "", part) for part in re.split(r"[^\W\d_]+", norm)]


HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYPOTHESIS
@given(data=st.data())
def test_every_disguise_of_a_pan_is_refused_and_redacted(data: st.DataObject) -> None:
    pan = data.draw(pans())
    assert is_pan(pan)
    text = data.draw(disguised(pan))
    assume(not DATE_TIME.search(normalised(text)))  # the exemption, tested on its own below

    with pytest.raises(CardDataError) as value_error:
        scan({"description": text})
    assert value_error.value.kind == "card_number"
    assert value_error.value.path == "body.description"
    with pytest.raises(CardDataError) as key_error:
        scan({"metadata": {text: "x"}})
    assert key_error.value.path == "body.metadata.<key>"

    out = redact(text)
    assert REDACTED in out
    assert not contains_pan(out)
    assert all(pan not in run for run in normalised_digit_runs(out))


@HYPOTHESIS
@given(pan=pans(), filler=st.text(alphabet="0123456789", min_size=20, max_size=60))
def test_pan_inside_a_long_digit_run_is_found(pan: str, filler: str) -> None:
    cut = len(filler) // 2
    text = filler[:cut] + pan + filler[cut:]  # 33-79 digits, no separator at all
    assert contains_pan(text)
    assert all(pan not in run for run in normalised_digit_runs(redact(text)))


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "pay 5500 0000 0000 0004 now",
        "378282246310005",  # Amex test number
        "ref 12 4111 1111 1111 1111",
        "6011000990139424",
        "4111.1111.1111.1111",
        "4111_1111_1111_1111",
        "4111/1111/1111/1111",
        "4111:1111:1111:1111",
        "4111\t1111\t1111\t1111",
        "4111\n1111\n1111\n1111",
        "4111\u00a01111\u00a01111\u00a01111",
        "4111\u200b1111\u200b1111\u200b1111",
        "4111\u20131111\u20131111\u20131111",
        "\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11",
        "\u0664\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661\u0661",
        "000000004111111111111111999999",
        "card4111111111111111",
        "2223000048400011",  # Mastercard 2-series
        "3530111333300000",  # JCB
        "36227206271667",  # Diners, 14 digits
        "6200000000000005",  # UnionPay
        " 4000000 00:00:06 ",  # colons that spell a time: only a whole date-time is exempt
        "4000-01-01 00002",  # dashes that spell a date
    ],
)
def test_detects_pans(text: str) -> None:
    assert contains_pan(text)
    assert redact(text).count(REDACTED) == 1


@pytest.mark.parametrize(
    "text",
    [
        "4111111111111112",  # fails Luhn
        "123456789012",
        "order 1001",
        "2024-06-01",
        "tok_abc123",
        "1000000000000008",  # Luhn-valid, but no brand issues IIN 1
        "9999999999999995",  # nor IIN 9
        "3400000000000009",  # Luhn-valid Amex prefix, but 16 digits (Amex issues 15)
        "4111 1111 1111 1111".replace("1111 1111", "1111 x 1111"),  # a letter ends the run
        "4111 1111    1111 1111",  # four spaces: two numbers, not one
    ],
)
def test_ignores_non_pans(text: str) -> None:
    assert not contains_pan(text)
    assert redact(text) == text


def test_brand_table() -> None:
    assert brand_lengths("411111") == {13, 16, 19}
    assert brand_lengths("622126") >= {16, 17, 18, 19}
    assert brand_lengths("222100") == {16}
    assert brand_lengths("272100") == frozenset()
    assert brand_lengths("340000") == {15}
    assert brand_lengths("100000") == frozenset()


def test_luhn() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")


def test_redact_keeps_the_rest_of_the_text() -> None:
    text = "paid with 4111 1111 1111 1111, order 1001"
    assert redact(text) == f"paid with {REDACTED}, order 1001"
    assert redact("no card here") == "no card here"
    both = redact("a 4111111111111111 b \uff15\uff15\uff10\uff10 0000 0000 0004 c")
    assert both == f"a {REDACTED} b {REDACTED} c"


def test_identifier_tokens_are_not_card_numbers() -> None:
    """A 20+ hex word with a letter (UUIDs, digests, references) is an identifier; an all-digit
    one, or a PAN glued to other letters, is still scanned."""
    assert not contains_pan("703d6997-8473-4870-8613-498707017316")
    assert not contains_pan("sim_0b8474870861349870701731")
    assert contains_pan("41111111-1111-1111-1111-111111111111")  # no letter: scanned
    assert contains_pan("x4111111111111111y")


def test_only_a_whole_date_time_is_exempt() -> None:
    """A logged or stored timestamp is 14-24 digits: its date and time together are exempt;
    either alone is not, so a PAN split to look like one is still found."""
    assert not contains_pan("2026-12-02 14:41:24.953405+00:00")
    assert not contains_pan("2026-12-02T14:41:24.953Z 4111")
    assert contains_pan("4111111111 11:11:11")  # a time after the digits: still a PAN
    assert contains_pan("2026-13-02 4111111111111111")  # month 13: not a date, and a PAN


def test_random_uuids_and_everyday_text_are_not_card_numbers() -> None:
    """The false positives that made the old scanner refuse good requests: pure CPU, so it
    must also stay fast (bodies are scanned on every request)."""
    rng = random.Random(20240601)
    started = time.perf_counter()
    for _ in range(100_000):
        value = uuid.UUID(bytes=rng.randbytes(16), version=4)  # exactly what uuid4() builds
        scan([str(value), value.hex])
    everyday = [
        "order 1001",
        "Invoice 2024-06-01 #A1234",
        "Invoice INV-2024-000123, due 2024-07-01",
        "order-2024-000123",
        "+1 (555) 123-4567",
        "+44 20 7946 0958",
        "call 0800 123 4567 or +49 30 901820",
        "2024-06-01T12:30:45.123Z",
        "01/06/2024 12:30",
        "EUR 1,234.56",
        "USD 1.000.000,00",
        "amount 12500 minor units",
        "SKU 4006381333931 x2",  # EAN-13 barcode: Luhn-like, no brand prefix
        "IBAN DE89 3704 0044 0532 0130 00",
        "tracking 1Z999AA10123456784",
        "room 101, floor 3, building 7",
        "tok_abcdEFGHijkl",
    ]
    for text in everyday:
        scan({"description": text})
    elapsed = time.perf_counter() - started
    # About 1.1 s alone on one core; the bound leaves room for a loaded CI machine.
    assert elapsed < 5.0, f"false-positive sweep took {elapsed:.2f} s"


@pytest.mark.parametrize(
    "name",
    [
        "cvv",
        "CVV2",
        "cvc",
        "security_code",
        "Security-Code",
        "cid",
        "\uff23\uff36\uff36",  # fullwidth CVV
        "c\u200bv\u200bv",  # zero-width spaces
        "card.cvc",
        "cvv\uff12",  # fullwidth digit two
        "card_verification_value",
    ],
)
def test_cvv_names(name: str) -> None:
    assert is_cvv_name(name)
    with pytest.raises(CardDataError) as info:
        scan({name: "123"})
    assert info.value.kind == "cvv_field"


def test_scan_reports_path_not_value() -> None:
    with pytest.raises(CardDataError) as info:
        scan({"a": [{"b": "x 4111111111111111"}]})
    assert info.value.path == "body.a[0].b"
    assert "4111" not in str(info.value)


def test_a_pan_key_never_enters_the_path() -> None:
    with pytest.raises(CardDataError) as info:
        scan({"meta": {"4111 1111 1111 1111": {"cvv": "1"}}})
    assert info.value.path == "body.meta.<key>"
    assert info.value.kind == "card_number"
    with pytest.raises(CardDataError) as nested:
        scan({"k\u200b": {"cvv": "1"}})  # a harmless key stays readable in the path
    assert nested.value.path == "body.k\u200b.cvv"
