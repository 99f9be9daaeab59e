"""The package container: a safetensors file, written byte for byte here, with a SHA-256.

Layout (docs/FORMAT.md): an 8-byte little-endian header length ``N``; ``N`` bytes of compact
JSON header, padded with spaces to a multiple of 8; then the tensors' bytes, back to back in
header order. The header is ``{"__metadata__":{"elasticrec":MANIFEST},TENSORS...}`` where
MANIFEST is the manifest JSON as a string, beginning with its ``sha256`` field, and tensors
appear in safetensors' own storage order (dtype rank descending, then name), so that these
bytes equal what ``safetensors.numpy.save`` writes for the same tensors and metadata.

The digest is the SHA-256 of the whole file with its own 64 hex characters read as ASCII
``0``; it therefore covers the length field, the header, the manifest and every tensor.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from elasticrec.format.errors import PackageError

DTYPES: dict[str, np.dtype] = {
    "I64": np.dtype("<i8"),
    "F32": np.dtype("<f4"),
    "I32": np.dtype("<i4"),
    "F16": np.dtype("<f2"),
    "U16": np.dtype("<u2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
}
# safetensors sorts tensors by its Dtype enum, descending; these ranks keep that order.
_RANK = {"I64": 6, "F32": 5, "I32": 4, "F16": 3, "U16": 2, "I8": 1, "U8": 0}

MANIFEST_KEY = "elasticrec"
HEADER_PREFIX = b'{"__metadata__":{"elasticrec":"{\\"sha256\\":\\"'
DIGEST_OFFSET = 8 + len(HEADER_PREFIX)  # file offset of the digest's 64 hex characters
DIGEST_CHARS = 64
ZERO_DIGEST = "0" * DIGEST_CHARS
MAX_HEADER_BYTES = 100_000_000  # the limit safetensors itself enforces


@dataclass(frozen=True)
class TensorSpec:
    """A tensor's name, safetensors dtype code and shape: all the size function needs."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * DTYPES[self.dtype].itemsize


@dataclass(frozen=True)
class Container:
    """A parsed, structurally valid container; ``tensors`` maps name -> (spec, file offset)."""

    manifest_json: str
    tensors: dict[str, tuple[TensorSpec, int]]
    header_bytes: int
    file_bytes: int


def storage_order(specs: Sequence[TensorSpec]) -> list[TensorSpec]:
    return sorted(specs, key=lambda s: (-_RANK[s.dtype], s.name))


def encode_header(manifest_json: str, specs: Sequence[TensorSpec]) -> bytes:
    """The padded header (without the length field) for ``manifest_json`` and ``specs``."""
    parts = ['{"__metadata__":{"' + MANIFEST_KEY + '":' + json.dumps(manifest_json) + "}"]
    offset = 0
    for spec in storage_order(specs):
        end = offset + spec.nbytes
        shape = ",".join(str(d) for d in spec.shape)
        parts.append(f'"{spec.name}":{{"dtype":"{spec.dtype}","shape":[{shape}],'
                     f'"data_offsets":[{offset},{end}]}}')
        offset = end
    header = (",".join(parts) + "}").encode("utf-8")
    return header + b" " * (-len(header) % 8)


def container_size(manifest_json: str, specs: Sequence[TensorSpec]) -> int:
    """The exact file size, computed from the header alone (no tensor data needed)."""
    return 8 + len(encode_header(manifest_json, specs)) + sum(s.nbytes for s in specs)


def encode(manifest_json: str, tensors: Mapping[str, tuple[str, np.ndarray]]) -> bytes:
    """The package bytes; ``manifest_json`` starts with ``{"sha256":"`` and 64 zeros, which
    are replaced by the digest. ``tensors`` maps name -> (dtype code, array)."""
    if not manifest_json.startswith('{"sha256":"' + ZERO_DIGEST + '"'):
        raise ValueError("manifest_json must begin with the zero digest placeholder")
    arrays = {name: np.ascontiguousarray(arr, dtype=DTYPES[code])
              for name, (code, arr) in tensors.items()}
    specs = [TensorSpec(name, code, tuple(int(d) for d in arrays[name].shape))
             for name, (code, _) in tensors.items()]
    header = encode_header(manifest_json, specs)
    out = bytearray(struct.pack("<Q", len(header)))
    out += header
    for spec in storage_order(specs):
        out += arrays[spec.name].tobytes()
    out[DIGEST_OFFSET:DIGEST_OFFSET + DIGEST_CHARS] = digest(out).encode("ascii")
    return bytes(out)


