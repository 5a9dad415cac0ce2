"""The daemon killed with sales queued on one terminal: only the sale that was on the
terminal can be in doubt, and recovery settles it from the terminal's own record; the
sales still waiting their turn never reached the terminal and end aborted, nothing
charged, with no person needed.

The emulators run as a process of their own (their ledger outlives the daemon, as a real
terminal outlives a crashed till); the daemon gets SIGKILL while the first sale waits on
a slow acquirer and two more wait behind it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.support.emulators import Emulators
from tests.support.served import serve_process
from tests.support.timing import wait_until


def _call(url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_sales_queued_behind_one_on_the_terminal_are_aborted_after_a_kill(
    tmp_path: Path,
) -> None:
    emulators = Emulators(tmp_path)
    devices = emulators.start()
    try:
        status, _ = _call(
            devices.terminal_control + "/faults",
            {"fault": "slow_host", "active": True, "seconds": 4},
        )
        assert status == 200
        config = tmp_path / "posdriver.toml"
        config.write_text(
            "[service]\nterminal_poll_interval = 60\n"
            f'[devices.desk]\nkind = "terminal"\nurl = "{devices.terminal}"\nprinter = "receipt"\n'
            f'timeout_t4 = 30\n[devices.receipt]\nkind = "printer"\nurl = "{devices.printer}"\n'
        )
        state = tmp_path / "state"
        amounts = ("21.00", "22.00", "23.00")
        with serve_process(config, state, emulate=False) as (daemon, started):
            api = started["api"]["url"]
            ids = []
            for n, amount in enumerate(amounts):
                status, body = _call(
                    api + "/v1/operations",
                    {"kind": "sale", "amount": amount, "idempotency_key": f"kill-{n}"},
                )
                assert status == 202, body
                ids.append(body["operation"]["id"])

            def first_on_the_terminal() -> bool:
                return _call(f"{api}/v1/operations/{ids[0]}")[1]["operation"]["state"] == "sent"

            wait_until(first_on_the_terminal, 10, "the first sale to reach the terminal")
            for later in ids[1:]:
                op = _call(f"{api}/v1/operations/{later}")[1]["operation"]
                assert (op["state"], op["terminal"]) == ("pending", None), op
            daemon.kill()
            daemon.wait()

        _call(devices.terminal_control + "/faults", {"fault": "slow_host", "active": False})
        with serve_process(config, state, emulate=False) as (_, started):
            api = started["api"]["url"]
            ops = [_call(f"{api}/v1/operations/{i}?wait=30")[1]["operation"] for i in ids]
            wait_until(
                lambda: all(_call(f"{api}/v1/operations/{i}")[1]["final"] for i in ids),
                60,
                "every sale to be settled by recovery",
            )
            ops = [_call(f"{api}/v1/operations/{i}")[1]["operation"] for i in ids]
        _, ledger = _call(devices.terminal_control + "/ledger")
    finally:
        emulators.stop()

    entries = ledger if isinstance(ledger, list) else ledger["entries"]
    on_terminal = [e for e in entries if e["kind"] == "payment"]
    assert [e["amount"] for e in on_terminal] == [2100], "only the first reached the terminal"
    first, *queued = ops
    # the first is what the terminal says it is: it stood (approved) or the terminal
    # reversed it for want of our acknowledgement (declined); never a person's question
    expected = "approved" if on_terminal[0]["state"] == "charged" else "declined"
    assert first["state"] == expected, first
    for op in queued:
        assert op["state"] == "aborted", op
        assert "nothing was sent" in op["reason"], op
    # journal ids and times agree in order
    times = [datetime.fromisoformat(op["created_at"]) for op in ops]
    assert times == sorted(times)
