"""A software Epson TM-class printer (and, later, a ZVT terminal) on real OS interfaces.

The emulator speaks the same bytes as hardware over a pseudo-terminal, a TCP socket or
a pyusb backend, so the driver's production code path is the one under test. It is
deliberately unkind: real timing when paced, real faults, real buffer limits.
"""
