"""Reading and checking MNIST files in the IDX format (gzipped or not).

The format: a 4-byte big-endian magic number whose third byte is the element type
(0x08 = unsigned byte) and fourth the number of dimensions, then one 4-byte
big-endian size per dimension, then the elements. Every problem found is raised
as :class:`DataError` naming the file.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import struct
import zlib
from pathlib import Path

import numpy as np

from models.errors import DataError

_logger = logging.getLogger(__name__)

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_GZIP_SIGNATURE = b"\x1f\x8b"
_HEADER_INT = struct.Struct(">I")
_UNSIGNED_BYTE = 0x08

# SHA-256 of the four original gzipped files, as listed in the SHA256SUMS file that
# accompanies the MNIST copy this project was developed against.
ORIGINAL_SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def read_idx(path: Path, *, expected_magic: int) -> np.ndarray:
    """Return the array stored in the IDX file at ``path``.

    Raises:
        DataError: the file is unreadable, truncated, not gzip when it says so, or its
            header does not announce ``expected_magic``.
    """
    raw = _read_bytes(path)
    _note_checksum(path, raw)
    payload = _decompress(path, raw)
    return _parse(path, payload, expected_magic=expected_magic)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read MNIST file {path}: {exc.strerror or exc}") from exc


def _note_checksum(path: Path, raw: bytes) -> None:
    known = ORIGINAL_SHA256.get(path.name)
    if known is None:
        return
    if hashlib.sha256(raw).hexdigest() == known:
        _logger.debug("%s matches the SHA-256 of the original MNIST file", path)
    else:
        _logger.warning(
            "%s does not match the SHA-256 of the original MNIST file; "
            "its structure is checked, its contents are not", path,
        )


def _decompress(path: Path, raw: bytes) -> bytes:
    if not raw.startswith(_GZIP_SIGNATURE):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"MNIST file {path} is a corrupt or truncated gzip file: {exc}") from exc


def _parse(path: Path, payload: bytes, *, expected_magic: int) -> np.ndarray:
    if len(payload) < _HEADER_INT.size:
        raise DataError(f"MNIST file {path} is too short to hold an IDX header ({len(payload)} bytes)")
    (magic,) = _HEADER_INT.unpack_from(payload, 0)
    if magic != expected_magic:
        raise DataError(
            f"MNIST file {path} has IDX magic number {magic}, expected {expected_magic} "
            f"({'images' if expected_magic == IMAGES_MAGIC else 'labels'})"
        )
    element_type, n_dims = (magic >> 8) & 0xFF, magic & 0xFF
    if element_type != _UNSIGNED_BYTE:
        raise DataError(f"MNIST file {path} stores element type {element_type:#x}, expected unsigned bytes")
    header_size = _HEADER_INT.size * (1 + n_dims)
    if len(payload) < header_size:
        raise DataError(f"MNIST file {path} is truncated inside its IDX header")
    shape = tuple(_HEADER_INT.unpack_from(payload, _HEADER_INT.size * (1 + i))[0] for i in range(n_dims))
    expected = int(np.prod(shape, dtype=np.int64))
    actual = len(payload) - header_size
    if actual != expected:
        raise DataError(
            f"MNIST file {path} is truncated or padded: header announces shape {shape} "
            f"({expected} bytes of data) but {actual} bytes follow"
        )
    return np.frombuffer(payload, dtype=np.uint8, offset=header_size).reshape(shape)
