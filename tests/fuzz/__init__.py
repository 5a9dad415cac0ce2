"""Fuzzing at scale: every decoder of bytes from outside (the ZVT wire, the printer's
status, the emulators' parsers, the configuration file) and the HTTP API.

``python -m tests.fuzz.run --target all --count N --seed S`` is the long run; the tests
beside it are short, seeded runs of the same targets.
"""
