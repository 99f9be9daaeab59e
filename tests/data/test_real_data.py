"""Every named dataset loads with exactly the statistics of the dataset README (slow)."""

from __future__ import annotations

import numpy as np
import pytest

from elasticrec.data.dataset import load_dataset
from elasticrec.data.folder import dataset_status

# name: (users, items, train events, test events or None, distinct train pairs)
EXPECTED = {
    "gowalla": (29_858, 40_981, 810_128, 217_242, 810_128),
    "yelp2018": (31_668, 38_048, 1_237_259, 324_147, 1_237_259),
    "ml-100k": (943, 1_682, 100_000, None, 100_000),
    "ml-latest-small": (610, 9_724, 100_836, None, 100_836),
    "amazon-grocery": (14_681, 8_687, 121_892, None, 121_892),
    # CiaoDVD has 320 repeated (user, movie) ratings: kept as events, collapsed by to_csr
    "ciaodvd": (17_615, 16_121, 72_665, None, 72_345),
}


def require(shared_data_dir, name):
    if not (shared_data_dir / name).is_dir():
        pytest.skip(f"{name} is not in {shared_data_dir}")


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_named_dataset_statistics(shared_data_dir, name):
    require(shared_data_dir, name)
    users, items, n_train, n_test, pairs = EXPECTED[name]
    ds = load_dataset(name, shared_data_dir, download=False)
    assert (ds.name, ds.n_users, ds.n_items, len(ds.train)) == (name, users, items, n_train)
    assert ds.train.to_csr().nnz == pairs
    if n_test is None:
        assert ds.test is None and ds.train.timestamp is not None
    else:
        assert len(ds.test) == n_test and ds.train.timestamp is None
        # the published splits use every user and item id
        all_events = ds.all()
        assert len(np.unique(all_events.user)) == users
        assert len(np.unique(all_events.item)) == items
    assert len(ds.train.user_labels) == users and len(ds.train.item_labels) == items


@pytest.mark.slow
def test_shared_datasets_are_intact(shared_data_dir):
    statuses = [s for s in dataset_status(shared_data_dir) if s.folder.is_dir()]
    if not statuses:
        pytest.skip(f"no named dataset in {shared_data_dir}")
    assert {s.name: s.state for s in statuses} == {s.name: "ok" for s in statuses}
