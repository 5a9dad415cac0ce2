"""Helpers the test packages share (kept out of test files, so no test imports another)."""
