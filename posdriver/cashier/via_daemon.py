"""The journal commands that need a device, sent to the running daemon.

While ``posdriver serve`` runs, it owns every configured device (and holds their locks),
so ``sale``, ``refund`` and ``reprint`` go through its API instead of opening the
devices themselves; the daemon is found at the config's ``service.api``. Commands given
explicit devices (``--terminal``/``--printer``) never use it: they name the devices to
talk to.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from ..config import Config


class DaemonError(Exception):
    """The daemon answered with an error; ``status`` is the HTTP status."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("error", body)))
        self.status = status
        self.body = body


class Daemon:
    """A client of the local API."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = url
        self.token = token

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 10
    ) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read())
            except ValueError:
                detail = {"error": f"HTTP {exc.code}"}
            raise DaemonError(exc.code, detail) from None

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self._request("POST", "/v1/operations", body)
        return answer

    def operation(self, op_id: int, wait: float = 0.0) -> dict[str, Any]:
        answer: dict[str, Any] = self._request(
            "GET", f"/v1/operations/id:{op_id}?wait={wait:g}", timeout=wait + 10
        )
        return answer

    def reprint(self, op_id: int, copy: str) -> dict[str, Any]:
        answer: dict[str, Any] = self._request(
            "POST", f"/v1/operations/id:{op_id}/reprint", {"copy": copy}
        )
        return answer

    def printed(self, op_id: int, job_id: int, timeout: float) -> dict[str, Any] | None:
        """Wait for print job ``job_id`` to be done; the job as last seen (None: gone)."""
        deadline = time.monotonic() + timeout
        while True:
            jobs = {j["id"]: j for j in self.operation(op_id)["print_jobs"]}
            job = jobs.get(job_id)
            if job is None or job["state"] == "done" or time.monotonic() >= deadline:
                return job
            time.sleep(0.1)


def find(config: Config, explicit_devices: bool) -> Daemon | None:
    """The running daemon, when one answers at the configured API address."""
    if explicit_devices:
        return None
    url = f"http://{config.service.api}"
    daemon = Daemon(url, config.service.token)
    try:
        daemon._request("GET", "/v1/health", timeout=0.5)
    except DaemonError:
        return daemon  # it answered (503 is an answer: something is down)
    except (OSError, ValueError):
        return None
    return daemon
