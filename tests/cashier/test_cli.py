"""The journal commands end to end: ``posdriver sale|refund|txn|reprint|pending|recover|
resolve|incidents|jobs|journal`` against emulated terminals and a printer, with a real
journal in a temporary state directory. Exit codes, output and the journal are checked;
bad input must exit non-zero with a message naming the problem and change nothing."""

from __future__ import annotations

import errno
import json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from posdriver.cashier.pan_scan import luhn_runs, luhn_runs_bytes
from posdriver.cli import main
from posdriver.journal import State, open_journal
from posdriver.links import link_for_url
from posdriver.money import Money
from posdriver.terminal.zvt.terminal import ZvtTerminal, ZvtTimeouts
from posdriver_emulator.controller import Controller

FULL_PAN = "4111111111111111"  # Luhn-valid, as a real card number is


@pytest.fixture
def devices(tmp_path: Path) -> Iterator[tuple[Controller, Controller]]:
    with (
        Controller.terminal(link="tcp", seed=5, full_pan=True, status_ack_timeout=0.5) as term,
        Controller.printer(link="pty", link_dir=tmp_path, seed=6) as printer,
    ):
        yield term, printer


class Run:
    """``posdriver ...`` in-process with this desk's devices and state directory."""

    def __init__(
        self,
        tmp_path: Path,
        devices: tuple[Controller, Controller],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        self.term, self.printer = devices
        self.state = tmp_path / "state"
        self.config = tmp_path / "posdriver.toml"
        self.config.write_text(
            "[print]\nready_timeout = 2.0\nwait_initial = 0.05\n"
            '[service]\napi = "127.0.0.1:9"\n'  # no daemon there: commands run directly
        )
        self.capsys = capsys
        self.outputs: list[str] = []

    def __call__(self, *args: str, devices: bool = True) -> tuple[int, str, str]:
        argv = [*args, "--config", str(self.config), "--state-dir", str(self.state)]
        if devices:
            argv += ["--terminal", self.term.url, "--printer", self.printer.url]
        code = main(argv)
        out, err = self.capsys.readouterr()
        self.outputs += [out, err]
        return code, out, err

    def json(self, *args: str) -> tuple[int, Any]:
        code, out, _ = self(*args, "--json")
        return code, json.loads(out)

    def ledger(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.term.device.ledger()  # type: ignore[attr-defined]
        return entries


@pytest.fixture
def run(
    tmp_path: Path, devices: tuple[Controller, Controller], capsys: pytest.CaptureFixture[str]
) -> Run:
    return Run(tmp_path, devices, capsys)


def test_sale_approved_prints_and_is_listed(run: Run) -> None:
    code, body = run.json("sale", "12.50")
    assert code == 0
    op = body["operation"]
    assert (op["state"], op["amount"], op["card_last4"]) == ("approved", "12.50", "0119")
    assert body["printing"]["printed"] == 1
    code, rows = run.json("txn", "list", "--last4", "0119")
    assert code == 0 and [r["id"] for r in rows] == [op["id"]]
    code, out, _ = run("txn", "show", "last")
    assert code == 0 and "sent -> approved" in out and "customer receipt" in out


def test_sale_exit_codes_declined_in_doubt_not_sent(run: Run) -> None:
    run.term.device.select_card("declined")  # type: ignore[attr-defined]
    assert run("sale", "5.00")[0] == 1
    run.term.device.select_card("visa")  # type: ignore[attr-defined]
    run.term.set_fault("drop_before_completion")
    code, out, _ = run("sale", "6.00")
    assert code == 2 and "MAY HAVE BEEN CHARGED" in out
    run.term.set_fault("drop_before_completion", False)
    assert run("recover")[0] == 0
    run.term.set_fault("power_off")
    code, out, _ = run("sale", "7.00")
    assert code == 3 and "no terminal could be reached" in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("sale", "-5"), "negative"),
        (("sale", "12,50"), "use a dot"),
        (("sale", "1.234"), "decimal places"),
        (("sale", "5", "--currency", "XXY"), "unknown currency"),
        (("sale", "5", "--on", "nowhere"), "no terminal named 'nowhere'"),
        (("txn", "show", "999"), "no transaction"),
        (("txn", "show", "yesterday"), "does not name a transaction"),
        (("txn", "list", "--last4", "12345"), "four digits"),
        (("txn", "list", "--since", "2026-13-01"), "not a date"),
        (("txn", "list", "--state", "lost"), "states:"),
        (("refund", "42"), "no transaction"),
        (("resolve", "42", "--approved", "--note", "x"), "no transaction"),
    ],
)
def test_bad_input_is_named_and_nothing_is_written(
    run: Run, args: tuple[str, ...], expected: str
) -> None:
    code, _, err = run(*args)
    assert code == 3
    assert expected in err
    with open_journal(run.state) as journal:
        assert journal.search() == []
    assert run.ledger() == []


