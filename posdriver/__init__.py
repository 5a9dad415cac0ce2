"""posdriver: owns a front desk's payment terminals and receipt printers.

Importing the package is kept cheap (no device libraries, no python-escpos):
the CLI and the daemon import the heavy parts only when they need them.
"""

__version__ = "0.1.0"
