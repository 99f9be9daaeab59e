"""How each streaming method sizes the embeddings of one segment (pure functions).

A policy gets the segment's vocabulary (which users and items are known), their
current-segment frequencies, their cumulative frequencies and the parameter budget, and
returns a width per user and per item (0 outside the vocabulary):

* ``su``: the same size for every known entity, ``floor(P / n)`` (capped at d_max);
* ``mr``: random sizes under the budget: a random action of the size sampler, the sizes
  given to entities in random order;
* ``grow``: the prior approach SCALL criticises: sizes grow with cumulative frequency, with
  no cap on the total (``d = d0 * sqrt(1 + cumulative frequency)``, d0 set so that the first
  segment meets the budget); later segments leave it.

SCALL's learned policy (``scall.search``) picks the sampler's action with a Soft
Actor-Critic agent; the sampler itself is ``sampler.sizes_from_action``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from elasticrec.scall.sampler import D_MAX, D_MIN, sizes_from_action

RULES = ("su", "mr", "grow")


@dataclass(frozen=True, eq=False)
class SegmentView:
    known_users: np.ndarray  # (n_users,) bool: in this segment's training rows
    known_items: np.ndarray
    user_freq: np.ndarray  # (n_users,) events in the current segment's training rows
    item_freq: np.ndarray
    user_cum: np.ndarray  # (n_users,) events in all training rows so far
    item_cum: np.ndarray
    total_params: int  # the parameter budget for this segment
    index: int


def uniform_sizes(view: SegmentView, d_max: int = D_MAX) -> tuple[np.ndarray, np.ndarray]:
    n = int(view.known_users.sum() + view.known_items.sum())
    size = min(d_max, view.total_params // max(n, 1))
    return view.known_users * size, view.known_items * size


def random_sizes(view: SegmentView, rng: np.random.Generator, d_min: int = D_MIN,
                 d_max: int = D_MAX) -> tuple[np.ndarray, np.ndarray]:
    n_u, n_i = int(view.known_users.sum()), int(view.known_items.sum())
    users, items = sizes_from_action(rng.random(3), n_u, n_i, view.total_params, rng,
                                     d_min=d_min, d_max=d_max, draws=10)
    return (on_vocabulary(view.known_users, rng.permutation(users)),
            on_vocabulary(view.known_items, rng.permutation(items)))


def on_vocabulary(known: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per-entity sizes: ``sizes`` for the known entities in id order, 0 for the others."""
    full = np.zeros(len(known), dtype=np.int64)
    full[known] = sizes
    return full


def growing_sizes(view: SegmentView, d0: float, d_max: int = D_MAX
                  ) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for known, cum in ((view.known_users, view.user_cum), (view.known_items, view.item_cum)):
        size = np.clip(np.ceil(d0 * np.sqrt(1.0 + cum)), 1, d_max).astype(np.int64)
        out.append(np.where(known, size, 0))
    return out[0], out[1]


def growth_scale(view: SegmentView, d_max: int = D_MAX) -> float:
    """The ``d0`` for which ``growing_sizes`` meets the budget on ``view`` (bisection)."""
    lo, hi = 0.0, float(d_max)
    for _ in range(60):
        mid = (lo + hi) / 2
        u, i = growing_sizes(view, mid, d_max)
        if u.sum() + i.sum() <= view.total_params:
            lo = mid
        else:
            hi = mid
    return lo



class Rule:
    """A sizing rule that learns nothing: ``su``, ``mr`` or ``grow`` (the harness's
    ``SizePolicy``)."""

    probe_steps = None

    def __init__(self, name: str, d_max: int, rng: np.random.Generator) -> None:
        if name not in RULES:
            raise ValueError(f"sizing rule {name!r} is not known: one of {RULES}")
        self.name, self.d_max, self.rng = name, d_max, rng
        self.scale: float | None = None

    def sizes(self, data) -> tuple[np.ndarray, np.ndarray, dict]:
        view = data.view
        if self.name == "su":
            return (*uniform_sizes(view, self.d_max), {})
        if self.name == "mr":
            return (*random_sizes(view, self.rng, d_max=self.d_max), {})
        if self.scale is None:  # grow: sized to meet the budget on the first segment only
            self.scale = growth_scale(view, self.d_max)
        return (*growing_sizes(view, self.scale, self.d_max), {})

    def learn(self, env, data, net, probe) -> dict:
        return {}