def digest(buf: bytes | bytearray | memoryview) -> str:
    """SHA-256 of ``buf`` with the digest field read as ASCII zeros (see module docstring)."""
    view = memoryview(buf)
    h = hashlib.sha256(view[:DIGEST_OFFSET])
    h.update(ZERO_DIGEST.encode("ascii"))
    h.update(view[DIGEST_OFFSET + DIGEST_CHARS:])
    return h.hexdigest()


def decode(buf: bytes | memoryview, *, verify: bool = True) -> Container:
    """Parse and check the container structure; ``verify`` also checks the digest."""
    view = memoryview(buf)
    size = len(view)
    if size < 8:
        raise PackageError(f"truncated: {size} bytes, fewer than the 8-byte header length field")
    (n_header,) = struct.unpack("<Q", view[:8])
    if n_header > MAX_HEADER_BYTES:
        raise PackageError(
            f"header length {n_header:,} exceeds the {MAX_HEADER_BYTES:,}-byte limit")
    if 8 + n_header > size:
        raise PackageError(f"truncated: header length {n_header:,} runs past the end of the "
                           f"{size:,}-byte file")
    if n_header % 8:
        raise PackageError(f"header length {n_header:,} is not a multiple of 8")
    header = bytes(view[8:8 + n_header])
    if not header.startswith(HEADER_PREFIX) or n_header < len(HEADER_PREFIX) + DIGEST_CHARS:
        raise PackageError("not an elasticrec package: the header does not begin with the "
                           "elasticrec manifest")
    try:
        parsed = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageError(f"header is not valid UTF-8 JSON ({exc})") from None
    except RecursionError:
        raise PackageError("header is nested too deeply to be a package header") from None
    if not isinstance(parsed, dict):
        raise PackageError("header is not a JSON object")
    meta = parsed.pop("__metadata__", None)
    if not isinstance(meta, dict) or set(meta) != {MANIFEST_KEY} or not isinstance(
            meta[MANIFEST_KEY], str):
        raise PackageError('header __metadata__ must hold exactly one string, "elasticrec"')
    specs = [_entry_spec(name, entry) for name, entry in parsed.items()]
    offsets = {name: tuple(entry["data_offsets"]) for name, entry in parsed.items()}
    buffer_bytes = size - 8 - n_header
    end = 0
    for spec in storage_order(specs):
        start, stop = offsets[spec.name]
        if start != end:
            raise PackageError(f"tensor {spec.name!r} starts at byte {start:,} of the data, "
                               f"expected {end:,}: tensors must be back to back in header order")
        end = stop
    if end > buffer_bytes:
        raise PackageError(f"truncated: the tensors need {end:,} bytes of data but the file "
                           f"holds {buffer_bytes:,}")
    if end < buffer_bytes:
        raise PackageError(f"{buffer_bytes - end:,} trailing bytes after the last tensor")
    manifest_json = meta[MANIFEST_KEY]
    if encode_header(manifest_json, specs) != header:
        raise PackageError("header is not in canonical form (order, spacing or padding differ "
                           "from docs/FORMAT.md)")
    if verify:
        found = header[len(HEADER_PREFIX):len(HEADER_PREFIX) + DIGEST_CHARS].decode("ascii",
                                                                                    "replace")
        if digest(view) != found:
            raise PackageError("checksum mismatch: the file is corrupted or was modified "
                               "after it was written")
    start = 8 + n_header
    tensors = {s.name: (s, start + offsets[s.name][0]) for s in specs}
    return Container(manifest_json, tensors, 8 + n_header, size)


def _entry_spec(name: str, entry: object) -> TensorSpec:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise PackageError(f"tensor {name!r}: entry must have exactly dtype, shape, data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        raise PackageError(f"tensor {name!r} has dtype {dtype!r}; allowed: {sorted(DTYPES)}")
    if not isinstance(shape, list) or not all(_nonneg_int(d) for d in shape):
        raise PackageError(f"tensor {name!r} has shape {shape!r}; allowed: a list of ints >= 0")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_nonneg_int, offsets))
            or offsets[1] < offsets[0]):
        raise PackageError(f"tensor {name!r} has data_offsets {offsets!r}; allowed: [start, end]"
                           " with 0 <= start <= end")
    spec = TensorSpec(name, dtype, tuple(shape))
    if offsets[1] - offsets[0] != spec.nbytes:
        raise PackageError(f"tensor {name!r}: data_offsets {offsets} span "
                           f"{offsets[1] - offsets[0]:,} bytes but {dtype} {shape} needs "
                           f"{spec.nbytes:,}")
    return spec


def _nonneg_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0