def test_reprint_marks_the_copy_and_counts_it(run: Run) -> None:
    code, body = run.json("sale", "20.00")
    txn = str(body["operation"]["id"])
    receipt_no = body["operation"]["receipt_no"]
    assert run("reprint", txn)[0] == 0
    code, body = run.json("reprint", f"receipt:{receipt_no}")
    assert code == 0 and body["reprint_no"] == 2
    printed = [r.text for r in run.printer.device.receipts]  # type: ignore[attr-defined]
    assert len(printed) == 3
    assert "DUPLICATE" not in printed[0]
    assert "DUPLICATE" in printed[1] and "Reprint 1" in printed[1]
    assert "Reprint 2" in printed[2]
    code, show = run.json("txn", "show", txn)
    assert [e["event"] for e in show["events"]].count("reprint") == 2


def test_reprint_falls_back_to_the_terminal_for_an_unjournaled_receipt(run: Run) -> None:
    with ZvtTerminal(link_for_url(run.term.url), timeouts=ZvtTimeouts(t3=1, t4=2)) as direct:
        outcome = direct.sale(Money(3300, "EUR"))
    receipt_no = outcome.receipt_no  # type: ignore[union-attr]
    code, out, _ = run("reprint", f"receipt:{receipt_no}")
    assert code == 0 and "terminal's repeat receipt" in out
    printed = run.printer.device.receipts  # type: ignore[attr-defined]
    assert "DUPLICATE" in printed[-1].text and "33.00" in printed[-1].text
    code, incidents = run.json("incidents")
    assert "not in the journal" in incidents[-1]["fault"]
    code, _, err = run("reprint", f"receipt:{receipt_no + 5}")
    assert code == 3 and "can only repeat its last transaction" in err


def test_reprint_without_a_printer_says_so(run: Run) -> None:
    run.json("sale", "20.00")
    code, _, err = run("reprint", "last", devices=False)
    assert code == 3 and "no receipt printer is configured" in err


def test_a_receipt_kept_when_the_paper_is_out_prints_later(run: Run) -> None:
    run.printer.set_fault("paper_out")
    code, out, _ = run("sale", "15.00")
    assert code == 0 and "NOT printed yet" in out and "paper" in out
    code, jobs = run.json("jobs")
    assert code == 1 and len(jobs) == 1 and jobs[0]["state"] == "queued"
    run.printer.set_fault("paper_out", False)
    code, out, _ = run("jobs", "run")
    assert code == 0 and "printed" in out
    assert run("jobs")[0] == 0


def test_pending_recover_and_resolve(run: Run) -> None:
    run.term.set_fault("drop_before_completion")
    code, body = run.json("sale", "18.00")
    assert code == 2
    txn = str(body["operation"]["id"])
    run.term.set_fault("drop_before_completion", False)
    code, pending = run.json("pending")
    assert code == 1 and [o["id"] for o in pending["operations"]] == [int(txn)]
    code, report = run.json("recover")
    assert code == 0 and report["resolved"][0]["state"] == "approved"
    assert run("pending")[0] == 0
    code, _, err = run("resolve", txn, "--declined", "--note", "guest says no")
    assert code == 3 and "only an operation in doubt" in err


def test_resolve_records_who_and_why(run: Run) -> None:
    with open_journal(run.state) as journal:
        op = journal.begin("sale", Money(999, "EUR"))
        journal.attempt(op.id, "terminal1")
        journal.transition(op.id, State.IN_DOUBT, reason="test")
        journal.transition(op.id, State.NEEDS_REVIEW, reason="test")
    code, out, _ = run(
        "resolve", str(op.id), "--approved", "--note", "acquirer portal shows it", "--by", "mei"
    )
    assert code == 0 and "decided by mei" in out
    with open_journal(run.state) as journal:
        after = journal.get(op.id)
        assert (after.state, after.resolved_by, after.note) == (
            State.APPROVED,
            "mei",
            "acquirer portal shows it",
        )
        assert journal.receipt(op.id) is not None  # a receipt to reprint for the guest
        assert journal.incidents()[-1].category == "manual"


