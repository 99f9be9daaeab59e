"""The device runtime: load a package, recommend, fold in, shrink. Imports NumPy only.

    from elasticrec import runtime
    pkg = runtime.load("alice.erpk")          # memory-mapped, checked, SHA-256 verified
    rec = pkg.recommend(20, exclude=pkg.item_index(["17", "42"]))   # rec.labels, rec.scores
    u = pkg.fold_in(pkg.item_index(["3", "5"]))                      # a new user, least squares
    named = runtime.load("bob.erpk", catalogue=ids)  # items named by the device's catalogue
    smaller = runtime.shrink(pkg, 500_000)    # bytes of a valid package within 500 kB

Every refusal is a ``PackageError`` (an ``elasticrec.errors.ElasticrecError``) with a one-line
message; a test proves in a subprocess that importing and using this module loads neither
torch nor scipy.
"""

from elasticrec.format.errors import PackageError
from elasticrec.format.manifest import (
    BlockLayout,
    DenseLayout,
    Manifest,
    PQLayout,
    QRLayout,
    RaggedLayout,
)
from elasticrec.format.sizes import byte_breakdown, id_map_bytes, id_map_costs
from elasticrec.runtime.package import Package, Recommendation, load, load_bytes
from elasticrec.runtime.shrink import shrink

__all__ = ["BlockLayout", "DenseLayout", "Manifest", "PQLayout", "Package", "PackageError",
           "QRLayout", "RaggedLayout", "Recommendation", "byte_breakdown", "id_map_bytes",
           "id_map_costs", "load", "load_bytes", "shrink"]
