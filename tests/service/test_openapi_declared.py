"""The document follows the declarations with no edit to its own code: a copy of the
package with a field added to a record (in ``records.py``) and one added to a request
model (in ``api_bodies.py``), and nothing else changed, serves a document that answers
the one and takes the other."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import posdriver

RECORD_LINE = "    note: str | None = field(default=None, metadata=stored(fact=True))\n"
BODY_LINE = "class CancelJobRequest(_Body):\n    operator: Operator | None = None\n"
SHOW = """
import json
import posdriver
from posdriver.service.openapi import SCHEMAS, accepted_fields, request_fields
print(json.dumps({
    "package": posdriver.__file__,
    "record": SCHEMAS["Operation"]["properties"].get("room"),
    "required": "room" in SCHEMAS["Operation"]["required"],
    "body": request_fields("/v1/print-jobs/{id}/cancel", "post").get("reason"),
    "taken": sorted(accepted_fields("/v1/print-jobs/{id}/cancel", "post") or ()),
}))
"""


def _edited(source: Path, old: str, new: str) -> None:
    text = source.read_text()
    assert text.count(old) == 1, f"{source.name} no longer has the line this test extends"
    source.write_text(text.replace(old, new))


def test_fields_added_to_the_declarations_are_in_the_document(tmp_path: Path) -> None:
    package = Path(posdriver.__file__).parent
    copy = tmp_path / "posdriver"
    shutil.copytree(package, copy, ignore=shutil.ignore_patterns("__pycache__"))
    _edited(
        copy / "journal" / "records.py",
        RECORD_LINE,
        RECORD_LINE
        + "    room: str | None = field(\n"
        + "        default=None,\n"
        + '        metadata=stored(pattern="^[0-9]{3}$", description="the guest\'s"),\n'
        + "    )\n",
    )
    _edited(
        copy / "service" / "api_bodies.py",
        BODY_LINE,
        BODY_LINE + '    reason: Name | None = Field(None, description="why it is dropped")\n',
    )
    shown = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = json.loads(shown.stdout)
    assert found["package"] == str(copy / "__init__.py")  # the copy, not the installed one
    assert found["record"] == {
        "type": ["string", "null"],
        "pattern": "^[0-9]{3}$",
        "description": "the guest's",
    }
    assert found["required"]  # an answer carries it, null when unknown
    assert found["body"] == {"type": "string", "minLength": 1, "description": "why it is dropped"}
    assert found["taken"] == ["operator", "reason"]  # the API takes it