def test_refund_guard_and_split_from_the_command_line(run: Run, tmp_path: Path) -> None:
    run.config.write_text(
        '[print]\nready_timeout = 2.0\n[refund]\ndaily_cap = "900.00"\n'
        '[service]\napi = "127.0.0.1:9"\n'
        '[devices.desk1]\nkind = "terminal"\nurl = "' + run.term.url + '"\n'
        'refund_limit = "200.00"\n'
        '[devices.receipt]\nkind = "printer"\nurl = "' + run.printer.url + '"\n'
    )
    code, out, _ = run("sale", "500.00", "--json", devices=False)
    txn = str(json.loads(out)["operation"]["id"])
    code, _, err = run("refund", txn, devices=False)
    assert code == 3 and "per-refund limit of 200.00 EUR" in err and "--split" in err
    assert [e["kind"] for e in run.ledger()] == ["payment"]
    code, _, err = run("refund", txn, "--split", devices=False)
    assert code == 3 and "--yes" in err
    code, out, _ = run("refund", txn, "--split", "--yes", "--json", devices=False)
    body = json.loads(out)
    assert code == 0 and body["complete"] and len(body["parts"]) == 3
    assert sum(e["amount"] for e in run.ledger() if e["kind"] == "refund") == 50000
    code, _, err = run("refund", txn, "--amount", "0.01", devices=False)
    assert code == 3 and "fully refunded" in err


def test_incidents_add_list_csv(run: Run) -> None:
    code, _, _ = run(
        "incidents",
        "add",
        "--device",
        "desk1",
        "--fault",
        "cable loose",
        "--action",
        "replugged",
        "--result",
        "works",
        "--note",
        "night shift",
    )
    assert code == 0
    code, out, _ = run("incidents", "--csv", "--since", "1d")
    lines = out.strip().splitlines()
    assert lines[0].startswith("id,at,place,device")
    assert "cable loose" in lines[1] and "night shift" in lines[1]


def test_journal_backup_export_and_check(run: Run, tmp_path: Path) -> None:
    run.json("sale", "11.00")
    target = tmp_path / "backup.sqlite3"
    assert run("journal", "backup", str(target))[0] == 0
    code, _, err = run("journal", "backup", str(target))
    assert code == 3 and "already exists" in err
    from posdriver.journal import Journal

    with Journal(target) as copy:
        assert [op.amount for op in copy.search()] == [Money(1100, "EUR")]
    code, out, _ = run("journal", "export", "--csv")
    assert code == 0 and out.splitlines()[1].split(",")[3] == "11.00"
    assert run("journal", "check")[0] == 0


def test_a_corrupt_journal_is_named_and_left_alone(run: Run) -> None:
    run.state.mkdir(mode=0o700)
    damaged = run.state / "journal.sqlite3"
    damaged.write_bytes(b"this is not a journal" * 200)
    before = damaged.read_bytes()
    code, _, err = run("sale", "5.00")
    assert code == 3 and str(damaged) in err and "damaged" in err
    assert damaged.read_bytes() == before
    assert run.ledger() == []


def test_no_card_number_reaches_the_journal_the_logs_or_the_output(
    run: Run, caplog: pytest.LogCaptureFixture
) -> None:
    """The terminal sends whole card numbers (full_pan); nothing of them may stay."""
    caplog.set_level(logging.DEBUG)
    assert luhn_runs(f"card {FULL_PAN} seen") == [FULL_PAN]  # the scanner sees a PAN
    run.term.device.select_card("real", pan=FULL_PAN, brand="Visa")  # type: ignore[attr-defined]
    _code, body = run.json("sale", "12.00")
    txn = str(body["operation"]["id"])
    run.term.set_fault("drop_before_completion")
    run("sale", "13.00")
    run.term.set_fault("drop_before_completion", False)
    run("recover")
    run("reprint", txn)
    run("txn", "show", txn)
    run("txn", "list")
    run("pending")
    run("incidents")
    run("journal", "export", "--csv")
    for suffix in ("", "-wal"):
        path = Path(f"{run.state / 'journal.sqlite3'}{suffix}")
        if path.exists():
            assert luhn_runs_bytes(path.read_bytes()) == [], path
    for output in run.outputs:
        assert luhn_runs(output) == []
    assert luhn_runs(caplog.text) == []
    assert FULL_PAN not in "".join(run.outputs) + caplog.text
    assert os.stat(run.state).st_mode & 0o777 == 0o700


