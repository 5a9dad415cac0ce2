"""Tests of the ZVT codec: bytes on the wire, as the specification and real captures show them."""
