"""The stored version of an event, and paging its attendees, on every adapter."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from cis.domain.model import ClaimOutcome, EventStatus
from tests.support import FROZEN_NOW, make_claim, sample_event

UID = "launch-2026"


def test_a_newer_version_replaces_the_stored_one_and_an_older_never_does(
    repository: Any,
) -> None:
    first = sample_event(UID)
    assert repository.get_event(UID) is None
    assert repository.record_event(first).event == first

    renamed = replace(first, summary="Launch, renamed", sequence=1)
    stored = repository.record_event(renamed)
    assert (stored.event, stored.times_changed_at) == (renamed, 0)

    late = replace(first, summary="A late copy of version 0")
    assert repository.record_event(late).event == renamed
    assert repository.get_event(UID).event == renamed


def test_a_version_that_moves_the_time_is_where_answers_count_from(repository: Any) -> None:
    first = sample_event(UID)
    repository.record_event(first)
    moved = replace(first, start=first.start + dt.timedelta(hours=1),
                    end=first.end + dt.timedelta(hours=1), sequence=2)
    assert repository.record_event(moved).times_changed_at == 2
    renamed = replace(moved, summary="Renamed", sequence=3)
    assert repository.record_event(renamed).times_changed_at == 2
    cancelled = replace(renamed, status=EventStatus.CANCELLED, sequence=4)
    assert repository.record_event(cancelled).event.status is EventStatus.CANCELLED


def test_a_stored_event_reads_back_as_the_same_instants_in_its_zone(repository: Any) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 02:30 on the night clocks go back happens twice; the second one must come back.
    start = dt.datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=berlin)
    event = sample_event(UID, start=start, end=start + dt.timedelta(hours=1),
                         timezone="Europe/Berlin", description="Notes\nand more")
    repository.record_event(event)
    stored = repository.get_event(UID).event
    assert stored.start == event.start and stored.end == event.end
    assert stored.start.utcoffset() == dt.timedelta(hours=1)
    assert (stored.timezone, stored.description) == ("Europe/Berlin", "Notes\nand more")


def test_a_fan_out_notes_its_progress_only_on_the_version_it_sends(repository: Any) -> None:
    repository.record_event(replace(sample_event(UID), sequence=1))
    assert repository.record_fan_out(UID, 1, to="m@example.org", done=False) is True
    stored = repository.get_event(UID)
    assert (stored.fanned_out_to, stored.fan_out_done) == ("m@example.org", False)
    assert repository.record_fan_out(UID, 1, to=None, done=True) is True
    assert repository.get_event(UID).fan_out_done is True
    assert repository.record_fan_out(UID, 0, to="x@example.org", done=False) is False
    assert repository.record_fan_out("other", 1, to=None, done=True) is False
    repository.record_event(replace(sample_event(UID), sequence=2))
    fresh = repository.get_event(UID)
    assert (fresh.fanned_out_to, fresh.fan_out_done) == (None, False)


def test_attendees_are_paged_by_address_and_a_page_resumes_after_its_last(
    repository: Any,
) -> None:
    addresses = [f"guest{n:02d}@example.org" for n in range(7)]
    for address in reversed(addresses):
        assert repository.claim(make_claim(address, f"t-{address}", FROZEN_NOW)) is (
            ClaimOutcome.CLAIMED)
    repository.claim(make_claim("zed@example.org", "t-other", FROZEN_NOW, uid="other-event"))
    repository.record_event(sample_event(UID))

    pages, after = [], None
    while page := repository.attendee_page(UID, after=after, limit=3):
        pages.append([record.key.address for record in page])
        after = page[-1].key.address
    assert pages == [addresses[0:3], addresses[3:6], addresses[6:7]]
    assert repository.attendee_page(UID, after="guest04@example.org", limit=10)[0].key.address == (
        "guest05@example.org")


def test_concurrent_writers_of_newer_versions_leave_the_newest(repository: Any) -> None:
    base = sample_event(UID)
    repository.record_event(base)
    barrier = threading.Barrier(4)

    def write(sequence: int) -> None:
        barrier.wait()
        repository.record_event(replace(base, sequence=sequence, summary=f"v{sequence}"))

    threads = [threading.Thread(target=write, args=(n,)) for n in (3, 1, 4, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert repository.get_event(UID).event.summary == "v4"
