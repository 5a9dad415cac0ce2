"""The man page and the shell completion of ``posdriver``, generated from the command
line's own parser (``posdriver.cli.build_parser``), so that neither can drift from the
options the program really takes.

    python packaging/cli_files.py OUTDIR

writes ``OUTDIR/posdriver.1`` (man page, argparse-manpage), ``OUTDIR/posdriver.bash``
(bash-completion) and ``OUTDIR/_posdriver`` (zsh), both completions by shtab. The date on
the man page is ``$SOURCE_DATE_EPOCH`` when set, so a package build is reproducible.
The libraries are the ``dist`` extra of pyproject.toml.
"""

from __future__ import annotations

import sys
from pathlib import Path

import shtab
from argparse_manpage.manpage import Manpage

from posdriver import __version__
from posdriver.cli import build_parser

FILES = """\
.TP
.I /etc/posdriver/posdriver.toml
the configuration (root:posdriver, mode 0640: it holds the terminals' passwords)
.TP
.I /var/lib/posdriver
the journal of every payment and receipt, and the print queue
.TP
.I /usr/lib/systemd/system/posdriver.service
the systemd unit that runs \\fBposdriver serve\\fR
"""

EXIT_STATUS = """\
The device and service checks follow the Nagios plugin convention: 0 OK, 1 WARNING,
2 CRITICAL, 3 UNKNOWN (no answer, bad input). \\fBposdriver serve\\fR exits 2 when it
cannot start for a reason a restart cannot cure (the configuration, the journal).
"""

SEE_ALSO = """\
.BR journalctl (1),
.BR systemctl (1).
The documentation in /usr/share/doc/posdriver (docs/ in the source distribution).
"""


def man_page() -> str:
    """The page in roff, from the parser and the few sections argparse does not know."""
    page = Manpage(build_parser())
    page.source = f"posdriver {__version__}"
    page.manual = "posdriver manual"
    page.description = "drive card-payment terminals and ESC/POS receipt printers"
    page.add_section("exit status", "=", EXIT_STATUS)
    page.add_section("files", "=", FILES)
    page.add_section("see also", "=", SEE_ALSO)
    return str(page)


def completion(shell: str) -> str:
    """The completion script for ``shell`` (``bash`` or ``zsh``)."""
    return shtab.complete(build_parser(), shell=shell)


def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = {
        out / "posdriver.1": man_page(),
        out / "posdriver.bash": completion("bash"),
        out / "_posdriver": completion("zsh"),
    }
    for path, text in written.items():
        path.write_text(text)
    return list(written)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python packaging/cli_files.py OUTDIR", file=sys.stderr)
        return 2
    for path in write_all(Path(argv[0])):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
