"""``verify_signature`` is total: whatever a client puts in the headers, the answer is a
bool, and only a well-formed, recent, correct signature is ``True``."""

from __future__ import annotations

import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from workers.outbound import sign, verify_signature

SECRET = "s3cret-for-tests-only-0123456789"
NOW = 1_790_000_000
BODY = b'{"score":40}'
GOOD = sign(SECRET, NOW, BODY)

# Header values as a server hands them over: any text (starlette decodes latin-1, other
# receivers UTF-8), plus the shapes that broke it: other scripts' digits, huge numbers.
header_text = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=40),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.just("9" * 5000),
)


@given(timestamp=header_text, signature=header_text, body=st.binary() | st.text())
@example(timestamp="¹⁷⁹⁰⁰⁰⁰⁰⁰⁰", signature="sha256=00", body=b"")
@example(timestamp="9" * 5000, signature="sha256=00", body=b"")
@example(timestamp=str(NOW), signature="sha256=" + "é" * 64, body=BODY)
@example(timestamp=str(NOW), signature=GOOD, body="\ud800")
@settings(max_examples=500, deadline=None)
def test_any_header_strings_give_a_bool(timestamp: str, signature: str, body: bytes) -> None:
    """Arbitrary timestamp, signature and body never raise; a forged one is never accepted."""
    result = verify_signature(SECRET, timestamp, body, signature, now=NOW)
    assert result is False or (signature.strip() == GOOD and body in (BODY, BODY.decode()))


@given(
    timestamp=st.one_of(
        st.integers(), st.floats(), st.booleans(), st.none(), st.binary(), st.lists(st.integers())
    )
)
@settings(max_examples=200, deadline=None)
def test_timestamps_of_any_type_are_refused_not_raised(timestamp: object) -> None:
    """Negative, huge, float, bool and non-text timestamps are refusals; a recent int works."""
    assert verify_signature(SECRET, timestamp, BODY, GOOD, now=NOW) is False  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("timestamp", "signature", "accepted"),
    [
        (str(NOW), GOOD, True),
        (NOW, GOOD, True),
        (f" {NOW}\t", f" {GOOD} ", True),
        (str(NOW), GOOD.upper().replace("SHA256=", "sha256="), True),
        (str(NOW), GOOD.replace("sha256=", "sha1="), False),
        (str(NOW), GOOD.replace("sha256=", "SHA256="), False),
        (str(NOW), GOOD[:-2], False),
        (str(NOW), GOOD + "00", False),
        (str(NOW), GOOD[:-1] + "g", False),
        (str(NOW), GOOD.removeprefix("sha256="), False),
        (f"+{NOW}", GOOD, False),
        (f"{NOW}.0", GOOD, False),
        (f"-{NOW}", GOOD, False),
        ("\u0661\u0667\u0669\u0660\u0660\u0660\u0660\u0660\u0660\u0660", GOOD, False),
        (str(NOW - 301), sign(SECRET, NOW - 301, BODY), False),
        (str(NOW + 301), sign(SECRET, NOW + 301, BODY), False),
        (str(NOW - 300), sign(SECRET, NOW - 300, BODY), True),
    ],
)
def test_signature_and_timestamp_shapes(timestamp: str, signature: str, accepted: bool) -> None:
    """Only ``sha256=`` and 64 hex digits over ASCII Unix seconds within 5 minutes pass."""
    assert verify_signature(SECRET, timestamp, BODY, signature, now=NOW) is accepted


def test_the_clock_is_read_when_now_is_not_given() -> None:
    """Without ``now``, a fresh signature passes and an hour-old one does not."""
    fresh = int(time.time())
    assert verify_signature(SECRET, str(fresh), BODY, sign(SECRET, fresh, BODY))
    old = fresh - 3600
    assert not verify_signature(SECRET, str(old), BODY, sign(SECRET, old, BODY))
