"""Train a recommender on a DataFrame and export a device package within a byte budget.

    python examples/train_and_export.py                 # a synthetic DataFrame
    python examples/train_and_export.py events.csv      # your own user,item[,timestamp] CSV

The synthetic data: users in four taste groups, each preferring its own quarter of the items.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

import elasticrec


def synthetic_events(n_users: int = 400, n_items: int = 200, n_events: int = 12_000,
                     seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_events)
    taste = users % 4
    items = taste * (n_items // 4) + rng.zipf(1.6, n_events) % (n_items // 4)
    return pd.DataFrame({"user": [f"user{u}" for u in users], "item": items})


def main(argv: list[str]) -> None:
    events = pd.read_csv(argv[0]) if argv else synthetic_events()
    run = elasticrec.fit(events, model="mf", method="rule", epochs=10, lr=1e-2, dim=32,
                         n_blocks=8, n_groups=8, label_configs=60, log=print)
    print("server model:", {k: round(v, 4) for k, v in run.evaluate().items()
                            if k.startswith(("recall", "ndcg"))})
    user = run.user_ids[0]
    items, _ = run.recommend([user], k=5)
    print(f"top 5 for {user} on the server: {items[0].tolist()}")
    for budget in ("20%", "50%"):
        package = run.export(budget, user=user)
        shipped = run.evaluate(budget=budget)
        print(f"package at {budget}: {len(package):,} bytes "
              f"(budget {run.budget_bytes(budget):,}); recall@20 of what ships "
              f"{shipped['recall@20']:.4f}")
    elasticrec.write_bytes("example-user.erpkg", run.export("20%", user=user))
    print("wrote example-user.erpkg")


if __name__ == "__main__":
    main(sys.argv[1:])
