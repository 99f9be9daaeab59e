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


def arriving_stream(rng, n=3000, n_users=300, n_items=200):
    """Entities arrive over time: ids grow with time, so later rows bring new ones."""
    t = np.sort(rng.random(n))
    user = np.minimum((t * n_users + rng.integers(0, 30, n)).astype(int), n_users - 1)
    item = np.minimum((t * n_items + rng.integers(0, 20, n)).astype(int), n_items - 1)
    return Interactions(user=user, item=item, n_users=n_users, n_items=n_items,
                        timestamp=(t * 1e6).astype(np.int64))


def run_folder(path, emb, method="full"):
    """A complete run folder around ``emb`` (a ``RunEmbeddings``) without training: what
    package commands need to export from hand-made tables."""
    from elasticrec.embeddings import save_embeddings
    from elasticrec.pipeline import rundir

    config = {"data": {"dataset": emb.dataset}, "model": {"model": emb.model},
              "dataset_fingerprint": emb.dataset_fingerprint, "method": method,
              "data_source": "file"}
    save_embeddings(path, emb)
    rundir.write_config(path, config)
    (path / rundir.RESULT_FILE).write_text("{}\n")
    rundir.seal(path, config)
    return path


def clustered(n_users=50, n_items=160, n=2500, seed=0):
    """(users, items) event arrays: four user blocks, each on its own quarter of the items."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n)
    items = (users % 4) * (n_items // 4) + rng.integers(0, n_items // 4, n)
    return users, items
