"""The worker's queue and liveness, with a stand-in driver (no device): priorities, a
long task does not make the worker look hung, a link failure reconnects."""

from __future__ import annotations

import threading
import time
from typing import Any

from posdriver.config import ServiceConfig
from posdriver.links import LinkError
from posdriver.service.workers import HEALTH, MONEY, PRINT, DeviceWorker
from tests.conftest import wait_until


class FakeWorker(DeviceWorker):
    kind = "printer"

    def __init__(self) -> None:
        super().__init__("fake", "loop://", ServiceConfig(reconnect_max=0.2))
        self.opened = 0

    def open(self) -> Any:
        self.opened += 1
        return object()

    def close(self, driver: Any) -> None:
        return None


def test_money_runs_before_printing_and_health() -> None:
    worker = FakeWorker()
    gate = threading.Event()
    order: list[str] = []
    worker.start()
    try:
        wait_until(lambda: worker.driver is not None, 5, "the worker to connect")
        worker.submit(MONEY, lambda _d: gate.wait(5), "hold")  # keeps the worker busy
        futures = [
            worker.submit(HEALTH, lambda _d: order.append("health")),
            worker.submit(PRINT, lambda _d: order.append("print")),
            worker.submit(MONEY, lambda _d: order.append("money")),
        ]
        gate.set()
        for future in futures:
            future.result(timeout=5)
        assert order == ["money", "print", "health"]
    finally:
        worker.stop(timeout=5)


def test_a_long_task_is_not_a_hung_worker_but_a_stuck_one_is() -> None:
    worker = FakeWorker()
    gate = threading.Event()
    worker.start()
    try:
        wait_until(lambda: worker.driver is not None, 5, "the worker to connect")
        worker.submit(MONEY, lambda _d: gate.wait(5), "a slow payment")
        wait_until(lambda: worker.task_started is not None, 5, "the task to start")
        time.sleep(0.05)  # the heartbeat is older than `within` below; the task is young
        assert worker.alive(within=0.01, task_limit=10)
        assert not worker.alive(within=0.01, task_limit=0.01)
    finally:
        gate.set()
        worker.stop(timeout=5)


def test_a_link_failure_in_a_task_reconnects_and_counts() -> None:
    worker = FakeWorker()
    worker.start()
    try:
        wait_until(lambda: worker.driver is not None, 5, "the worker to connect")

        def broken(_d: Any) -> None:
            raise LinkError("unplugged")

        future = worker.submit(PRINT, broken)
        wait_until(lambda: worker.opened >= 2, 5, "a reconnect")
        assert isinstance(future.exception(timeout=1), LinkError)
        assert worker.view().reconnects == 1 and worker.view().link_errors == 1
    finally:
        worker.stop(timeout=5)
