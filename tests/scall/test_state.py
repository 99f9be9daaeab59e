"""SCALL's state: fixed length by mean pooling, whatever the numbers of users and items."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from elasticrec.scall.state import build_state, mean_pool, size_range, state_length


def test_the_released_layout_is_1028_long():
    assert state_length(256, 256) == 1028
    s = build_state(np.arange(10), np.arange(7), 0.5, np.zeros(256), np.zeros(256), 0.1, 0.2)
    assert s.shape == (1028,) and s.dtype == np.float32
    assert s[512] == 0.5 and np.isclose(s[513], 10 / 17)
    assert np.allclose(s[-2:], [0.1, 0.2])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3000), st.integers(0, 3000), st.integers(1, 64), st.integers(1, 300))
def test_the_length_does_not_depend_on_the_numbers_of_entities(n_u, n_i, d_max, groups):
    rng = np.random.default_rng(n_u + n_i)
    s = build_state(rng.integers(0, 50, n_u), rng.integers(0, 50, n_i), 1.0,
                    rng.normal(size=d_max), rng.normal(size=d_max), 0.0, 0.0, groups=groups)
    assert s.shape == (state_length(d_max, groups),)
    assert np.isfinite(s).all()


def test_pooling_sorts_scales_and_averages_windows():
    counts = np.array([0, 10, 5, 0, 5, 2])  # sorted: 10 5 5 2 0 0 -> scaled 1 .5 .5 .2 0 0
    assert np.allclose(mean_pool(counts, 3), [0.75, 0.35, 0.0])
    # fewer entities than windows: one entity per window, the rest 0
    assert np.allclose(mean_pool(np.array([4, 2, 0]), 5), [1.0, 0.5, 0.0, 0.0, 0.0])
    assert np.allclose(mean_pool(np.array([3, 3]), 2), 0.0)  # no spread: all zero
    assert np.allclose(mean_pool(np.zeros(0), 4), 0.0)
    # windows of ceil(n / G): 7 entities in 3 windows of 3, 3, 1
    assert np.allclose(mean_pool(np.array([6, 5, 4, 3, 2, 1, 0]), 3),
                       [(1 + 5 / 6 + 4 / 6) / 3, (3 / 6 + 2 / 6 + 1 / 6) / 3, 0.0])


def test_size_range_is_scaled_by_the_size_bounds():
    assert size_range(np.array([64, 1, 10]), 1, 64) == 1.0
    assert size_range(np.array([8, 8]), 1, 64) == 0.0