def test_pending_lists_an_operation_a_crash_left_behind(run: Run) -> None:
    run.json("sale", "3.00")  # the terminal's last transaction, journaled
    with open_journal(run.state) as journal:
        op = journal.begin("sale", Money(700, "EUR"))
        journal.attempt(op.id, "terminal1")
        journal.transition(op.id, State.SENT)
    code, out, _ = run("pending")
    assert code == 1 and "INTERRUPTED" in out and f"id:{op.id}" in out
    assert run("recover")[0] == 0
    with open_journal(run.state) as journal:
        assert journal.get(op.id).state is State.DECLINED  # the terminal never had it


def test_reprint_of_a_receipt_that_never_printed_prints_the_original(run: Run) -> None:
    run.printer.set_fault("paper_out")
    code, body = run.json("sale", "16.00")
    txn = f"id:{body['operation']['id']}"
    run.printer.set_fault("paper_out", False)
    code, out, _ = run("reprint", txn)
    assert code == 0 and "printing the original" in out
    printed = run.printer.device.receipts  # type: ignore[attr-defined]
    assert len(printed) == 1 and "DUPLICATE" not in printed[0].text


def test_reprint_refuses_an_operation_that_has_no_receipt(run: Run) -> None:
    run.json("sale", "21.00")  # the terminal's last transaction, with a receipt
    with open_journal(run.state) as journal:
        aborted = journal.begin("refund", Money(500, "EUR"))
        journal.transition(aborted.id, State.ABORTED, reason="cancelled at the terminal")
    code, _, err = run("reprint", f"id:{aborted.id}")
    assert code == 3 and "aborted" in err and "no receipt to reprint" in err
    assert len(run.printer.device.receipts) == 1  # type: ignore[attr-defined]


def test_a_sale_that_finds_the_printer_back_prints_what_waited_and_says_so(run: Run) -> None:
    run.printer.set_fault("paper_out")
    _, first = run.json("sale", "10.00")
    run.printer.set_fault("paper_out", False)
    code, out, _ = run("sale", "11.00")
    assert code == 0
    assert f"receipt of id:{first['operation']['id']} printed" in out
    assert len(run.printer.device.receipts) == 2  # type: ignore[attr-defined]


# -- a full disk under the state directory ------------------------------------------------


def _fill_inodes(where: Path, leave: int) -> None:
    """Use up the file system's inodes (files it can create), then free ``leave`` of them:
    a disk that is full the way a small ext4 partition is after a flood of log files."""
    made: list[Path] = []
    try:
        while True:
            path = where / f"filler-{len(made)}"
            path.touch()
            made.append(path)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    for path in made[-leave:]:
        path.unlink()


def _fill_blocks(where: Path) -> None:
    fd = os.open(where / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)


def test_a_sale_on_a_full_disk_says_nothing_was_sent(run: Run, tmpfs: Callable[..., Path]) -> None:
    """The sale's own claim on its operation (a lock file under the state directory)
    cannot be made: that OSError came out as a traceback and exit 1, "declined". Now it
    is exit 3, one line naming the file, and the terminal never saw the sale."""
    mnt = tmpfs("8m", "nr_inodes=200")
    run.state = mnt / "state"
    assert run("sale", "10.00")[0] == 0
    # room for the journal's -wal and -shm files, none for the operation's lock file
    _fill_inodes(mnt, leave=2)
    code, out, err = run("sale", "12.50")
    assert code == 3
    lock = run.state / "locks" / "op-2.lock"
    assert err == (
        f"posdriver sale: {lock}: cannot claim operation 2 (No space left on device); the "
        "operation was not recorded: free disk space before going on; nothing was sent to "
        "the terminal\n"
    )
    assert out == ""
    assert [entry["amount"] for entry in run.ledger()] == [1000]
    for path in mnt.glob("filler-*"):
        path.unlink()
    with open_journal(run.state) as journal:  # the refused sale left nothing behind
        assert [op.amount for op in journal.search()] == [Money(1000, "EUR")]


