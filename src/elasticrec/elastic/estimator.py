"""The performance estimator: predicts a block configuration's quality without evaluating it.

Two models, chosen by ``ElasticConfig.estimator``:

``additive`` (default): ``y = b + sum_g sum_t a[g, t] * (1 - exp(-|S_g| / tau_t))``, a ridge
regression on saturating functions of each item group's block count (tau in 1..32). Blocks
trained on random subsets are close to interchangeable, so a group's return on blocks is a
concave function of their number, different per group (popular groups matter more); the
model has 6G parameters and fits 320 labels without overfitting. The ridge weight is chosen
by 5-fold cross-validation on the fitting labels.

``nfm``: a neural factorisation machine (NFM, as in the released RULE code) over one binary
feature per (item group, block) pair, plus two features of each group's block count (``features``):
``y = w0 + <w, x> + MLP(BI(x))`` with the bi-interaction pooling
``BI(x) = 0.5 * ((sum_j x_j v_j)^2 - sum_j x_j v_j^2)``. The released code's features are one
categorical id per (group, block subset), about 600 observed subsets per group out of 2^16;
here a group's subset is its N indicator bits, so a subset never seen in training still gets a
prediction and pairwise interactions between blocks (in one group or across groups) are learned
by the factorisation. Fitted with PyTorch; ``predict`` is NumPy so that export needs no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Params = dict[str, np.ndarray]
ESTIMATORS = ("additive", "nfm")
TAUS = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
RIDGE_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0)


@dataclass(frozen=True)
class EstimatorConfig:
    factors: int = 16  # width of the feature factors v_j
    hidden: int = 32  # the MLP's hidden layer
    epochs: int = 600  # full-batch Adam steps
    lr: float = 1e-2
    weight_decay: float = 1e-5
    seed: int = 0


PRECISIONS = ("float32", "float16", "int8")  # as ElasticConfig.PRECISIONS


def precision_columns(n: int, precisions) -> np.ndarray:
    """(n, 2): indicators of float16 and int8 (float32 is the reference); ``precisions`` is
    one dtype name for all, or one per configuration."""
    p = np.broadcast_to(np.asarray(precisions, dtype=object), (n,))
    return np.stack([p == "float16", p == "int8"], axis=1).astype(np.float64)


def features(configs: np.ndarray, precisions=None) -> np.ndarray:
    """(K, G, N) bool -> (K, G*N + 2G) float32: the (group, block) indicators, then each
    group's share of its blocks ``c = |S_g| / N`` and ``sqrt(c)``, so that the linear part
    alone can express a concave per-group return on blocks; with ``precisions``, two more
    columns (``precision_columns``)."""
    x = np.asarray(configs, dtype=np.float32)
    share = x.mean(axis=2)
    parts = [x.reshape(len(x), -1), share, np.sqrt(share)]
    if precisions is not None:
        parts.append(precision_columns(len(x), precisions).astype(np.float32))
    return np.concatenate(parts, axis=1)


def fit_estimator(configs: np.ndarray, labels: np.ndarray, config: EstimatorConfig | None = None,
                  kind: str = "additive", precisions: np.ndarray | None = None) -> Params:
    """Fit the ``kind`` estimator to (configuration, label) pairs; NumPy parameters.

    ``precisions``: the value dtype each label was measured at; the estimator then takes
    precision as a feature (``predict(..., precision=...)``)."""
    if kind == "additive":
        return fit_additive(configs, labels, seed=(config or EstimatorConfig()).seed,
                            precisions=precisions)
    if kind == "nfm":
        return fit_nfm(configs, labels, config or EstimatorConfig(), precisions=precisions)
    raise ValueError(f"estimator={kind!r} is not allowed: one of {ESTIMATORS}")


def predict(params: Params, configs: np.ndarray, precision="float32") -> np.ndarray:
    """Estimated quality of each (G, N) configuration in ``configs`` (K, G, N), its values
    stored as ``precision`` (one dtype, or one per configuration); an estimator fitted
    without precisions ignores it."""
    mean, std = params["label_scale"]
    with_precision = "precision" in params
    if "ridge" in params:
        z = (count_basis(configs, precision if with_precision else None)
             @ params["ridge"][:-1] + params["ridge"][-1])
    else:
        z = _forward(np, params, features(configs, precision if with_precision else None))
    return z.astype(np.float64) * std + mean


def count_basis(configs: np.ndarray, precisions=None) -> np.ndarray:
    """(K, G, N) -> (K, G * len(TAUS)): ``1 - exp(-|S_g| / tau)`` for every group and tau;
    with ``precisions``, two more columns (``precision_columns``)."""
    counts = np.asarray(configs).sum(axis=2).astype(np.float64)
    x = (1.0 - np.exp(-counts[:, :, None] / TAUS)).reshape(len(counts), -1)
    if precisions is None:
        return x
    return np.concatenate([x, precision_columns(len(x), precisions)], axis=1)


def fit_additive(configs: np.ndarray, labels: np.ndarray, seed: int = 0,
                 precisions: np.ndarray | None = None) -> Params:
    x = count_basis(configs, precisions)
    mean, std = float(np.mean(labels)), float(np.std(labels)) or 1.0
    y = (np.asarray(labels) - mean) / std
    folds = np.random.default_rng(seed).permutation(len(y)) % 5
    errors = []
    for lam in RIDGE_GRID:
        err = 0.0
        for f in range(5):
            w = _ridge(x[folds != f], y[folds != f], lam)
            err += float(((x[folds == f] @ w[:-1] + w[-1] - y[folds == f]) ** 2).sum())
        errors.append(err)
    lam = RIDGE_GRID[int(np.argmin(errors))]
    out = {"ridge": _ridge(x, y, lam), "ridge_lambda": np.array([lam]),
           "label_scale": np.array([mean, std], dtype=np.float64)}
    return _with_precision(out, precisions)


def _with_precision(params: Params, precisions) -> Params:
    if precisions is not None:
        params["precision"] = np.ones(1)  # a flag: the features include precision
    return params


def _ridge(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """Weights and intercept (last) of ridge regression; the intercept is not penalised."""
    a = np.c_[x, np.ones(len(x))]
    reg = lam * np.eye(a.shape[1])
    reg[-1, -1] = 0.0
    return np.linalg.solve(a.T @ a + reg, a.T @ y)


def fit_nfm(configs: np.ndarray, labels: np.ndarray, config: EstimatorConfig,
            precisions: np.ndarray | None = None) -> Params:
    """Fit the NFM to (configuration, label) pairs by mean squared error on standardised
    labels; returns its parameters as NumPy arrays."""
    import torch

    gen = torch.Generator().manual_seed(config.seed)
    x = torch.from_numpy(features(configs, precisions))
    mean, std = float(np.mean(labels)), float(np.std(labels)) or 1.0
    y = torch.from_numpy(((np.asarray(labels) - mean) / std).astype(np.float32))
    n_features = x.shape[1]

    def param(*shape: int, scale: float) -> torch.nn.Parameter:
        return torch.nn.Parameter(torch.randn(*shape, generator=gen) * scale)

    p = {"w0": param(1, scale=0.0), "w": param(n_features, scale=0.01),
         "v": param(n_features, config.factors, scale=0.1),
         "w1": param(config.factors, config.hidden, scale=(2 / config.factors) ** 0.5),
         "b1": param(config.hidden, scale=0.0), "w2": param(config.hidden, scale=0.1),
         "b2": param(1, scale=0.0)}
    opt = torch.optim.Adam(p.values(), lr=config.lr, weight_decay=config.weight_decay)
    for _ in range(config.epochs):
        opt.zero_grad()
        loss = (_forward(torch, p, x) - y).pow(2).mean()
        loss.backward()
        opt.step()
    out = {k: t.detach().numpy().astype(np.float32) for k, t in p.items()}
    out["label_scale"] = np.array([mean, std], dtype=np.float64)
    return _with_precision(out, precisions)


def _forward(xp, p, x):
    """The NFM, written once for torch and NumPy (``xp`` is the array module)."""
    linear = p["w0"] + x @ p["w"]
    sum_v = x @ p["v"]
    bi = 0.5 * (sum_v * sum_v - x @ (p["v"] * p["v"]))
    pre = bi @ p["w1"] + p["b1"]
    hidden = pre * (pre > 0)  # ReLU in either module
    return linear + hidden @ p["w2"] + p["b2"]


def spearman(predicted: np.ndarray, true: np.ndarray) -> float:
    """Spearman rank correlation of estimates with true values."""
    from scipy.stats import spearmanr  # slow to import; export never needs it

    return float(spearmanr(predicted, true).statistic)


def within_budget_spearman(configs: np.ndarray, predicted: np.ndarray, true: np.ndarray,
                           n_bins: int = 5) -> float:
    """Mean Spearman correlation inside bins of similar size (total blocks), so that size
    alone, which orders configurations across budgets, cannot explain the correlation."""
    size = configs.reshape(len(configs), -1).sum(axis=1)
    edges = np.quantile(size, np.linspace(0, 1, n_bins + 1))
    bins = np.clip(np.searchsorted(edges, size, side="right") - 1, 0, n_bins - 1)
    values = [spearman(predicted[bins == b], true[bins == b]) for b in range(n_bins)
              if (bins == b).sum() >= 5]
    return float(np.nanmean(values)) if values else float("nan")
