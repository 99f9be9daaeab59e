"""Readers of delimited and Parquet files, on tiny hand-made files with known answers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from elasticrec.data import readers
from elasticrec.errors import ElasticrecError


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def utc(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp())


def test_movielens_100k_remaps_numerically_and_keeps_labels(tmp_path):
    path = write(
        tmp_path,
        "u.data",
        b"3\t10\t4\t881250000\n1\t10\t5\t881250100\n1\t7\t3\t881250050\n20\t7\t1\t881249000\n",
    )
    inter = readers.read_movielens_100k(path)
    # raw users 1, 3, 20 sort numerically (as strings "20" would precede "3")
    assert inter.user_labels.tolist() == ["1", "3", "20"]
    assert inter.item_labels.tolist() == ["7", "10"]
    assert inter.user.tolist() == [1, 0, 0, 2]
    assert inter.item.tolist() == [1, 1, 0, 0]
    assert inter.timestamp.tolist() == [881250000, 881250100, 881250050, 881249000]
    assert (inter.n_users, inter.n_items) == (3, 2)
    assert inter.user.dtype == np.int64 and inter.timestamp.dtype == np.int64


def test_movielens_csv_with_crlf_and_float_ratings(tmp_path):
    path = write(
        tmp_path,
        "ratings.csv",
        b"userId,movieId,rating,timestamp\r\n2,100,4.0,964982703\r\n10,5,3.5,964982224\r\n"
        b"2,5,1.0,964981247\r\n",
    )
    inter = readers.read_movielens_csv(path)
    assert inter.user_labels.tolist() == ["2", "10"]
    assert inter.item_labels.tolist() == ["5", "100"]
    assert inter.user.tolist() == [0, 1, 0]
    assert inter.item.tolist() == [1, 0, 0]
    assert inter.timestamp.tolist() == [964982703, 964982224, 964981247]


def test_rechorus_tab_separated_with_header(tmp_path):
    path = write(tmp_path, "train.csv", b"user_id\titem_id\ttime\n5\t3\t100\n4\t3\t200\n")
    inter = readers.read_rechorus(path)
    assert inter.user.tolist() == [1, 0]
    assert inter.item.tolist() == [0, 0]
    assert inter.timestamp.tolist() == [100, 200]


def test_ciaodvd_dates_become_utc_midnight_seconds(tmp_path):
    path = write(
        tmp_path,
        "movie-ratings.txt",
        b"1,1,1,1,5,2000-07-12\n2,1,1,2,5,2000-07-12\n1,3,2,3,4,2013-11-28",  # no final newline
    )
    inter = readers.read_ciaodvd(path)
    assert inter.timestamp.tolist() == [963360000, 963360000, utc(2013, 11, 28)]
    assert inter.item_labels.tolist() == ["1", "3"]
    assert len(inter) == 3


def test_duplicate_events_are_kept(tmp_path):
    path = write(tmp_path, "u.data", b"1\t2\t5\t10\n1\t2\t4\t20\n")
    inter = readers.read_movielens_100k(path)
    assert len(inter) == 2 and inter.to_csr().nnz == 1


def test_blank_lines_are_skipped(tmp_path):
    path = write(tmp_path, "u.data", b"1\t2\t5\t10\n\n1\t3\t4\t20\n\n")
    assert len(readers.read_movielens_100k(path)) == 2


def test_read_table_string_ids_and_iso_times(tmp_path):
    path = write(
        tmp_path,
        "mine.csv",
        "\ufeffwho,what,when\nbob,b,2020-01-01\nalice,é,2020-01-02T10:00:00Z\n".encode(),
    )
    inter = readers.read_table(path, user_col="who", item_col="what", timestamp_col="when")
    assert inter.user_labels.tolist() == ["alice", "bob"]
    assert inter.item_labels.tolist() == ["b", "é"]
    assert inter.user.tolist() == [1, 0]
    assert inter.timestamp.tolist() == [utc(2020, 1, 1), utc(2020, 1, 2, 10)]


def test_read_table_integer_ids_sort_numerically_and_int_times(tmp_path):
    path = write(tmp_path, "mine.tsv", b"item\tuser\tt\n9\t10\t5\n10\t9\t-3\n")
    inter = readers.read_table(path, timestamp_col="t")
    assert inter.user_labels.tolist() == ["9", "10"]
    assert inter.user.tolist() == [1, 0]
    assert inter.timestamp.tolist() == [5, -3]


def test_read_table_without_timestamps(tmp_path):
    path = write(tmp_path, "mine.csv", b"user,item,extra\na,x,1\n")
    inter = readers.read_table(path)
    assert inter.timestamp is None and len(inter) == 1


@pytest.mark.parametrize(
    ("header", "sep"), [("user\titem", "\t"), ("user,item", ","), ("user;item", ";")]
)
def test_read_table_sniffs_txt_separator(tmp_path, header, sep):
    path = write(tmp_path, "mine.txt", f"{header}\nu{sep}i\n".encode())
    assert readers.read_table(path).user_labels.tolist() == ["u"]


def test_read_table_explicit_separator_for_other_extensions(tmp_path):
    path = write(tmp_path, "mine.dat", b"user|item\nu|i\n")
    assert len(readers.read_table(path, sep="|")) == 1
    with pytest.raises(ElasticrecError, match=r"mine\.dat.*extension '\.dat'"):
        readers.read_table(path)


def test_read_table_parquet_with_types(tmp_path):
    path = tmp_path / "mine.parquet"
    table = pa.table(
        {
            "user": pa.array(["b", "a", "b"]),
            "item": pa.array([30, 20, 30], type=pa.int32()),
            "day": pa.array([dt.date(2020, 1, 1)] * 3, type=pa.date32()),
            "at": pa.array([10**9 * 5, 10**9 * 6, 10**9 * 7], type=pa.timestamp("ns")),
        }
    )
    pq.write_table(table, path)
    inter = readers.read_table(path, timestamp_col="day")
    assert inter.user.tolist() == [1, 0, 1]
    assert inter.item_labels.tolist() == ["20", "30"]
    assert inter.timestamp.tolist() == [utc(2020, 1, 1)] * 3
    assert readers.read_table(path, timestamp_col="at").timestamp.tolist() == [5, 6, 7]


def test_read_table_parquet_errors(tmp_path):
    path = tmp_path / "mine.parquet"
    pq.write_table(pa.table({"user": [1, None], "thing": [1, 2]}), path)
    with pytest.raises(ElasticrecError, match=r"no column 'item'; columns found: 'user', 'thing'"):
        readers.read_table(path)
    with pytest.raises(ElasticrecError, match=r"mine\.parquet row 2: column 'user' is missing"):
        readers.read_table(path, item_col="thing")
    pq.write_table(pa.table({"user": [1.5], "item": [1]}), path)
    with pytest.raises(ElasticrecError, match="has type double"):
        readers.read_table(path)
    bad = write(tmp_path, "bad.parquet", b"not parquet at all")
    with pytest.raises(ElasticrecError, match=r"bad\.parquet: not a readable Parquet file"):
        readers.read_table(bad)


# Malformed input: the message names the file, the 1-based line and the problem.

U_DATA = readers.read_movielens_100k
RATINGS = readers.read_movielens_csv
BAD_INPUTS = [
    (U_DATA, b"1\t2\t5\t10\n1\tx\t5\t10\n", r"line 2: item id 'x' is not an integer"),
    (U_DATA, b"1\t2\t5\t10\n\n1\t2\t5\n", r"line 3: expected 4 columns separated by '\\t'"),
    (U_DATA, b"1\t2\t5\t10\n-1\t2\t5\t10\n", r"line 2: user id '-1' is negative"),
    (U_DATA, b"1\t2\t5\t10\n1\t2\t5\t1.5\n", r"line 2: timestamp '1.5' is not an integer"),
    (U_DATA, b"1\t2\t5\t10\n1\t\xff\t5\t10\n", r"line 2: not valid UTF-8"),
    (
        RATINGS,
        b"userId,movieId,rating,timestamp\n1,2,3.0,4\n1,2,3.0,4,5\n",
        r"line 3: expected 4 columns separated by ',', found 5",
    ),
    (
        RATINGS,
        b"user,movieId,rating,timestamp\n1,2,3.0,4\n",
        r"line 1: no column 'userId' in the header \(separator ','\); "
        r"columns found: 'user', 'movieId', 'rating', 'timestamp'",
    ),
    (
        readers.read_rechorus,
        b"user_id\titem_id\ttime\n1\t2\t3\n1\t\t3\n",
        r"line 3: item id '' is not an integer",
    ),
    (
        readers.read_ciaodvd,
        b"1,1,1,1,5,2000-07-12\n1,1,1,1,5,2000-02-30\n",
        r"line 2: date '2000-02-30' is not a date of the form YYYY-MM-DD",
    ),
    (
        readers.read_ciaodvd,
        b"1,1,1,1,5,2000-07-12\n1,1,1,1,5,2000-7-12\n",
        r"line 2: date '2000-7-12' is not a date",
    ),
    (
        readers.read_ciaodvd,
        b"1,1,1,1,5,2000-07-12\n1,1,1,1,5,12/07/2000\n",
        r"line 2: date '12/07/2000' is not a date",
    ),
]


@pytest.mark.parametrize(("reader", "data", "message"), BAD_INPUTS)
def test_malformed_input_names_file_and_line(tmp_path, reader, data, message):
    path = write(tmp_path, "input.txt", data)
    with pytest.raises(ElasticrecError, match=message) as info:
        reader(path)
    assert str(info.value).startswith(f"{path} line ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"user,item,t\na,b,2020-01-01\nc,d,yesterday\n", r"line 3: timestamp 'yesterday' is"),
        (b"user,item,t\na,b,2020-01-01\nc,d,2020-02-30\n", r"line 3: timestamp '2020-02-30' is"),
        (b"user,item,t\na,b,1\n,d,2\n", r"line 3: user id is empty"),
        (b"user,item,t\na,b,1\nc,d\n", r"line 3: expected 3 columns"),
    ],
)
def test_read_table_malformed(tmp_path, data, message):
    path = write(tmp_path, "mine.csv", data)
    with pytest.raises(ElasticrecError, match=message):
        readers.read_table(path, timestamp_col="t")


@pytest.mark.parametrize("data", [b"", b"\n\n  \n"])
def test_empty_file(tmp_path, data):
    path = write(tmp_path, "u.data", data)
    with pytest.raises(ElasticrecError, match=r"u\.data: the file is empty"):
        readers.read_movielens_100k(path)


def test_header_only_file(tmp_path):
    path = write(tmp_path, "ratings.csv", b"userId,movieId,rating,timestamp\n")
    with pytest.raises(ElasticrecError, match=r"ratings\.csv: no interactions after the header"):
        readers.read_movielens_csv(path)


def test_missing_file(tmp_path):
    with pytest.raises(ElasticrecError, match=r"nowhere\.csv: no such file"):
        readers.read_table(tmp_path / "nowhere.csv")
