"""A state file or outbox folder that cannot be written: said plainly, once, as permanent.

Without the check, such a run claims nobody or writes nothing, retries each row and reports
every attendee as "pending, run again", with the cause shown only with -v.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

CIS = Path(sys.executable).parent / "cis"
EXAMPLES = Path(__file__).parents[2] / "examples"
UID = "launch-2026@example.org"
NOBODY = 65534


def cis(
    *args: str | Path, cwd: Path, run_as: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    env = {"PATH": str(CIS.parent), "HOME": str(cwd), "LANG": "C.UTF-8"}
    return subprocess.run([*run_as, str(CIS), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder another user can enter too: read-only only stops a user who is not root."""
    folder = Path(tempfile.mkdtemp(prefix="cis-permanent-"))
    folder.chmod(0o755)
    shutil.copy(EXAMPLES / "event.json", folder / "event.json")
    shutil.copy(EXAMPLES / "attendees.csv", folder / "attendees.csv")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def unprivileged(workdir: Path) -> list[str]:
    """How to run `cis` so that file permissions apply: as nobody when the tests run as root."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, and no setpriv to run as another user")
    for path in (workdir, *workdir.rglob("*")):
        os.chown(path, NOBODY, NOBODY)
    run_as = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    if cis("--help", cwd=workdir, run_as=run_as).returncode != 0:
        pytest.skip("the virtualenv cannot be run by another user here")
    return run_as


def assert_permanent(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 3, result.stdout + result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert "This does not pass by itself" in result.stderr
    assert "nothing was sent" in result.stderr
    assert "run again" not in result.stdout
    assert "Traceback" not in result.stderr


def test_a_read_only_state_file_is_refused_plainly_before_anything_is_sent(
    workdir: Path, unprivileged: list[str],
) -> None:
    assert cis("send", "event.json", "attendees.csv", cwd=workdir,
               run_as=unprivileged).returncode == 1
    with (workdir / "attendees.csv").open("a", encoding="utf-8") as handle:
        handle.write("frank@example.org,Frank,web\n")
    for name in ("cis.db", "cis.db-wal", "cis.db-shm"):
        if (workdir / name).exists():
            (workdir / name).chmod(0o444)
    sent_before = sorted(workdir.rglob("*.eml"))

    result = cis("send", "event.json", "attendees.csv", cwd=workdir, run_as=unprivileged)
    assert_permanent(result, "cannot write the state file cis.db", "readonly database")
    assert sorted(workdir.rglob("*.eml")) == sent_before

    update = cis("cancel", "event.json", cwd=workdir, run_as=unprivileged)
    assert update.returncode == 3, update.stderr
    assert "cannot write the state file cis.db" in update.stderr


def test_an_outbox_folder_that_cannot_be_written_is_refused_plainly(
    workdir: Path, unprivileged: list[str],
) -> None:
    (workdir / "outbox").mkdir()
    if unprivileged:
        os.chown(workdir / "outbox", NOBODY, NOBODY)
    (workdir / "outbox").chmod(0o555)
    result = cis("send", "event.json", "attendees.csv", cwd=workdir, run_as=unprivileged)
    assert_permanent(result, "cannot write the outbox folder outbox", "Permission denied")
    assert not list(workdir.rglob("*.eml"))

    (workdir / "outbox").chmod(0o755)
    again = cis("send", "event.json", "attendees.csv", cwd=workdir, run_as=unprivileged)
    assert again.returncode == 1, again.stderr
    assert "sent: 4, already invited: 1, rejected: 1, failed: 0, pending: 0" in again.stdout


def test_an_outbox_under_a_file_is_refused_plainly_and_claims_nobody(workdir: Path) -> None:
    (workdir / "notes.txt").write_text("not a folder\n", "utf-8")
    result = cis("send", "event.json", "attendees.csv", "--outbox", "notes.txt/outbox",
                 cwd=workdir)
    assert_permanent(result, "cannot write the outbox folder notes.txt/outbox",
                     "notes.txt is not a folder")

    # Nobody was claimed: the next run, to a folder that works, sends everyone at once.
    again = cis("send", "event.json", "attendees.csv", cwd=workdir)
    assert "sent: 4, already invited: 1, rejected: 1, failed: 0, pending: 0" in again.stdout


def test_a_state_file_in_a_folder_that_is_not_there_is_refused_plainly(workdir: Path) -> None:
    result = cis("send", "event.json", "attendees.csv", "--state", "missing/cis.db",
                 cwd=workdir)
    assert_permanent(result, "cannot open the state file missing/cis.db")
    assert not list(workdir.rglob("*.eml"))
