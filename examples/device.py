"""The device side: load a package, recommend, fold in a new user, shrink to a new budget.
Only NumPy is needed here (``elasticrec.runtime``).

    python examples/device.py example-user.erpkg   # a package from train_and_export.py
"""

from __future__ import annotations

import sys

from elasticrec import runtime


def main(argv: list[str]) -> None:
    path = argv[0] if argv else "example-user.erpkg"
    pkg = runtime.load(path)  # checked: format, sizes, checksum
    print(f"{path}: {pkg.file_bytes:,} bytes, {pkg.n_items} items, users {pkg.users}")
    rec = pkg.recommend(5)
    print("top 5:", list(rec.labels), [round(float(s), 3) for s in rec.scores])
    seen = pkg.item_index(list(rec.labels[:2]))
    new_user = pkg.fold_in(seen)  # a vector for someone who liked those two items
    print("for a new user:", list(pkg.recommend(5, user_vector=new_user, exclude=seen).labels))
    budget = pkg.file_bytes * 2 // 3  # the device's free memory shrank
    smaller = runtime.load_bytes(runtime.shrink(pkg, budget))
    print(f"shrunk on the device to {smaller.file_bytes:,} bytes (budget {budget:,}); top 5:",
          list(smaller.recommend(5).labels))


if __name__ == "__main__":
    main(sys.argv[1:])
