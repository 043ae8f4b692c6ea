"""The SES message tags that carry an event uid: written within SES's rules, read back exactly."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cis.errors import InvalidFeedbackError
from cis.messages.feedback_tags import (
    EVENT_TAG,
    MAX_EVENT_TAGS,
    MAX_TAG_VALUE,
    event_tags,
    event_uid_from_tags,
)
from cis.messages.invite_rules import UID_PATTERN

SES_TAG = re.compile(r"[A-Za-z0-9_-]{1,256}")


def as_ses_publishes(tags: list[tuple[str, str]]) -> dict[str, object]:
    """`mail.tags` as SES writes them into an event: each name with a list of its values."""
    return {"ses:configuration-set": ["cis"], **{name: [value] for name, value in tags}}


def test_a_plain_uid_is_one_readable_tag() -> None:
    assert event_tags("launch-2026") == [(EVENT_TAG, "launch-2026")]
    assert event_tags("team@example.org") == [(EVENT_TAG, "team_40example_2Eorg")]


@given(st.from_regex(UID_PATTERN, fullmatch=True))
def test_every_uid_a_queue_message_may_carry_fits_and_reads_back(uid: str) -> None:
    tags = event_tags(uid)

    assert 1 <= len(tags) <= MAX_EVENT_TAGS
    assert all(SES_TAG.fullmatch(name) and SES_TAG.fullmatch(value) for name, value in tags)
    assert event_uid_from_tags(as_ses_publishes(tags)) == uid


@given(st.text(min_size=1, max_size=80).filter(lambda text: text.isprintable()))
def test_any_printable_uid_reads_back(uid: str) -> None:
    assert event_uid_from_tags(as_ses_publishes(event_tags(uid))) == uid


def test_a_long_uid_is_split_over_numbered_tags() -> None:
    uid = "." * 255  # every byte escaped: 765 characters

    tags = event_tags(uid)

    assert [name for name, _ in tags] == ["cis-event", "cis-event-2", "cis-event-3"]
    assert all(len(value) <= MAX_TAG_VALUE for _, value in tags)
    assert event_uid_from_tags(as_ses_publishes(tags)) == uid


def test_a_uid_that_would_need_too_many_tags_gets_none() -> None:
    assert event_tags("é" * 255) == []


def test_mail_without_our_tag_names_no_event() -> None:
    assert event_uid_from_tags({"ses:configuration-set": ["cis"]}) is None
    assert event_uid_from_tags({}) is None


@pytest.mark.parametrize(("tags", "words"), [
    ({EVENT_TAG: "launch-2026"}, "not one value"),
    ({EVENT_TAG: ["a", "b"]}, "not one value"),
    ({EVENT_TAG: ["bad value"]}, "not one value"),
    ({EVENT_TAG: ["x" * 257]}, "not one value"),
    ({EVENT_TAG: ["team_4"]}, "an escape is not"),
    ({EVENT_TAG: ["team_2e"]}, "an escape is not"),
    ({EVENT_TAG: ["_41nn"]}, "not written the way cis writes it"),
    ({EVENT_TAG: ["_FF"]}, "not UTF-8"),
    ({EVENT_TAG: ["_0A"]}, "control character"),
    ({"cis-event-2": ["launch"]}, "without the one before it"),
    ({EVENT_TAG: ["a"], "cis-event-3": ["b"]}, "cis-event-3"),
    ({EVENT_TAG: ["a"], "cis-event-2": ["b"], "cis-event-3": ["c"], "cis-event-4": ["d"],
      "cis-event-5": ["e"]}, "one too many"),
])
def test_tags_not_written_by_cis_are_refused_with_the_reason(
    tags: dict[str, object], words: str,
) -> None:
    with pytest.raises(InvalidFeedbackError) as refused:
        event_uid_from_tags(tags)

    assert words in refused.value.reason
