"""Published figures, shown beside the measured rows and never mixed with them.

Each is (dataset, model, source, Recall@20, NDCG@20 or None, memory level, protocol note).
Sources: shared/spec/METHODS.md (BET, CIESS: read in their full texts) and the BARS open
benchmark and LightGCN paper figures the benchmark issue quotes.
"""

from __future__ import annotations

BARS = "BARS open benchmark, the LightGCN-format splits used here"
LIGHTGCN_PAPER = "LightGCN paper (He et al., SIGIR 2020), 3 layers, the same splits"
OTHER_PROTOCOL = ("their protocol differs: their own random 50/25/25 re-split, d_max 128, "
                  "user and item tables both counted, memory as a share of parameters")

REFERENCES: tuple[tuple, ...] = (
    ("gowalla", "mf", "BARS MF-BPR", 0.1627, None, "full", BARS),
    ("gowalla", "lightgcn", "BARS LightGCN", 0.1820, None, "full", BARS),
    ("gowalla", "lightgcn", "BARS SimpleX", 0.1872, None, "full", BARS),
    ("gowalla", "lightgcn", "LightGCN paper", 0.1830, None, "full", LIGHTGCN_PAPER),
    ("yelp2018", "mf", "BARS MF-BPR", 0.0576, None, "full", BARS),
    ("yelp2018", "lightgcn", "BARS LightGCN", 0.0653, None, "full", BARS),
    ("yelp2018", "lightgcn", "BARS SimpleX", 0.0701, None, "full", BARS),
    ("yelp2018", "lightgcn", "LightGCN paper", 0.0649, None, "full", LIGHTGCN_PAPER),
    ("gowalla", "lightgcn", "BET (LightGCN)", 0.1753, 0.1483, "20% of parameters",
     OTHER_PROTOCOL),
    ("gowalla", "lightgcn", "BET (LightGCN)", 0.1620, 0.1376, "10% of parameters",
     OTHER_PROTOCOL),
    ("gowalla", "lightgcn", "BET (LightGCN)", 0.1374, 0.1171, "5% of parameters",
     OTHER_PROTOCOL),
    ("gowalla", "lightgcn", "CIESS (LightGCN, in BET)", 0.1750, 0.1461, "20% of parameters",
     OTHER_PROTOCOL),
    ("gowalla", "lightgcn", "CIESS (LightGCN, in BET)", 0.1589, 0.1353, "10% of parameters",
     OTHER_PROTOCOL),
    ("gowalla", "lightgcn", "CIESS (LightGCN, in BET)", 0.1214, 0.0997, "5% of parameters",
     OTHER_PROTOCOL),
    ("yelp2018", "lightgcn", "BET (LightGCN, DeepSets)", 0.0873, 0.0816, "20% of parameters",
     OTHER_PROTOCOL),
    ("yelp2018", "lightgcn", "BET (LightGCN, DeepSets)", 0.0816, 0.0762, "10% of parameters",
     OTHER_PROTOCOL),
    ("yelp2018", "lightgcn", "BET (LightGCN, DeepSets)", 0.0727, 0.0676, "5% of parameters",
     OTHER_PROTOCOL),
)


def references_for(dataset: str, model: str) -> list[dict]:
    return [{"source": src, "recall@20": r, "ndcg@20": n, "memory": mem, "protocol": note}
            for ds, m, src, r, n, mem, note in REFERENCES if (ds, m) == (dataset, model)]
