"""Debian's Prometheus tools for the monitoring tests: :func:`binary` finds one (skipped
where it is missing, a failure under CI, whose .ci/run installs the package), and
:class:`Prometheus` runs a real server on 127.0.0.1 that scrapes one posdriver endpoint
and evaluates the shipped alert rules, and :class:`Alertmanager` one that applies the shipped
inhibition rules (Debian's prometheus-alertmanager package)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

ALERTS = Path(__file__).resolve().parents[2] / "packaging" / "prometheus" / "alerts.yml"
ALERTMANAGER = ALERTS.parent / "alertmanager.yml"


def binary(name: str) -> str:
    """Path of a tool from Debian's prometheus package; skipped where it is missing, a
    failure under CI (.ci/run installs it)."""
    path = shutil.which(name)
    if path is None:
        reason = f"{name} not on PATH (apt-get install prometheus)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server:
    """A Prometheus tool run as a server on 127.0.0.1: its process, port and log, how
    to tell it is ready and how to stop it."""

    name = "server"  # its log is NAME.log in the work directory
    workdir: Path
    port: int
    process: subprocess.Popen[bytes]

    def _start(self, command: list[str]) -> None:
        self.log = (self.workdir / f"{self.name}.log").open("w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)

    def ready(self) -> bool:
        if self.process.poll() is not None:
            log = (self.workdir / f"{self.name}.log").read_text()
            pytest.fail(f"{self.name} exited:\n{log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log.close()


class Prometheus(_Server):
    """A Prometheus server on 127.0.0.1 scraping one posdriver endpoint every second and
    evaluating the shipped alert rules."""

    name = "prometheus"

    def __init__(self, binary_path: str, workdir: Path, target_port: int) -> None:
        self.workdir = workdir
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(ALERTS)],
            "scrape_configs": [
                {
                    "job_name": "posdriver",
                    "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
                }
            ],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self._start(
            [
                binary_path,
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ]
        )

    def get(self, path: str, **params: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                body: dict[str, Any] = json.load(reply)
        except urllib.error.HTTPError as error:  # a bad query answers 400 with a body
            body = json.load(error)
        return body

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        if at is None:
            return self.get("/api/v1/query", query=expr)
        return self.get("/api/v1/query", query=expr, time=str(at))

    def query_range(self, expr: str, start: float, end: float, step: float) -> dict[str, Any]:
        return self.get(
            "/api/v1/query_range", query=expr, start=str(start), end=str(end), step=str(step)
        )

    def as_grafana(
        self, target: dict[str, Any], start: float, end: float, step: float = 1.0
    ) -> dict[str, Any]:
        """A dashboard query as Grafana sends it for the time range ``start``-``end``:
        an instant query at its end when the target says so, else a range query."""
        if target.get("instant") and not target.get("range", True):
            return self.query(target["expr"], at=end)
        return self.query_range(target["expr"], start, end, step)


class Alertmanager(_Server):
    """An Alertmanager on 127.0.0.1 (no cluster) with the given configuration file, fed
    alerts through its API as Prometheus would send them."""

    name = "alertmanager"

    def __init__(self, binary_path: str, workdir: Path, config: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self._start(
            [
                binary_path,
                f"--config.file={config}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # one instance: no gossip port
            ]
        )

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def post(self, alerts: list[dict[str, str]]) -> None:
        """Alerts by their labels, firing from now on."""
        body = json.dumps([{"labels": labels} for labels in alerts]).encode()
        request = urllib.request.Request(
            self._url("/api/v2/alerts"),
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            assert reply.status == 200

    def alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self._url("/api/v2/alerts"), timeout=5) as reply:
            found: list[dict[str, Any]] = json.load(reply)
        return found
