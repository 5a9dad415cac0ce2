"""Loading python-escpos without its import-time side effects.

python-escpos 3.1, on import of its capabilities module:

* calls ``logging.basicConfig()``, which adds a stderr handler to the *root* logger of
  the host process (the daemon's log format and journald routing would be overridden);
* creates a temporary directory with ``mkdtemp()`` every time, even when
  ``ESCPOS_CAPABILITIES_PICKLE_DIR`` is set (the default argument is evaluated
  eagerly), and leaves it behind;
* re-parses its capabilities file unless that variable points at a kept directory.

And ``barcode()`` prints "Using hardware barcode renderer" to stdout, which would
corrupt ``--json`` output. This module imports it once, lazily, with a kept cache
directory, a throw-away ``tempfile.tempdir`` and the root logger restored afterwards;
:func:`quiet` wraps calls that print.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
_lock = threading.Lock()
_dummy_class: Any = None


def cache_dir() -> Path:
    """Where python-escpos may keep its parsed capabilities between runs.

    systemd's ``CacheDirectory=`` sets ``$CACHE_DIRECTORY``; otherwise the XDG cache.
    """
    base = os.environ.get("CACHE_DIRECTORY") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "posdriver" / "escpos"


def _prepare_cache() -> None:
    if "ESCPOS_CAPABILITIES_PICKLE_DIR" in os.environ:
        return
    for candidate in (cache_dir(), Path(tempfile.gettempdir()) / f"posdriver-{os.getuid()}"):
        try:
            candidate.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError:
            continue
        if os.access(candidate, os.W_OK):
            os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = str(candidate)
            return


def dummy_class() -> Any:
    """python-escpos's in-memory printer class (``escpos.printer.Dummy``), imported safely."""
    global _dummy_class
    with _lock:
        if _dummy_class is not None:
            return _dummy_class
        _prepare_cache()
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        scratch = tempfile.mkdtemp(prefix="posdriver-escpos-import-")
        saved_tempdir = tempfile.tempdir
        tempfile.tempdir = scratch
        try:
            with quiet():
                from escpos.printer import Dummy
        finally:
            tempfile.tempdir = saved_tempdir
            shutil.rmtree(scratch, ignore_errors=True)
            for handler in list(root.handlers):
                if handler not in handlers:
                    root.removeHandler(handler)
            root.setLevel(level)
        _dummy_class = Dummy
        return Dummy


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Route what python-escpos prints to stdout into the debug log instead."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield
    text = buffer.getvalue().strip()
    if text:
        log.debug("python-escpos said: %s", text)
