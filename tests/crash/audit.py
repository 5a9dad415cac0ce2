"""The audit: the journal held to the terminal's ledger, and at the end to the paper.

After every point: no operation is left PENDING or SENT, none is IN_DOUBT or NEEDS_REVIEW
after the restart; every charge, refund or reversal that stands on the terminal is
exactly one APPROVED operation of the same amount, and nothing is APPROVED that the
terminal does not have (or has reversed, unless an APPROVED reversal did it); no
terminal transaction is claimed twice; no sale is refunded beyond what it sold, nor
reversed after a refund; every approved operation has its stored customer receipt and
every print job is done. At the end, each approved operation's receipt is on a cut
receipt.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from posdriver.journal import Journal, Kind, Operation, PrintJob, State
from posdriver.journal.journal import Filters

STANDS = {"payment": "charged", "refund": "refunded", "reversal": "reversed"}
LEDGER_KIND = {Kind.SALE: "payment", Kind.REFUND: "refund", Kind.REVERSAL: "reversal"}
UNDONE = "reversed"  # a payment that stood until a reversal undid it


@dataclass
class Audit:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


def _key(
    kind: str, receipt_no: int | None, trace: int | None
) -> tuple[str, int | None, int | None]:
    return kind, receipt_no, trace


def audit(
    journal_path: Path,
    ledger: list[dict[str, Any]],
    paper: list[str] | None = None,
    verified: set[int] | None = None,
) -> Audit:
    """The journal against the terminal's ledger, and against the printer's paper when
    ``paper`` is given (the final audit, which also counts recovery's decisions).

    ``verified``: approved txns whose receipts were already found stored and printed (a
    done job stays done); their receipts are not read again, and new ones are added, so
    the audit after each point does not grow with the journal.
    """
    out = Audit()
    counts, problems = out.counts, out.problems
    journal = Journal(journal_path)
    try:
        ops = list(reversed(journal.search(Filters(limit=None))))
        for op in ops:
            counts[f"{op.kind.value} {op.state.value}"] += 1
            counts[f"state {op.state.value}"] += 1
            if op.state in (State.PENDING, State.SENT):
                problems.append(f"txn {op.id} ({op.kind.value}) is left {op.state.value}")
            elif op.state in (State.IN_DOUBT, State.NEEDS_REVIEW):
                problems.append(
                    f"txn {op.id} ({op.kind.value}) is {op.state.value} after the restart: "
                    f"{op.reason}"
                )
            if paper is not None:
                for event in journal.events(op.id):
                    if event.actor == "recovery" and event.event == "state":
                        counts[f"recovery {event.from_state}->{event.to_state}"] += 1
        _against_ledger(ops, ledger, counts, problems)
        _refund_totals(ops, problems)
        _receipts(journal, ops, counts, problems, verified)
        if paper is not None:
            _paper(journal, ops, paper, counts, problems)
    finally:
        journal.close()
    for entry in ledger:
        counts[f"ledger {entry['kind']} {entry['state']}"] += 1
    return out


def _against_ledger(
    ops: list[Operation], ledger: list[dict[str, Any]], counts: Counter[str], problems: list[str]
) -> None:
    money_ops = [op for op in ops if op.kind in LEDGER_KIND]
    claims: dict[tuple[str, int | None, int | None], list[Operation]] = {}
    for op in money_ops:
        if op.receipt_no is not None or op.trace is not None:
            key = _key(LEDGER_KIND[op.kind], op.receipt_no, op.trace)
            claims.setdefault(key, []).append(op)
    for key, claimants in claims.items():
        if len(claimants) > 1:
            ids = ", ".join(f"{o.id} ({o.state.value})" for o in claimants)
            problems.append(f"txns {ids} all claim terminal transaction {key}")
    entries: dict[tuple[str, int | None, int | None], dict[str, Any]] = {}
    for entry in ledger:
        if entry["kind"] in STANDS:
            entries[_key(entry["kind"], entry["receipt_no"], entry["trace"])] = entry
    reversed_sales = {
        op.parent_id for op in money_ops if op.kind is Kind.REVERSAL and op.state is State.APPROVED
    }
    for key, entry in entries.items():
        stands = entry["state"] == STANDS[entry["kind"]] and entry["result_code"] == 0
        undone = entry["kind"] == "payment" and entry["state"] == UNDONE
        claimants = claims.get(key, [])
        approved = [o for o in claimants if o.state is State.APPROVED]
        if not claimants:
            counts["ledger entries no txn claims"] += 1
        if undone and len(approved) == 1 and approved[0].id not in reversed_sales:
            problems.append(
                f"txn {approved[0].id} is APPROVED with no approved reversal, but the "
                f"terminal reversed its transaction {key}"
            )
        if stands and entry["kind"] == "payment":
            for op in approved:
                if op.id in reversed_sales:
                    problems.append(
                        f"txn {op.id} has an APPROVED reversal, but the terminal's "
                        f"transaction {key} still stands"
                    )
        stands = stands or undone
        if not stands:
            if approved:
                problems.append(
                    f"txn {approved[0].id} is APPROVED but the terminal's transaction {key} "
                    f"is {entry['state']}"
                )
            continue
        if len(approved) != 1:
            others = ", ".join(f"{o.id} {o.state.value}" for o in claimants) or "no txn"
            problems.append(
                f"the terminal's {entry['kind']} {key} of {entry['amount']} stands, but the "
                f"journal has {len(approved)} APPROVED txns for it ({others})"
            )
            continue
        op = approved[0]
        if op.amount is None or op.amount.minor != entry["amount"]:
            problems.append(
                f"txn {op.id} is APPROVED for {op.amount} but the terminal's {key} moved "
                f"{entry['amount']} minor units"
            )
    for op in money_ops:
        if op.state is not State.APPROVED:
            continue
        key = _key(LEDGER_KIND[op.kind], op.receipt_no, op.trace)
        if key not in entries:
            problems.append(
                f"txn {op.id} ({op.kind.value}) is APPROVED, but the terminal has no "
                f"transaction {key}"
            )


def _refund_totals(ops: list[Operation], problems: list[str]) -> None:
    sales = {op.id: op for op in ops if op.kind is Kind.SALE}
    refunded: Counter[int] = Counter()
    for op in ops:
        if op.kind is Kind.REFUND and op.state is State.APPROVED and op.amount:
            refunded[op.parent_id or 0] += op.amount.minor
    for sale_id, total in refunded.items():
        sale = sales.get(sale_id)
        if sale is None or sale.amount is None or total > sale.amount.minor:
            problems.append(f"txn {sale_id}: {total} minor units refunded, more than was sold")
    for op in ops:
        if op.kind is Kind.REVERSAL and op.state is State.APPROVED and refunded[op.parent_id or 0]:
            problems.append(
                f"txn {op.parent_id} was reversed whole (txn {op.id}) after "
                f"{refunded[op.parent_id or 0]} minor units of it were refunded: paid back twice"
            )


def _receipts(
    journal: Journal,
    ops: list[Operation],
    counts: Counter[str],
    problems: list[str],
    verified: set[int] | None,
) -> None:
    jobs: dict[int, list[PrintJob]] = {}
    for job in journal.jobs(limit=1 << 62):
        jobs.setdefault(job.operation_id, []).append(job)
        if job.state != "done":
            problems.append(
                f"txn {job.operation_id}: print job {job.id} ({job.purpose}) is {job.state} "
                f"({job.last_error or '-'})"
            )
    for op in ops:
        if op.state is not State.APPROVED:
            continue
        originals = [j for j in jobs.get(op.id, []) if j.purpose == "original"]
        counts["receipts printed"] += sum(j.state == "done" for j in originals)
        counts["continuation prints"] += sum(j.continuation for j in originals)
        if verified is not None and op.id in verified:
            continue
        if journal.receipt(op.id, "customer") is None:
            problems.append(f"txn {op.id} is APPROVED but has no stored customer receipt")
        elif not originals:
            problems.append(f"txn {op.id} is APPROVED but its receipt was never queued")
        elif verified is not None and all(j.state == "done" for j in originals):
            verified.add(op.id)


def _paper(
    journal: Journal,
    ops: list[Operation],
    paper: list[str],
    counts: Counter[str],
    problems: list[str],
) -> None:
    """Each approved txn's stored customer receipt is on paper: some cut receipt holds
    every one of its lines (a continuation or copy adds banner lines around them; a torn
    first print comes out in front of its continuation on the same cut)."""
    sheets = [{line.strip() for line in text.splitlines()} for text in paper]
    counts["receipts cut"] = len(paper)
    for op in ops:
        if op.state is not State.APPROVED:
            continue
        stored = journal.receipt(op.id, "customer")
        if stored is None:
            continue  # reported by _receipts
        wanted = {line.strip() for line in stored.lines} - {""}
        if any(wanted <= sheet for sheet in sheets):
            counts["approved txns on paper"] += 1
        else:
            problems.append(f"txn {op.id} is APPROVED but its receipt is on no cut receipt")