def test_every_command_on_a_full_disk_is_one_line_and_exit_3(
    run: Run, tmpfs: Callable[..., Path]
) -> None:
    mnt = tmpfs("1m")
    run.state = mnt / "state"
    assert run("sale", "10.00")[0] == 0
    _fill_blocks(mnt)
    path = run.state / "journal.sqlite3"
    for args in (
        ("sale", "12.50"),
        ("refund", "last"),
        ("txn", "list"),
        ("pending",),
        ("incidents", "add", "--fault", "f", "--action", "a", "--result", "r"),
        ("journal", "check"),
    ):
        code, _, err = run(*args)
        assert code == 3, (args, err)
        assert err.startswith(f"posdriver {args[0]}: {path}: no space left to write the journal")
        assert err.count("\n") == 1, err
        if args[0] in ("sale", "refund"):
            assert err.endswith("; nothing was sent to the terminal\n"), err
    assert [entry["amount"] for entry in run.ledger()] == [1000]


def test_money_guard_says_what_the_journal_shows_the_terminal_was_asked(tmp_path: Path) -> None:
    """Where a failure stopped a money command decides its words and exit code: before
    any terminal (3, nothing sent), with an operation left on a terminal (2, in doubt),
    or after the payment was approved and journaled (0)."""
    import argparse

    from posdriver.cashier.cli_common import Context, MoneyStopped, money_guard
    from posdriver.config import load_config, with_overrides

    args = argparse.Namespace(command="sale", json=False, terminal=[], printer=[])
    ctx = Context(args, with_overrides(load_config(None), state_dir=tmp_path / "state"))
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x.lock"))
    said = f"{tmp_path / 'x.lock'}: No space left on device; the disk is full"
    try:
        journal = ctx.journal
        with pytest.raises(MoneyStopped) as raised, money_guard(ctx):
            raise full
        assert raised.value.code == 3
        assert str(raised.value).startswith(said)
        assert str(raised.value).endswith("; nothing was sent to the terminal")

        with pytest.raises(MoneyStopped) as raised, money_guard(ctx):
            op = journal.begin("sale", Money(1250, "EUR"))
            journal.attempt(op.id, "desk1")
            raise full
        assert raised.value.code == 2
        assert f"(id:{op.id}, terminal desk1): it may have reached the terminal" in str(
            raised.value
        )
        assert "THE CARD MAY HAVE BEEN CHARGED" in str(raised.value)
        journal.transition(op.id, State.IN_DOUBT)
        journal.transition(op.id, State.NEEDS_REVIEW)
        journal.transition(op.id, State.DECLINED, actor="test", note="settled")

        with pytest.raises(MoneyStopped) as raised, money_guard(ctx):
            op = journal.begin("sale", Money(1300, "EUR"))
            journal.attempt(op.id, "desk1")
            journal.transition(op.id, State.SENT)
            journal.transition(op.id, State.APPROVED, receipt_no=7)
            raise full
        assert raised.value.code == 0
        assert "is approved and in the journal" in str(raised.value)
    finally:
        ctx.close()


def test_terminal_timeouts_are_bounded_and_the_largest_work(run: Run) -> None:
    """``timeout_t4 = 1e12`` passed the config check, then every sale died with an
    OverflowError; now the file is refused before anything is sent, and the largest
    timeouts allowed make a sale as usual."""
    terminal = f'[devices.desk]\nkind = "terminal"\nurl = "{run.term.url}"\n'
    base = run.config.read_text()
    run.config.write_text(base + terminal + "timeout_t3 = 60\ntimeout_t4 = 1e12\n")
    code, _, err = run("sale", "12.50", devices=False)
    assert code == 3
    assert err == (
        f"posdriver sale: {run.config}: devices.desk.timeout_t4: must be less than or equal to "
        "1800, got 1000000000000.0 (allowed: more than 0, at most 1800)\n"
    )
    assert run.ledger() == []
    run.config.write_text(base + terminal + "timeout_t3 = 60\ntimeout_t4 = 1800\n")
    code, out, _ = run("sale", "12.50", devices=False)
    assert code == 0 and out.startswith("APPROVED  sale  12.50 EUR")
    assert [entry["amount"] for entry in run.ledger()] == [1250]


def test_journal_export_to_a_file_is_0600_whatever_the_umask(run: Run, tmp_path: Path) -> None:
    """Like a backup: the export holds guests' payments."""
    run.json("sale", "11.00")
    target = tmp_path / "export.csv"
    old = os.umask(0o022)
    try:
        code, _, err = run("journal", "export", "--csv", "--output", str(target))
    finally:
        os.umask(old)
    assert code == 0 and err == f"1 transactions written to {target}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text().splitlines()[1].split(",")[3] == "11.00"
    code, _, err = run("journal", "export", "--csv", "--output", str(target))
    assert code == 3 and err == f"posdriver journal: {target}: already exists; choose a new file\n"


