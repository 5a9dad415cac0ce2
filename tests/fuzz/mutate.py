"""A seeded byte mutator: bit flips, byte changes, inserts, deletes, repeats, lies in a
ZVT length field and splices of two corpus entries.

Hand-written rather than drawn by hypothesis because the long run wants millions of
inputs a minute from one core: a mutation here is a few ``random`` calls and one slice.
Every choice comes from the :class:`random.Random` it is given, so a seed names the
same inputs on every run.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

# Bytes that mean something to one decoder or another: DLE STX ETX, ACK NAK, the
# extended-length marker, ESC GS FS, BMP ids and TLV tags, LLVAR prefixes.
INTERESTING = bytes.fromhex(
    "00 01 02 03 06 0A 10 15 1B 1C 1D 1F 20 7F 80 81 82 84 F0 F1 F2 F9 FE FF 04 06 22 87"
)
MAX_SIZE = 4096  # inputs do not grow past this, so a long run stays at one speed

Mutation = Callable[[random.Random, bytearray, Sequence[bytes]], None]


def _flip_bit(rng: random.Random, data: bytearray, corpus: Sequence[bytes]) -> None:
    if data:
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)


def _set_byte(rng: random.Random, data: bytearray, corpus: Sequence[bytes]) -> None:
    if data:
        value = INTERESTING[rng.randrange(len(INTERESTING))] if rng.random() < 0.6 else None
        data[rng.randrange(len(data))] = rng.randrange(256) if value is None else value


def _insert(rng: random.Random, data: bytearray, corpus: Sequence[bytes]) -> None:
    at = rng.randrange(len(data) + 1)
    count = rng.choice((1, 1, 1, 2, 4, 16))
    if rng.random() < 0.5:
        chunk = bytes(INTERESTING[rng.randrange(len(INTERESTING))] for _ in range(count))
    else:
        chunk = rng.randbytes(count)
    data[at:at] = chunk


def _delete(rng: random.Random, data: bytearray, corpus: Sequence[bytes]) -> None:
    if data:
        at = rng.randrange(len(data))
        del data[at : at + rng.choice((1, 1, 2, 4, 16))]


def _repeat(rng: random.Random, data: bytearray, corpus: Sequence[bytes]) -> None:
    if data:
        at = rng.randrange(len(data))
        piece = data[at : at + rng.randrange(1, 33)]
        data[at:at] = piece * rng.choice((1, 2, 8))


def _length_lie(rng: random.Random, data: bytearray, corpus: Sequence[bytes]) -> None:
    """A ZVT LEN (the third byte of an APDU, or of the frame's APDU after DLE STX) that
    says another size: off by one, zero, the extended marker, the largest."""
    offset = 4 if data[:2] == b"\x10\x02" else 2
    if len(data) <= offset:
        return
    choice = rng.randrange(6)
    if choice == 0:
        data[offset] = (data[offset] + 1) & 0xFF
    elif choice == 1:
        data[offset] = (data[offset] - 1) & 0xFF
    elif choice == 2:
        data[offset] = 0
    elif choice == 3:
        data[offset] = 0xFE
    else:
        data[offset : offset + 1] = b"\xff" + rng.randbytes(2) if choice == 4 else b"\xff\xff\xff"


def _splice(rng: random.Random, data: bytearray, corpus: Sequence[bytes]) -> None:
    other = corpus[rng.randrange(len(corpus))]
    cut = rng.randrange(len(data) + 1)
    start = rng.randrange(len(other) + 1)
    data[cut:] = other[start:]


def _truncate(rng: random.Random, data: bytearray, corpus: Sequence[bytes]) -> None:
    if data:
        del data[rng.randrange(len(data)) :]


MUTATIONS: tuple[Mutation, ...] = (
    _flip_bit,
    _flip_bit,
    _set_byte,
    _set_byte,
    _insert,
    _delete,
    _repeat,
    _length_lie,
    _splice,
    _truncate,
)


def mutate(rng: random.Random, seed: bytes, corpus: Sequence[bytes]) -> bytes:
    """``seed`` with one to eight mutations applied (fewer more often: most inputs stay
    close enough to a real one to reach the decoders behind the first check)."""
    data = bytearray(seed)
    for _ in range(1 + int(rng.expovariate(0.6)) % 8):
        MUTATIONS[rng.randrange(len(MUTATIONS))](rng, data, corpus)
    if len(data) > MAX_SIZE:
        del data[MAX_SIZE:]
    return bytes(data)


def splits(rng: random.Random, data: bytes) -> list[bytes]:
    """``data`` cut into one to four chunks at random points: a stream decoder must not
    care where the line or the socket split its bytes."""
    if len(data) < 2 or rng.random() < 0.5:
        return [data]
    cuts = sorted(rng.randrange(1, len(data)) for _ in range(rng.randrange(1, 4)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
