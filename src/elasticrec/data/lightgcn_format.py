"""The LightGCN/NGCF split format: ``train.txt`` and ``test.txt``, one line per user.

Each line is ``user item item ...`` separated by whitespace, with 0-based ids that are used
as they are (labels are the ids as strings). A line holding only a user id has no events.
Both files share one id space: ``n_users`` / ``n_items`` are the largest id in either file
plus one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from elasticrec.data import diagnose
from elasticrec.data.interactions import Interactions
from elasticrec.errors import ElasticrecError

_WHITESPACE = b" \t\r\n\x0b\x0c"
_TO_NEWLINE = bytes.maketrans(_WHITESPACE, b"\n" * len(_WHITESPACE))
_IS_SPACE = np.zeros(256, dtype=bool)
_IS_SPACE[np.frombuffer(_WHITESPACE, dtype=np.uint8)] = True


def _failure(path: Path, reason: str) -> ElasticrecError:
    message = diagnose.first_bad_token_line(
        path, first=diagnose.id_check("user id"), rest=diagnose.id_check("item id")
    )
    return ElasticrecError(message or f"{path}: could not be read: {reason}")


def _parse_tokens(path: Path, data: bytes) -> np.ndarray:
    """Every whitespace-separated token as int64, in file order (one vectorised parse).

    The bytes go to pyarrow as its own ``BufferReader`` and are parsed on this thread: a
    Python file object (``io.BytesIO``) is read back through the interpreter from pyarrow's
    read-ahead thread, and a parse error left that thread running while the interpreter
    exited, which aborted the process (``terminate called without an active exception``)."""
    one_per_line = data.translate(_TO_NEWLINE)
    try:
        table = pacsv.read_csv(
            pa.BufferReader(one_per_line),
            read_options=pacsv.ReadOptions(column_names=["v"], use_threads=False),
            convert_options=pacsv.ConvertOptions(column_types={"v": pa.int64()}, null_values=[]),
        )
    except pa.ArrowException as exc:
        raise _failure(path, str(exc)) from None
    return table.column("v").to_numpy()


def read_lightgcn_file(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (user, item) event arrays of one LightGCN-format file, in file order, and the user
    id of every non-blank line (including lines without items)."""
    path = Path(path)
    if not path.is_file():
        raise ElasticrecError(f"{path}: no such file")
    data = path.read_bytes()
    buf = np.frombuffer(data, dtype=np.uint8)
    space = _IS_SPACE[buf]
    starts = np.flatnonzero(~space & np.concatenate(([True], space[:-1])))
    if len(starts) == 0:
        raise ElasticrecError(f"{path}: the file is empty (no users)")
    values = _parse_tokens(path, data)
    if len(values) != len(starts) or np.any(values < 0):
        raise _failure(path, "unexpected tokens")
    line_of_token = np.searchsorted(np.flatnonzero(buf == ord("\n")), starts)
    is_user = np.concatenate(([True], line_of_token[1:] != line_of_token[:-1]))
    user_of_token = values[is_user][np.cumsum(is_user) - 1]
    return user_of_token[~is_user], values[~is_user], values[is_user]


def read_lightgcn(
    train_path: str | Path, test_path: str | Path
) -> tuple[Interactions, Interactions]:
    """The given train and test splits, in one shared id space."""
    train_user, train_item, train_lines = read_lightgcn_file(train_path)
    test_user, test_item, test_lines = read_lightgcn_file(test_path)
    n_users = int(max(_max(train_lines), _max(test_lines))) + 1
    n_items = int(max(_max(train_item), _max(test_item))) + 1
    user_labels = np.arange(n_users).astype(str)
    item_labels = np.arange(n_items).astype(str)

    def build(user: np.ndarray, item: np.ndarray) -> Interactions:
        return Interactions(
            user=user,
            item=item,
            n_users=n_users,
            n_items=n_items,
            user_labels=user_labels,
            item_labels=item_labels,
        )

    return build(train_user, train_item), build(test_user, test_item)


def _max(values: np.ndarray) -> int:
    return int(values.max()) if len(values) else -1