def test_journal_check_refuses_an_empty_journal(run: Run) -> None:
    """It was taken for a new journal (set up afresh) and called sound."""
    run.state.mkdir(mode=0o700)
    empty = run.state / "journal.sqlite3"
    empty.write_bytes(b"")
    code, out, err = run("journal", "check")
    assert code == 3 and out == ""
    assert err.startswith(
        f"posdriver journal: {empty}: the journal file is empty: possibly truncated"
    )
    assert empty.stat().st_size == 0


def test_since_and_until_take_the_same_days_times_and_spans_everywhere(run: Run) -> None:
    """``txn list`` and ``incidents`` read --since/--until as the API reads since/until
    (posdriver.desk.times): a day, an ISO time, or a span back from now."""
    code, body = run.json("sale", "3.00")
    sale = body["operation"]["id"]
    for since in ("24h", "30m", "7d", "2w", "30 m"):
        code, rows = run.json("txn", "list", "--since", since)
        assert code == 0 and [r["id"] for r in rows] == [sale], since
        code, _, err = run("incidents", "--since", since)
        assert code == 0, err
    code, rows = run.json("txn", "list", "--until", "1h")  # up to an hour ago: not the sale
    assert (code, rows) == (0, [])
    code, _, err = run("txn", "list", "--since", "yesterday")
    assert code == 3
    assert (
        "--since: 'yesterday' is not an ISO date or time, nor a span back from now; write a "
        "day (2026-11-23), a time (2026-11-23T14:00, ISO 8601, local unless it has an "
        "offset) or a span back from now (30m, 24h, 7d, 2w)" in err
    )
    code, _, err = run("incidents", "--since", "5y")
    assert code == 3 and "--since: '5y' is not an ISO date or time, nor a span" in err


def test_a_device_is_named_with_device_everywhere_and_the_old_spellings_still_work(
    run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run("sale", "5", "--device", "nowhere")
    assert code == 3 and "no terminal named 'nowhere'" in err
    code, body = run.json("sale", "5.00", "--device", "terminal1")
    assert code == 0 and body["operation"]["terminal"] == "terminal1"
    code, body = run.json("sale", "5.50", "--on", "terminal1")  # the old spelling
    assert code == 0 and body["operation"]["terminal"] == "terminal1"
    for option in ("--device", "--terminal-name"):
        code, rows = run.json("txn", "list", option, "terminal1")
        assert code == 0 and len(rows) == 2, option
        code, rows = run.json("txn", "list", option, "terminal2")
        assert (code, rows) == (0, []), option
    config = tmp_path / "check.toml"
    config.write_text('[service]\napi = "127.0.0.1:9"\n')
    assert main(["check", "--device", "receipt", "desk", "--config", str(config)]) == 3
    assert "--device receipt and DEVICE desk name two devices" in capsys.readouterr().err
    assert main(["check", "--device", "nope", "--config", str(config)]) == 3
    assert "no device named 'nope'" in capsys.readouterr().err


def _exit_rows() -> list[tuple[int, str, str]]:
    """docs/cli.md's "Exit codes" table of the desk commands, its markup left out."""
    text = (Path(__file__).parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("### Exit codes\n", 1)[1].lstrip("\n").split("\n\n", 1)[0]
    rows = []
    for line in section.splitlines()[2:]:
        cells = [c.strip().replace("**", "").replace("`", "") for c in line.strip("|").split("|")]
        rows.append((int(cells[0]), cells[1], cells[2]))
    return rows


def test_help_lists_the_exit_codes_docs_cli_md_lists(capsys: pytest.CaptureFixture[str]) -> None:
    """One table (posdriver.cashier.cli.EXIT_TABLE) for --help and the docs."""
    from posdriver.cashier.cli import EXIT_TABLE

    assert _exit_rows() == list(EXIT_TABLE)
    for argv, others in ((["--help"], True), (["sale", "--help"], False)):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0
        shown = " ".join(capsys.readouterr().out.split())
        for code, money_text, other_text in EXIT_TABLE:
            assert f"{code} " + ("sale, refund: " if others else "") + money_text in shown
            if others and other_text:
                assert f"other commands: {other_text}" in shown
