"""`elasticrec train`: train a base recommender (or, with --method rule, RULE's elastic item
embeddings and performance estimator) and evaluate it on the test split."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import elasticrec
from elasticrec.cli.common import (
    add_data_options,
    data_dir_from,
    format_table,
    log,
    show_progress,
)

# argparse destination -> elasticrec.fit option, where the two names differ
RENAMED = {"layers": "n_layers"}
# config field -> argparse destination, where the two names differ
FIELD_DESTS = {"n_layers": "layers", "peel_l2": "l2", "peel_epochs": "peel_epochs",
               "peel_lr": "peel_lr"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    choices = elasticrec.option_choices()
    TrainConfig, ElasticConfig, PeelConfig = (
        elasticrec.TrainConfig, elasticrec.ElasticConfig, elasticrec.PeelConfig)
    p = sub.add_parser("train", help="train a base model (BPR-MF or LightGCN)",
                       description=__doc__.split(":", 1)[1].strip())
    p.add_argument("--dataset", required=True,
                   help="a dataset name (see `elasticrec datasets`) or a CSV/TSV/Parquet file")
    p.add_argument("--model", choices=choices["model"], default="lightgcn")
    p.add_argument("--method", choices=choices["method"], default="full",
                   help="full: a plain base model (default); rule: elastic item embeddings in "
                        "blocks plus RULE's performance estimator, for `elasticrec export` at "
                        "any budget; peel: RULE's training, then user groups with their own "
                        "refined item tables and learned block weights")
    p.add_argument("--out", type=Path, required=True, help="the run directory to create")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    add_data_options(p)
    g = p.add_argument_group("data split")
    g.add_argument("--split", choices=choices["split"], default="auto",
                   help="auto: the dataset's given split if any, else random (default)")
    g.add_argument("--test-ratio", type=float, default=0.2)
    g.add_argument("--valid-ratio", type=float, default=None,
                   help="share of each user's training events held out for early stopping "
                        "and RULE's estimator labels (default: 0, i.e. no validation, for "
                        "--method full; 0.1 for rule and peel)")
    g.add_argument("--k-core", type=int, default=0)
    g.add_argument("--user-col", default=None, help="user column of a CSV/TSV/Parquet file "
                   "(default: user)")
    g.add_argument("--item-col", default=None, help="item column (default: item)")
    g.add_argument("--time-col", default=None, dest="timestamp_col",
                   help="timestamp column (unix seconds or ISO dates; default: none)")
    m = p.add_argument_group("model")
    m.add_argument("--dim", type=int, default=64)
    m.add_argument("--layers", type=int, default=3, help="LightGCN layers")
    m.add_argument("--combine", choices=choices["combine"], default="mean",
                   help="LightGCN layer combination")
    m.add_argument("--init-std", type=float, default=None,
                   help="standard deviation of the N(0, s) initialisation [by loss: 0.1 for "
                        "BPR, as in LightGCN-PyTorch; 1e-4 for CCL, as in SimpleX]")
    t = p.add_argument_group(
        "training", "With none of the schedule options below (--epochs to --sampling), a "
        "plain run chooses --loss, --lr and --l2 on a validation split by successive halving "
        "within "
        "--search-budget and stops early on validation recall@20 (docs/training.md). An "
        "option given explicitly always wins; defaults are in brackets.")
    defaults = TrainConfig()
    plain = elasticrec.plain_defaults()
    t.add_argument("--epochs", type=int, default=None,
                   help=f"the most epochs; early stopping may end sooner [{plain['epochs']} for "
                        f"--method full, {defaults.epochs} for rule and peel]")
    t.add_argument("--batch-size", type=int, default=None,
                   help=f"positives per step [{defaults.batch_size}; lightgcn: sized by the "
                        "training events, about 64 steps per epoch (docs/training.md)]")
    t.add_argument("--lr", type=float, default=None,
                   help=f"Adam learning rate [searched; {defaults.lr:g} without search]")
    t.add_argument("--lr-decay", type=float, default=None,
                   help="multiply the learning rate by this after every epoch [1]")
    t.add_argument("--lr-min", type=float, default=None,
                   help="floor for the decayed learning rate [0]")
    t.add_argument("--lr-plateau", type=float, default=None,
                   help="multiply the learning rate by this when validation stops improving on "
                        "the best (--lr-plateau-patience); 1: never "
                        f"[{plain['lr_plateau']:g} for --method full, {defaults.lr_plateau:g} "
                        "for rule and peel]")
    t.add_argument("--lr-plateau-patience", type=int, default=None,
                   help="apply --lr-plateau after this many validations in a row without "
                        "improvement, and again after as many more "
                        f"[{defaults.lr_plateau_patience}]")
    t.add_argument("--l2", type=float, default=None,
                   help=f"L2 weight on the batch's embeddings [searched; {defaults.l2:g} "
                        "without search]")
    t.add_argument("--loss", choices=choices["loss"], default=None,
                   help="ccl: SimpleX's cosine contrastive loss, many negatives per positive; "
                        "bpr: Bayesian personalised ranking, one negative [searched for "
                        "--method full; bpr without search, and for rule and peel]")
    t.add_argument("--n-negatives", type=int, default=None,
                   help=f"ccl: negatives per batch, shared by its positives "
                        f"[{defaults.n_negatives}]")
    t.add_argument("--margin", type=float, default=None,
                   help=f"ccl: cosine below which a negative costs nothing [{defaults.margin}]")
    t.add_argument("--neg-weight", type=float, default=None,
                   help=f"ccl: weight of the negatives' term [{defaults.neg_weight:g}]")
    t.add_argument("--sampling", choices=choices["sampling"], default=None,
                   help="users: user-uniform positives as in the LightGCN/NGCF code "
                        "[default]; pairs: every training pair once per epoch")
    t.add_argument("--search-budget", default=None,
                   help="CPU time (this process, threads summed) for choosing --loss, --lr and "
                        "--l2 on validation, e.g. 90s, 10m, 1h; 0: no search [10m when no "
                        "schedule option is given]")
    t.add_argument("--eval-every", type=int, default=None,
                   help=f"validate every this many epochs; 0: never [{defaults.eval_every}]")
    t.add_argument("--patience", type=int, default=None,
                   help=f"stop after this many validations without improvement "
                        f"[{defaults.patience}]")
    t.add_argument("--metric", default=None, help=f"the validation metric [{defaults.metric}]")
    t.add_argument("--k", type=int, nargs="+", default=None, dest="ks",
                   help=f"cut-offs to report [{' '.join(map(str, defaults.ks))}]")
    t.add_argument("--seed", type=int, default=0)
    e = p.add_argument_group("elastic embeddings (--method rule)")
    ed = ElasticConfig()
    e.add_argument("--blocks", type=int, default=ed.n_blocks, dest="n_blocks",
                   help="positional blocks per item embedding (must divide its width)")
    e.add_argument("--item-groups", type=int, default=ed.n_groups, dest="n_groups",
                   help="item groups; blocks are chosen per group")
    e.add_argument("--grouping", choices=choices["grouping"], default=ed.grouping)
    e.add_argument("--diversity", type=float, default=ed.diversity,
                   help="weight of the diversity regulariser (0: off)")
    e.add_argument("--diversity-form", choices=choices["diversity_form"], default=ed.diversity_form)
    e.add_argument("--subset-sizes", choices=choices["subset_sizes"], default=ed.subset_sizes,
                   help="how block subsets are sampled while training")
    e.add_argument("--elastic-training", choices=choices["elastic_training"],
                   default=ed.elastic_training,
                   help="subsets: RULE's objective, every block subset must rank (default); "
                        "plain: the base model's own loss, blocks cut from the "
                        "score-preserving basis of its tables, each item group a prefix")
    e.add_argument("--rescale", action="store_true",
                   help="score an item's blocks S by N/|S| times their dot product")
    e.add_argument("--label-configs", type=int, default=ed.label_configs,
                   help="block configurations labelled with the true validation metric")
    e.add_argument("--label-users", type=int, default=ed.label_users,
                   help="validation users per label (0: all)")
    e.add_argument("--label-metric", default=ed.label_metric)
    e.add_argument("--estimator", choices=choices["estimator"], default=ed.estimator,
                   help="additive: saturating returns per item group (default); nfm: the "
                        "released code's neural factorisation machine")
    g2 = p.add_argument_group("personalisation (--method peel)")
    pd = PeelConfig()
    g2.add_argument("--clusters", type=int, default=pd.n_clusters, dest="n_clusters",
                    help="user groups (k-means on the pretrained user embeddings)")
    g2.add_argument("--peel-epochs", type=int, default=pd.epochs,
                    help="refinement epochs over each group's events")
    g2.add_argument("--peel-lr", type=float, default=pd.lr)
    g2.add_argument("--weight-lr", type=float, default=pd.weight_lr,
                    help="learning rate of the block weights")
    g2.add_argument("--cost", type=float, default=pd.cost,
                    help="weight of the byte-cost penalty on the block weights")
    g2.add_argument("--gate", choices=choices["gate"], default=pd.gate,
                    help="block weight normalisation")
    g2.add_argument("--workers", type=int, default=1,
                    help="processes refining user groups in parallel")
    t.add_argument("--monitor-test", action="store_true",
                   help="also log test metrics at each validation (learning curves only)")
    p.set_defaults(run=run, option_of={a.dest: max(a.option_strings, key=len)
                                       for a in p._actions if a.option_strings})


def fit_options(args: argparse.Namespace) -> dict:
    """The ``elasticrec.fit`` options the command line gives for ``args.method``."""
    names = set(elasticrec.option_names(args.method))
    given = {RENAMED.get(k, k): v for k, v in vars(args).items()}
    # an option left out stays out, so that fit's defaults (and its search) apply
    options = {k: v for k, v in given.items() if k in names and v is not None}
    if args.method == "peel" and args.l2 is not None:  # PEEL refines with the pretraining's L2
        options["peel_l2"] = args.l2
    return options


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    try:
        with elasticrec.process_group(elasticrec.from_environment(os.environ)) as ctx:
            run = elasticrec.fit(args.dataset, model=args.model, method=args.method,
                                 out=args.out, data_dir=data_dir_from(args),
                                 download=not args.no_download, resume=args.resume,
                                 monitor_test=args.monitor_test, workers=args.workers,
                                 progress=show_progress(), log=log, distributed=ctx,
                                 **fit_options(args))
    except elasticrec.ConfigError as exc:  # name our option, not the config field
        option = args.option_of.get(FIELD_DESTS.get(exc.field, exc.field))
        if option is None:
            raise
        raise elasticrec.ElasticrecError(f"{option}: {exc}") from None
    if run is not None:  # rank 0 (or the only process)
        ks = args.ks or elasticrec.TrainConfig().ks
        print(format_table([run.result], tuple(sorted(set(ks)))))
    return 0
