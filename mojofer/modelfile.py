"""The project's model file format (".mfm"), written from Python.

The byte layout is documented at the top of csrc/include/mojofer.h; the C
loader validates every field. `read_model` is a pure-Python reader used by
tests and tools to check files independently of the C core.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

MAGIC = b"MOJOFER\0"
VERSION = 1
HEADER = struct.Struct("<8sII16sQQ")
ENTRY = struct.Struct("<48sII4IQQ")
ALIGN = 64
MAX_TENSORS = 1024
DTYPES = {np.dtype(np.float32): 0, np.dtype(np.int32): 1}
DTYPE_OF_CODE = {code: dtype for dtype, code in DTYPES.items()}


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def encode_model(kind: str, tensors: Mapping[str, np.ndarray]) -> bytes:
    """The bytes of a model file holding `tensors` (float32 or int32, 1-4 dims)."""
    kind_bytes = kind.encode("ascii")
    if not kind_bytes or len(kind_bytes) > 16 or not kind.isprintable():
        raise ValueError(f"kind must be 1 to 16 ASCII characters, got {kind!r}")
    if not 1 <= len(tensors) <= MAX_TENSORS:
        raise ValueError(f"a model holds 1 to {MAX_TENSORS} tensors, got {len(tensors)}")
    arrays = []
    for name, value in tensors.items():
        encoded = name.encode("ascii")
        if not encoded or len(encoded) > 47 or not name.isprintable():
            raise ValueError(f"tensor name must be 1 to 47 ASCII characters, got {name!r}")
        if np.ndim(value) == 0:
            raise ValueError(f"tensor {name!r} must have 1 to 4 non-empty dims, got a scalar")
        array = np.ascontiguousarray(value)
        if array.dtype.newbyteorder("=") not in DTYPES:
            raise TypeError(f"tensor {name!r} must be float32 or int32, got {array.dtype}")
        if not 1 <= array.ndim <= 4 or 0 in array.shape:
            raise ValueError(f"tensor {name!r} must have 1 to 4 non-empty dims, got {array.shape}")
        arrays.append((encoded, array))

    data_offset = _aligned(HEADER.size + ENTRY.size * len(arrays))
    table, chunks, offset = [], [], 0
    for encoded, array in arrays:
        dims = list(array.shape) + [1] * (4 - array.ndim)
        table.append(ENTRY.pack(encoded, DTYPES[array.dtype.newbyteorder("=")], array.ndim, *dims, offset, array.nbytes))
        padded = _aligned(array.nbytes)
        little_endian = array.astype(array.dtype.newbyteorder("<"), copy=False)
        chunks.append(little_endian.tobytes() + b"\0" * (padded - array.nbytes))
        offset += padded
    file_size = data_offset + offset + 4
    head = HEADER.pack(MAGIC, VERSION, len(arrays), kind_bytes, file_size, data_offset)
    body = head + b"".join(table)
    body += b"\0" * (data_offset - len(body)) + b"".join(chunks)
    return body + struct.pack("<I", zlib.crc32(body))


def names_tensor(names: Sequence[str]) -> np.ndarray:
    """A name list as a model records its classes or units (the format notes
    in mojofer.h): int32 [n], one ASCII byte an element, each name followed
    by a NUL. The C loader compares it with the core's names."""
    for name in names:
        if not name or not name.isascii() or "\0" in name:
            raise ValueError(f"a recorded name must be non-empty ASCII without NUL, got {name!r}")
    data = b"".join(name.encode("ascii") + b"\0" for name in names)
    return np.frombuffer(data, np.uint8).astype(np.int32)


def names_of(tensor: np.ndarray) -> tuple[str, ...]:
    """The names a name list (names_tensor) holds."""
    return tuple(bytes(np.asarray(tensor).astype(np.uint8)).decode("ascii").split("\0")[:-1])


def write_model(path: str | Path, kind: str, tensors: Mapping[str, np.ndarray]) -> Path:
    path = Path(path)
    path.write_bytes(encode_model(kind, tensors))
    return path


def read_model(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """(kind, tensors) from a model file; a malformed one raises ValueError."""
    data = Path(path).read_bytes()
    if len(data) < HEADER.size + 4:
        raise ValueError("model file is truncated")
    magic, version, count, kind, file_size, data_offset = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError("not a mojofer model file (bad magic)")
    if version != VERSION:
        raise ValueError(f"unsupported model file version {version}")
    if file_size != len(data) or zlib.crc32(data[:-4]) != struct.unpack("<I", data[-4:])[0]:
        raise ValueError("model file is truncated or corrupted")
    tensors = {}
    for i in range(count):
        name, code, ndim, *rest = ENTRY.unpack_from(data, HEADER.size + i * ENTRY.size)
        dims, (offset, nbytes) = rest[:ndim], rest[4:]
        start = data_offset + offset
        if code not in DTYPE_OF_CODE or not 1 <= ndim <= 4 or 0 in dims or \
                nbytes != 4 * int(np.prod(dims)) or offset % ALIGN or start + nbytes > len(data) - 4:
            raise ValueError(f"model file has a malformed table entry {i}")
        array = np.frombuffer(data, DTYPE_OF_CODE[code].newbyteorder("<"), nbytes // 4, start)
        tensors[name.rstrip(b"\0").decode("ascii")] = array.reshape(dims).copy()
    return kind.rstrip(b"\0").decode("ascii"), tensors
