"""The README's Python examples run as written, and do what their comments say."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import cis

README = Path(__file__).resolve().parents[2] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_the_library_examples_run_in_order_and_send_each_message_once() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 2
    namespace: dict[str, Any] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)

    service = namespace["service"]
    messages = service.mailer.messages
    assert len(messages) == 3  # the invitation, the update, the resend
    assert b"METHOD:REQUEST" in messages[1] and b"SEQUENCE:1" in messages[1]
    assert messages[2].count(b"SEQUENCE:1") >= 1
    record = service.repository.get_attendee("kickoff-2027", "bob@example.org")
    assert record is not None and record.sequence == 1
    stats = service.repository.get_statistics("kickoff-2027").as_dict()
    assert (stats["invites_sent"], stats["updates_sent"], stats["resends_sent"]) == (1, 1, 1)
    assert stats["duplicates_skipped"] == 1
    assert isinstance(namespace["report"], cis.BatchReport)
