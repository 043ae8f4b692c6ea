"""The `cis` command's exit statuses: what a script that runs it may rely on."""

from __future__ import annotations

import signal

__all__ = ["DONE", "EPILOG", "INCOMPLETE", "PERMANENT", "USAGE", "interrupted"]

DONE = 0
"""Everything asked was done: every row sent or already invited."""
INCOMPLETE = 1
"""Some rows were rejected, failed or left pending (running again retries the pending ones)."""
USAGE = 2
"""Bad usage or input: nothing was sent because of it (a run stopped by it reports what it
had sent before)."""
PERMANENT = 3
"""The state file or the mail target refuses, for a reason that does not pass by itself (a
read-only file, a folder that cannot be written); nothing was sent."""


def interrupted(signum: int) -> int:
    """128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as shells report it."""
    return 128 + signum


EPILOG = (
    f"Exit status: {DONE} all done; {INCOMPLETE} some rows rejected, failed or pending (run "
    f"again to retry pending ones); {USAGE} bad usage or input; {PERMANENT} the state file or "
    "the mail target cannot be written, which does not pass by itself (nothing was sent); "
    f"{interrupted(signal.SIGINT)} or {interrupted(signal.SIGTERM)} stopped by SIGINT (Ctrl-C) "
    "or SIGTERM, after finishing and recording the invitation in hand."
)
