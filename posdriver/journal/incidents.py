"""The hotel's fault record: the ``incidents`` table.

One line per fault, failover, doubt, resolution or note: when, where (this desk), which
device, what happened, what was done and with what result, so the person on call the
next morning reads the night as it went.
"""

from __future__ import annotations

import socket
from datetime import datetime
from typing import Any

from .records import Incident
from .store import Store, iso


def default_place() -> str:
    """Where the incident happened, for the fault record: this desk's host name."""
    return socket.gethostname() or "front desk"


class Incidents(Store):
    """The fault record family of the journal."""

    place: str  # where this desk's incidents happen, unless one names its own

    def add_incident(
        self,
        *,
        category: str,
        fault: str,
        action: str,
        result: str,
        device: str | None = None,
        notes: str | None = None,
        operation_id: int | None = None,
        actor: str | None = None,
        place: str | None = None,
    ) -> Incident:
        for name, value in (("fault", fault), ("action", action), ("result", result)):
            if not value or not value.strip():
                raise ValueError(f"an incident needs a {name}")
        with self.atomic() as conn:
            row = conn.execute(
                """INSERT INTO incidents (at, place, device, category, fault, action, result,
                       notes, operation_id, actor) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   RETURNING id""",
                (
                    self._now(),
                    place or self.place,
                    device,
                    category,
                    fault.strip(),
                    action.strip(),
                    result.strip(),
                    notes,
                    operation_id,
                    actor,
                ),
            ).fetchone()
        return self.incidents_by_id(row[0])

    def incidents_by_id(self, incident_id: int) -> Incident:
        rows = self._read("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        return Incident.from_row(rows[0])

    def incidents(self, since: datetime | None = None, limit: int | None = None) -> list[Incident]:
        sql = "SELECT * FROM incidents"
        params: list[Any] = []
        if since is not None:
            sql += " WHERE at >= ?"
            params.append(iso(since))
        sql += " ORDER BY id"
        if limit is not None:
            sql = f"SELECT * FROM ({sql.replace(' ORDER BY id', '')} ORDER BY id DESC LIMIT "
            sql += f"{int(limit)}) ORDER BY id"
        return [Incident.from_row(r) for r in self._read(sql, params)]
