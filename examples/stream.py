"""Streaming recommendation under a fixed budget: events arrive over time, new users and items
keep coming, and every segment's embeddings must fit the same number of bytes.

    python examples/stream.py            # synthetic arriving users and items
"""

from __future__ import annotations

import numpy as np

import elasticrec


def arriving_events(n: int = 6000, n_users: int = 500, n_items: int = 300, seed: int = 0):
    """Ids grow with time, so later events bring new users and items."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.random(n))
    users = np.minimum((t * n_users + rng.integers(0, 40, n)).astype(int), n_users - 1)
    items = np.minimum((t * n_items + rng.integers(0, 25, n)).astype(int), n_items - 1)
    return users, items, (t * 1e7).astype(np.int64)


def main() -> None:
    users, items, times = arriving_events()
    result = elasticrec.stream((users, items, times), budget="c=8", method="su", segments=4,
                               model="mf", d_max=16, epochs=5, log=print)
    for seg in result.segments:
        print(f"segment {seg['segment']}: {seg['n_users']} users, {seg['n_items']} items, "
              f"{seg['package_bytes']:,} of {seg['budget_bytes']:,} bytes, "
              f"recall@20 {seg.get('recall@20', float('nan')):.4f}")
    print(f"mean recall@20 over segments 1..T: {result.summary['recall@20']:.4f}; every "
          f"segment within budget: {result.summary['within_budget']}")
    user = result.user_ids[-1]  # a user stored in the latest segment
    package = result.export(user)
    print(f"device package for user {user} from the latest segment: {len(package):,} bytes")


if __name__ == "__main__":
    main()
