"""The address check's fast path accepts only what email-validator accepts.

`cis.messages.invite_rules.plainly_valid` lets the common address skip email-validator (and its
import on a cold start); it must never let through an address email-validator refuses. And the
whole check accepts exactly the ASCII addresses email-validator accepts: an internationalised
domain, which email-validator takes, is refused.
"""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cis.messages.invite_rules import address_problem, plainly_valid

ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
LABEL_PIECES = ["a", "Z", "0", "9", "-", "--", "xn--", "ab--", "x" * 61, "é", "_", " "]
TOP_LEVEL = ["org", "COM", "io", "x", "o1", "123", "test", "Local", "localhost", "onion",
             "arpa", "invalid", "example", "xn--p1ai", "co-uk", ""]

local_parts = st.lists(st.text(st.sampled_from(ATEXT + ".\"\\ @é"), min_size=0, max_size=70),
                       min_size=1, max_size=3).map(".".join)
labels = st.lists(st.sampled_from(LABEL_PIECES), min_size=0, max_size=4).map("".join)
domains = st.tuples(st.lists(labels, min_size=0, max_size=4), st.sampled_from(TOP_LEVEL)).map(
    lambda parts: ".".join([*parts[0], parts[1]]))
addresses = st.tuples(local_parts, st.sampled_from(["@", "@@", ""]), domains).map("".join)


def accepted_by_email_validator(address: str) -> bool:
    try:
        validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return False
    return True


@settings(max_examples=3000, deadline=None)
@example(address="a@x.o")
@example(address="a@" + "x" * 63 + ".org")
@example(address="a" * 64 + "@x.org")
@example(address="a@" + ".".join(["x" * 63] * 3) + "." + "y" * 61)
@example(address="a@ab--cd.org")
@example(address="a@sub.localhost")
@given(address=addresses | st.emails() | st.text(max_size=80))
def test_the_fast_path_accepts_nothing_email_validator_refuses(address: str) -> None:
    if plainly_valid(address):
        assert accepted_by_email_validator(address), address


@settings(max_examples=3000, deadline=None)
@example(address="ann@bücher.example")
@example(address="ann@xn--bcher-kva.example")
@example(address="ann@EXAMPLE.\uff43\uff4f\uff4d")  # fullwidth "com", mapped to ASCII
@given(address=addresses | st.emails() | st.text(max_size=80))
def test_the_check_accepts_exactly_the_ascii_addresses_email_validator_accepts(
    address: str,
) -> None:
    accepted = address_problem(address) is None
    assert accepted == (address.isascii() and accepted_by_email_validator(address)), address


@pytest.mark.parametrize("address", [
    "ann@example.org", "Ann.Lee@Example.COM", "first.last+tag@sub.example.co.uk",
    "o'brien@example.ie", "x_y-z@mail-1.example.net",
])
def test_everyday_addresses_take_the_fast_path(address: str) -> None:
    assert plainly_valid(address)
    assert address_problem(address) is None


@pytest.mark.parametrize("address", ["a..b@x.org", "a@localhost", "ann@example", "a@x.test"])
def test_other_addresses_still_get_email_validators_reason(address: str) -> None:
    problem = address_problem(address)
    assert problem is not None and len(problem) > 10
