"""A software Epson TM-class printer and a ZVT payment terminal on real OS interfaces.

The emulator speaks the same bytes as hardware over a pseudo-terminal, a TCP socket or
a pyusb backend (the printer), so the driver's production code path is the one under test. It is
deliberately unkind: real timing when paced, real faults, real buffer limits.
"""
