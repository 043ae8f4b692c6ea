"""Caller text made safe for address headers and iCalendar parameters."""

from __future__ import annotations

import email
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cis.domain.rendering.text import DISPLAY_NAME_WIDTH, common_name, display_name, quoted_width

HEADER_LINE = 78  # RFC 5322 section 2.1.1, and the email package's SMTP policy


def to_header(name: str, address: str = "ann@example.org") -> bytes:
    """The To header as the email package writes it for `name` and `address`."""
    message = EmailMessage(policy=policy.SMTP)
    username, domain = address.rsplit("@", 1)
    message["To"] = Address(display_name=name, username=username, domain=domain)
    return message.as_bytes(policy=policy.SMTP).split(b"\r\n\r\n", 1)[0]


def read_to(header: bytes) -> list[Address]:
    message = email.message_from_bytes(header + b"\r\n\r\n", policy=policy.default)
    return list(message["To"].addresses)


def test_a_name_that_fits_on_a_header_line_is_kept_whole() -> None:
    name = "Lee, Ann (Marketing, EMEA)"
    assert display_name(name) == name
    assert display_name("a" * DISPLAY_NAME_WIDTH) == "a" * DISPLAY_NAME_WIDTH


def test_a_longer_name_is_cut_at_a_space_and_marked() -> None:
    name = "Lee, Ann, Senior Vice President of Global Partnerships and Strategic Alliances"
    assert display_name(name) == (
        "Lee, Ann, Senior Vice President of Global Partnerships and Strategic...")


def test_a_long_word_is_cut_where_the_line_ends() -> None:
    assert display_name("a" * 200) == "a" * (DISPLAY_NAME_WIDTH - 3) + "..."


def test_quotes_and_backslashes_count_twice_as_the_quoted_form_escapes_them() -> None:
    name = '"' * 40
    assert quoted_width(name) == 80
    assert display_name(name) == '"' * 36 + "..."


def test_a_name_with_no_room_left_is_dropped() -> None:
    assert display_name("Ann Lee", width=2) == ""
    assert display_name("Ann Lee", width=-5) == ""
    assert display_name("", width=-5) == ""


def test_the_longest_name_kept_whole_reads_back_quoted_on_a_line_of_its_own() -> None:
    longest = "Lee, " + "a" * (DISPLAY_NAME_WIDTH - 5)
    header = to_header(longest)
    assert header == f'To:\r\n "{longest}"\r\n <ann@example.org>'.encode()
    assert read_to(header)[0].display_name == longest


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.sampled_from(list('ab ,@.:;"\\()<>[]é😀')), max_size=300),
       address=st.sampled_from(["a@b.org", "ann.lee@example.org", "x" * 64 + "@example.org"]))
def test_every_display_name_reads_back_as_the_one_address_it_labels(
    text: str, address: str,
) -> None:
    name = display_name(text)
    assert quoted_width(name) <= DISPLAY_NAME_WIDTH
    header = to_header(name, address)
    (read,) = read_to(header)
    assert read.addr_spec == address
    if name.isascii():
        assert read.display_name == name
        if len(address) + 3 <= HEADER_LINE:
            assert all(len(line) <= HEADER_LINE for line in header.split(b"\r\n"))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Ann Lee", "Ann Lee"),
        ('Ann "Lee"', "Ann 'Lee'"),
        ("Ann^Lee ^^ ^n ^'", "Ann\u02c6Lee \u02c6\u02c6 \u02c6n \u02c6'"),
        (" Ann\r\nLee\t", "Ann Lee"),
    ],
)
def test_common_name_has_no_double_quote_or_caret_for_readers_to_differ_on(
    name: str, expected: str,
) -> None:
    assert common_name(name) == expected
