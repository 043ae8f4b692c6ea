"""A long text never costs the invitation: it is cut at a clean boundary, marked, and counted."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cis.adapters.memory import InMemoryInviteRepository, InMemoryMailer
from cis.bootstrap import build_service
from cis.domain.limits import (
    MAX_DESCRIPTION_HTML_LENGTH,
    MAX_DESCRIPTION_LENGTH,
    MAX_LOCATION_LENGTH,
    MAX_SUMMARY_LENGTH,
)
from cis.domain.model import Invitee
from cis.domain.rendering.text import sanitise_html
from cis.domain.shortening import (
    HTML_MARK,
    LINE_MARK,
    TEXT_MARK,
    shorten_html,
    shorten_line,
    shorten_text,
)
from cis.errors import InvalidRequestError
from cis.messages.event_json import event_from_text, event_text
from cis.messages.invite_format import MAX_BODY_BYTES, encode_request, parse_body
from cis.messages.invite_validator import validate_event
from cis.ports.queue import QueueRecord
from cis.services.invites import Outcome
from tests.support import RSVP_EMAIL, SENDER, Clock, body, counter_ids, event_json

WORDS = "The quarterly review covers revenue, hiring and the roadmap. " * 400


def parsed(**event: Any) -> Any:
    return parse_body(body("ann@example.org", **event)).event


def test_a_description_of_20001_characters_is_cut_and_the_invitation_is_sent() -> None:
    service_repository = InMemoryInviteRepository()
    mailer = InMemoryMailer()
    service = build_service(repository=service_repository, mailer=mailer, sender=SENDER,
                            rsvp_email=RSVP_EMAIL, clock=Clock(), new_id=counter_ids())
    long = body("ann@example.org", description="x" * (MAX_DESCRIPTION_LENGTH + 1))
    report = service.process_batch([QueueRecord("m1", long)])

    assert [r.outcome for r in report.results] == [Outcome.SENT]
    assert len(mailer.sent) == 1
    statistics = service_repository.get_statistics("launch-2026")
    assert (statistics.invites_sent, statistics.texts_shortened,
            statistics.requests_rejected) == (1, 1, 0)
    assert statistics.as_dict()["texts_shortened"] == 1
    assert service_repository.recount("launch-2026") == statistics


@pytest.mark.parametrize(("field", "limit", "mark"), [
    ("summary", MAX_SUMMARY_LENGTH, LINE_MARK),
    ("location", MAX_LOCATION_LENGTH, LINE_MARK),
    ("description", MAX_DESCRIPTION_LENGTH, TEXT_MARK),
    ("description_html", MAX_DESCRIPTION_HTML_LENGTH, HTML_MARK),
])
def test_each_long_text_is_cut_to_its_limit_and_ends_in_a_visible_mark(
    field: str, limit: int, mark: str,
) -> None:
    text = (WORDS * 10)[: limit + 500]
    event = parsed(**{field: text})
    cut = getattr(event, field)
    assert len(cut) <= limit
    assert cut.endswith(mark)
    assert text.startswith(cut.removesuffix(mark))
    assert event.shortened == (field,)
    # At a word: what is kept ends with a whole word of the original.
    kept = cut.removesuffix(mark)
    assert text[len(kept)] == " " or kept.endswith(">")


@pytest.mark.parametrize("field", ["summary", "location", "description", "description_html"])
def test_a_text_at_its_limit_is_left_alone(field: str) -> None:
    limit = {"summary": MAX_SUMMARY_LENGTH, "location": MAX_LOCATION_LENGTH,
             "description": MAX_DESCRIPTION_LENGTH,
             "description_html": MAX_DESCRIPTION_HTML_LENGTH}[field]
    event = parsed(**{field: "y" * limit})
    assert getattr(event, field) == "y" * limit
    assert event.shortened == ()


def test_a_description_is_cut_at_a_paragraph_where_it_can_be() -> None:
    text = ("A paragraph of words.\n\n" * 2000)[: MAX_DESCRIPTION_LENGTH + 100]
    cut = shorten_text(text, MAX_DESCRIPTION_LENGTH)
    assert cut.endswith("A paragraph of words." + TEXT_MARK)


ENGLAND = "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"


@pytest.mark.parametrize("unit", [
    "e\u0301", "👩\u200d👩\u200d👧", "🇩🇪", "👍🏽", "ñ", "a\u0308\u0301", "☺\ufe0f", ENGLAND])
def test_a_cut_without_a_space_never_splits_what_a_reader_sees_as_one_character(
    unit: str,
) -> None:
    text = unit * (MAX_SUMMARY_LENGTH * 2 // len(unit))
    cut = shorten_line(text, MAX_SUMMARY_LENGTH).removesuffix(LINE_MARK)
    assert len(cut) % len(unit) == 0
    assert cut == unit * (len(cut) // len(unit))
    assert 0 < len(cut) <= MAX_SUMMARY_LENGTH - len(LINE_MARK)


@pytest.mark.parametrize("tail", [
    '<a href="https://example.org/a very long title">', "<!-- a comment that goes on",
    "&amp", "&#x3c", '<p title="x &amp; y', "<table><tr><td>"])
def test_html_is_never_cut_inside_a_tag_a_comment_or_an_entity(tail: str) -> None:
    room = MAX_DESCRIPTION_HTML_LENGTH - len(HTML_MARK)
    text = "<p>" + "z" * (room - 3 - 5) + tail + "q" * 200
    cut = shorten_html(text, MAX_DESCRIPTION_HTML_LENGTH)
    kept = cut.removesuffix(HTML_MARK)
    assert len(cut) <= MAX_DESCRIPTION_HTML_LENGTH
    assert text.startswith(kept)
    assert kept.count("<") == kept.count(">")
    assert "&amp" not in kept[-5:] and "&#x3c" not in kept[-6:]
    sent = sanitise_html(cut)
    assert sent.endswith("<p>[…]</p>")


def test_an_event_stored_after_its_cut_reads_back_within_its_limits() -> None:
    event = parsed(description=WORDS, summary="S" * 5000)
    again = event_from_text(event_text(event))
    assert again == event
    assert len(again.description or "") <= MAX_DESCRIPTION_LENGTH
    assert again.shortened == ()  # already within its limits: nothing more to cut


def test_a_body_written_from_a_cut_event_holds_the_cut_text() -> None:
    request = parse_body(body("ann@example.org", location="L" * 3000))
    written = json.loads(encode_request(request))["event"]
    assert written["location"] == request.event.location
    assert len(written["location"]) <= MAX_LOCATION_LENGTH


def test_event_json_is_cut_as_a_body_is() -> None:
    event = validate_event(event_json(description=WORDS))
    assert event.shortened == ("description",)
    assert event == parsed(description=WORDS)


def test_what_no_cut_can_make_valid_is_still_refused() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(body("ann@example.org", summary="Hi\r\nBcc: x@y.z" + "x" * 2000))
    assert (caught.value.field, caught.value.reason) == (
        "event.summary", "must not contain line breaks or control characters")
    with pytest.raises(InvalidRequestError) as caught:
        parse_body(body("ann@example.org", description="x" * MAX_BODY_BYTES))
    assert caught.value.field == "body"
    assert caught.value.reason == f"body is larger than {MAX_BODY_BYTES} bytes"


@settings(max_examples=300, deadline=None)
@given(text=st.text(min_size=0, max_size=1500), limit=st.integers(20, 1200))
@example(text="a" * 30 + " " + "b" * 30, limit=40)
def test_any_cut_is_a_start_of_the_text_with_the_mark_within_the_limit(
    text: str, limit: int,
) -> None:
    for shorten, mark in ((shorten_line, LINE_MARK), (shorten_text, TEXT_MARK)):
        cut = shorten(text, limit)
        assert len(cut) <= max(limit, len(text) if len(text) <= limit else 0)
        if len(text) <= limit:
            assert cut == text
            continue
        kept = cut.removesuffix(mark)
        assert cut.endswith(mark) and text.startswith(kept)
        if kept and len(kept) < len(text):
            assert unicodedata.category(text[len(kept)]) not in ("Mn", "Me", "Mc")


def test_an_invitee_is_unaffected_by_a_long_text() -> None:
    request = parse_body(body("ann@example.org", name="Ann", description=WORDS))
    assert request.invitee == Invitee("ann@example.org", name="Ann")
