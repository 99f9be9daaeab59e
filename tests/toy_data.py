"""Tiny datasets with known answers, shared by tests."""

import numpy as np

from elasticrec.data.interactions import Interactions


def block_clusters(rng, blocks=4, users_per=12, items_per=10, density=0.6):
    """Users of block b like items of block b only; returns (train, held-out) pairs."""
    u, i = [], []
    for b in range(blocks):
        for uu in range(b * users_per, (b + 1) * users_per):
            items = np.flatnonzero(rng.random(items_per) < density) + b * items_per
            u += [uu] * len(items)
            i += items.tolist()
    u, i = np.array(u), np.array(i)
    test = rng.random(len(u)) < 0.25
    n_users, n_items = blocks * users_per, blocks * items_per
    def make(m):
        return Interactions(user=u[m], item=i[m], n_users=n_users, n_items=n_items)
    return make(~test), make(test)
