"""A software Epson TM-class ESC/POS printer: the model behind every emulator transport.

:class:`PrinterEmulator` takes host bytes through
:meth:`~posdriver_emulator.device.EmulatedDevice.accept` and behaves like the hardware:
real-time status on receipt, a receive buffer that fills
while offline, paper that runs out, Automatic Status Back, GS I identification, and
receipts (one per cut) as text and PNG.

Modules, one job each: :mod:`.model` (the device: buffer, status, faults, ASB),
:mod:`.realtime` (real-time commands on receipt), :mod:`.parser` and :mod:`.commands`
(ESC/POS command lengths and events), :mod:`.engine` and :mod:`.modes` (print modes,
line layout, paper use), :mod:`.media` (images, barcodes, 2D symbols),
:mod:`.charset` (code pages, international sets, GB18030), :mod:`.symbols` (barcodes,
2D symbols), :mod:`.bitmap` (1-bit images), :mod:`.paper` (the roll), :mod:`.status`
(status bytes), :mod:`.receipt` and :mod:`.render` (what came out, as text and PNG).
"""

from .model import PRINTER_FAULTS, PrinterConfig, PrinterEmulator
from .receipt import Line, Receipt

__all__ = ["PRINTER_FAULTS", "Line", "PrinterConfig", "PrinterEmulator", "Receipt"]
