"""The LightGCN split format: one ``user item item ...`` line per user, ids kept as they are."""

from __future__ import annotations

from pathlib import Path

import pytest

from elasticrec.data.lightgcn_format import read_lightgcn
from elasticrec.errors import ElasticrecError


def split(tmp_path: Path, train: bytes, test: bytes) -> tuple[Path, Path]:
    (tmp_path / "train.txt").write_bytes(train)
    (tmp_path / "test.txt").write_bytes(test)
    return tmp_path / "train.txt", tmp_path / "test.txt"


def test_reads_events_in_file_order_with_shared_id_space(tmp_path):
    train, test = read_lightgcn(*split(tmp_path, b"0 0 1 2\n1 2 3\n2\n3 0 4\n", b"0 3\n1 5\n"))
    assert train.user.tolist() == [0, 0, 0, 1, 1, 3, 3]
    assert train.item.tolist() == [0, 1, 2, 2, 3, 0, 4]
    assert test.user.tolist() == [0, 1] and test.item.tolist() == [3, 5]
    # n_items comes from the test file's item 5; user 2's line has no items but counts
    assert (train.n_users, train.n_items) == (test.n_users, test.n_items) == (4, 6)
    assert train.user_labels.tolist() == ["0", "1", "2", "3"]
    assert train.item_labels.tolist() == [str(i) for i in range(6)]
    assert train.timestamp is None


def test_tolerates_crlf_tabs_blank_lines_and_no_final_newline(tmp_path):
    train, _ = read_lightgcn(*split(tmp_path, b"0 1 2\r\n\r\n1\t3  4 \r\n2 0", b"0 1\n"))
    assert train.user.tolist() == [0, 0, 1, 1, 2]
    assert train.item.tolist() == [1, 2, 3, 4, 0]


@pytest.mark.parametrize(
    ("train", "message"),
    [
        (b"0 1 2\n1 3\n2\n\n3 x 4\n", r"train\.txt line 5: item id 'x' is not an integer"),
        (b"0 1 2\n1 -3\n", r"train\.txt line 2: item id '-3' is negative"),
        (b"0 1\nu1 3\n", r"train\.txt line 2: user id 'u1' is not an integer"),
        (b"0 1.5\n", r"train\.txt line 1: item id '1.5' is not an integer"),
        (b"", r"train\.txt: the file is empty"),
        (b" \n\n", r"train\.txt: the file is empty"),
    ],
)
def test_malformed(tmp_path, train, message):
    with pytest.raises(ElasticrecError, match=message):
        read_lightgcn(*split(tmp_path, train, b"0 1\n"))


def test_missing_test_file(tmp_path):
    (tmp_path / "train.txt").write_bytes(b"0 1\n")
    with pytest.raises(ElasticrecError, match=r"test\.txt: no such file"):
        read_lightgcn(tmp_path / "train.txt", tmp_path / "test.txt")
