"""``mixed_shape``: the widths of a mixed-dimension MF (Ginart et al., models/mixed.py) whose
device package fits a budget, sized before it is trained, as ``qr_shape`` sizes QR-MF. The
model is then ``fit(model="mf", item_widths=widths, dim=max(widths))``, and its packages
ship every item row at its trained width (the ragged layout)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from elasticrec.budget.selection import RaggedSelection
from elasticrec.budget.units import budget_to_bytes, full_table_bytes
from elasticrec.embeddings import RunEmbeddings
from elasticrec.errors import ElasticrecError
from elasticrec.export.builder import BuildOptions, plan
from elasticrec.format.sizes import device_bytes
from elasticrec.models.mixed import ALPHA, N_GROUPS, ginart_widths, item_widths


def mixed_shape(embeddings: RunEmbeddings, popularity: np.ndarray, budget: int | str, *,
                dtype: str = "float32", n_groups: int = N_GROUPS,
                alpha: float = ALPHA) -> tuple[int, ...]:
    """The widths, one per popularity group (the most popular first), of the mixed-dimension
    table of ``embeddings``' users and items whose every single-user package fits ``budget``
    (bytes, or ``"2MB"``, ``"10%"`` of the full float32 item table): the paper's rule
    ``lambda * p_g ** alpha`` for the largest ``lambda`` that fits, each width in
    ``[1, dim]``. ``popularity``: one count per item (training events). ``ElasticrecError``
    when even widths of 1 do not fit.

    >>> elasticrec.mixed_shape(run.embeddings, counts, "10%")  # doctest: +SKIP
    (12, 8, 5, 4)
    """
    popularity = np.asarray(popularity)
    n_items, dim = embeddings.item.shape
    if popularity.shape != (n_items,):
        raise ElasticrecError(f"popularity has shape {popularity.shape}; one count per item "
                              f"({n_items}) is needed")
    budget_bytes = budget_to_bytes(budget, full_table_bytes=full_table_bytes(n_items, dim))
    options = BuildOptions(value_dtype=dtype, method="given-truncate")

    def fits(widths: tuple[int, ...]) -> bool:
        width = max(widths)
        stand_in = replace(embeddings, user=embeddings.user[:, :width],
                           item=embeddings.item[:, :width])
        layout = RaggedSelection(item_widths(popularity, widths))
        return device_bytes(plan(stand_in, layout, options)) <= budget_bytes

    widths = ginart_widths(popularity, dim, fits, n_groups=n_groups, alpha=alpha)
    if not widths:
        raise ElasticrecError(f"budget of {budget_bytes:,} bytes: no mixed-dimension table "
                              "fits, even with one value per item")
    return widths
