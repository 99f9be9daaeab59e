"""Taking a package apart and putting it back with edits, for tests of refused packages."""

from __future__ import annotations

import json

import numpy as np

from elasticrec.format.container import DTYPES, ZERO_DIGEST, decode, encode


def split(data: bytes) -> tuple[dict, dict]:
    """A package's manifest (parsed) and its tensors, as (dtype, writable array) by name."""
    c = decode(data)
    tensors = {name: (spec.dtype, np.frombuffer(data, DTYPES[spec.dtype],
                                                int(np.prod(spec.shape)), offset)
                      .reshape(spec.shape).copy())
               for name, (spec, offset) in c.tensors.items()}
    return json.loads(c.manifest_json), tensors


def rebuilt(package: bytes, edit_manifest=None, edit_tensors=None) -> bytes:
    """``package`` with its manifest and tensors edited in place by the callbacks, encoded
    again (the digest left to be filled in, as a writer does)."""
    raw, tensors = split(package)
    raw["sha256"] = ZERO_DIGEST
    if edit_manifest:
        edit_manifest(raw)
    if edit_tensors:
        edit_tensors(tensors)
    return encode(json.dumps(raw, ensure_ascii=True, separators=(",", ":")), tensors)
