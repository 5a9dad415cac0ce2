"""The journal failing under a running daemon: no payment goes out that the journal did
not take first, the failure shows where ops look (``/v1/health``, ``posdriver check``,
/metrics, the fault record), and payments come back by themselves once the disk does.

The state directory is on a real tmpfs filled to the last byte (root only), or its
journal file is deleted under the daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.mounts import IS_ROOT, fill_up
from tests.support.served import SERVED_CONFIG, Served, serve
from tests.support.timing import wait_until

NEEDS_ROOT = pytest.mark.skipif(not IS_ROOT, reason="a small tmpfs to fill needs root")


def _check(served: Served) -> tuple[int, dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-m", "posdriver", "check", "--json", "--api", served.api[7:]],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )
    return done.returncode, json.loads(done.stdout)


def _charged(served: Served) -> int:
    with urllib.request.urlopen(served.terminal_control + "/ledger", timeout=5) as answer:
        ledger = json.loads(answer.read())
    entries = ledger["entries"] if isinstance(ledger, dict) else ledger
    return sum(1 for e in entries if e["state"] == "charged")


@NEEDS_ROOT
def test_a_full_disk_stops_payments_shows_critical_and_payments_resume_when_room_is_made(
    tmp_path: Path, tmpfs: Callable[[str], Path]
) -> None:
    state = tmpfs("3m") / "state"
    # a tiny disk: no warning for little space; the full disk itself is the fault
    config = SERVED_CONFIG + "free_space_warning_mib = 1\nfree_space_critical_mib = 0\n"
    with serve(tmp_path, config, state=state) as served:
        first = served.sale("10.00")
        served.await_state(first, "approved", 20, "the first sale")
        wait_until(lambda: served.get("/v1/health")[1]["journal"]["status"] == "ok", 10, "ok")
        assert served.sample("posdriver_journal_writable") == 1.0
        charged = _charged(served)
        filler = fill_up(state.parent)

        status, body = served.post("/v1/operations", {"kind": "sale", "amount": "11.00"})
        assert status >= 500, body  # not started: its intent could not be written
        assert _charged(served) == charged, "nothing may reach the terminal"

        status, health = served.get("/v1/health")
        assert status == 503 and health["status"] == "critical"
        assert health["journal"]["status"] == "critical"
        assert health["journal"]["writable"] is False
        assert str(state) in health["journal"]["text"]
        assert served.sample("posdriver_journal_writable") == 0.0
        errors = served.sample("posdriver_journal_write_errors_total")
        assert errors is not None and errors >= 1
        code, checked = _check(served)
        assert code == 2 and checked["journal"]["status"] == "critical"  # type: ignore[index]

        filler.unlink()
        # the daemon's probe finds the room again without waiting for a payment
        wait_until(lambda: served.get("/v1/health")[1]["journal"]["status"] == "ok", 20, "ok again")
        assert served.sample("posdriver_journal_writable") == 1.0
        again = served.sale("12.00")
        served.await_state(again, "approved", 20, "a sale after room was made")
        assert _charged(served) == charged + 1
        code, checked = _check(served)
        assert checked["journal"]["status"] == "ok"  # type: ignore[index]
        status, incidents = served.get("/v1/incidents")
        # the outage itself could not be written while the disk was full; its end says
        # since when it lasted and why
        recovered = [i for i in incidents if i["device"] == "journal"]
        assert [i["category"] for i in recovered] == ["recovered"], recovered
        assert "journal check was critical from" in recovered[0]["fault"]
        assert "No space left" in recovered[0]["fault"] or "no space" in recovered[0]["fault"]


def test_a_journal_deleted_under_the_daemon_takes_no_payment_and_keeps_what_it_held(
    tmp_path: Path,
) -> None:
    """Deleted by mistake while the daemon runs: a payment journaled now would be in a
    file no one can read, gone at the next start. None is taken; the check says so and
    where the copy of what the daemon still held is; put back, it has every payment."""
    journal = tmp_path / "state" / "journal.sqlite3"
    with serve(tmp_path) as served:
        first = served.sale("10.00")
        served.await_state(first, "approved", 20, "the first sale")
        charged = _charged(served)
        journal.unlink()

        status, body = served.post("/v1/operations", {"kind": "sale", "amount": "11.00"})
        assert status == 503 and "nothing was sent to the terminal" in body["error"], body
        assert str(journal) in body["error"]
        assert _charged(served) == charged, "nothing may reach the terminal"

        def journal_check() -> dict[str, object]:
            return dict(served.get("/v1/health")[1]["journal"])

        wait_until(lambda: "saved as" in str(journal_check()["text"]), 10, "the copy made")
        (rescued,) = journal.parent.glob("journal.sqlite3.rescued-*")
        assert journal_check()["status"] == "critical" and str(rescued) in str(journal_check())
        assert served.sample("posdriver_journal_writable") == 0.0
        code, checked = _check(served)
        assert code == 2 and str(rescued) in checked["journal"]["text"]  # type: ignore[index]
        assert served.process.poll() is None
    rescued.rename(journal)  # as the check says: the daemon stopped, the copy put back
    with serve(tmp_path, state=journal.parent) as again:
        status, found = again.get(f"/v1/operations/{first}")
        assert status == 200 and found["operation"]["state"] == "approved", found
        assert again.get(f"/v1/operations/{first + 1}")[0] == 404
