"""The registry of named datasets and where datasets live."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from elasticrec.data.registry import (
    DATASETS,
    ArchiveSpec,
    DatasetSpec,
    FileSpec,
    get_spec,
    resolve_data_dir,
)
from elasticrec.errors import ElasticrecError

SHA = "a" * 64


def readme_table(readme: str) -> dict[str, tuple[int, str]]:
    """``folder/file -> (bytes, sha256)`` from the README's sha256 table."""
    rows = re.findall(r"^\| ([\w.-]+/[\w.-]+) \| ([\d,]+) \| `([0-9a-f]{64})` \|$", readme, re.M)
    return {path: (int(size.replace(",", "")), digest) for path, size, digest in rows}


def test_registry_matches_the_dataset_readme(shared_data_dir):
    readme_path = shared_data_dir / "README.md"
    if not readme_path.is_file():
        pytest.skip(f"no README.md in {shared_data_dir}")
    readme = readme_path.read_text()
    table = readme_table(readme)
    assert len(table) == 21
    registered = {
        f"{spec.name}/{f.name}": (f.size, f.sha256)
        for spec in DATASETS.values()
        for f in spec.files
    }
    assert set(registered) == set(table)
    for path, (size, digest) in table.items():
        assert registered[path][0] == size, path
        assert digest in registered[path][1], path
    published = re.search(r"published file \(([\d,]+) bytes\) has sha256\s+`(\w{64})`", readme)
    yelp_train = registered["yelp2018/train.txt"]
    assert int(published[1].replace(",", "")) == yelp_train[0]
    assert set(yelp_train[1]) == {published[2], table["yelp2018/train.txt"][1]}


def test_canonical_sources():
    gowalla = get_spec("gowalla")
    assert {f.name: f.url for f in gowalla.required} == {
        "train.txt": "https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data/gowalla/train.txt",
        "test.txt": "https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data/gowalla/test.txt",
    }  # fmt: skip
    assert get_spec("ml-100k").archive == ArchiveSpec(
        "https://files.grouplens.org/datasets/movielens/ml-100k.zip", "ml-100k/"
    )
    assert get_spec("ml-latest-small").archive == ArchiveSpec(
        "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip", "ml-latest-small/"
    )
    for name in ("amazon-grocery", "ciaodvd"):
        spec = get_spec(name)
        assert spec.archive is None and all(f.url is None for f in spec.files)
        assert spec.how_to_get


def test_get_spec_unknown():
    with pytest.raises(ElasticrecError, match="unknown dataset 'movielens'; known datasets: "):
        get_spec("movielens")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "a/b"}, "FileSpec.name must be a plain file name"),
        ({"size": -1}, "FileSpec.size must be an int >= 0"),
        ({"sha256": ("A" * 64,)}, "FileSpec.sha256 must be one or more lowercase hex"),
        ({"sha256": ()}, "FileSpec.sha256"),
    ],
)
def test_file_spec_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FileSpec(**{"name": "f.txt", "size": 1, "sha256": (SHA,), **kwargs})


def test_dataset_spec_validation():
    def read(folder: Path):
        raise AssertionError

    file = FileSpec("f.txt", 1, (SHA,))
    with pytest.raises(ValueError, match=r"DatasetSpec\.name must be lowercase"):
        DatasetSpec("Toy", "fmt", (file,), read)
    with pytest.raises(ValueError, match="repeat a file name"):
        DatasetSpec("toy", "fmt", (file, file), read)
    with pytest.raises(ValueError, match="no required file"):
        DatasetSpec("toy", "fmt", (FileSpec("f.txt", 1, (SHA,), required=False),), read)


def test_resolve_data_dir_precedence(tmp_path):
    home = tmp_path / "home"
    assert resolve_data_dir("/x", "/y", xdg_cache_home="/z", home=home) == Path("/x")
    assert resolve_data_dir(None, "/y", xdg_cache_home="/z", home=home) == Path("/y")
    assert resolve_data_dir("", "", "/z", home=home) == Path("/z/elasticrec")
    assert resolve_data_dir(None, None, home=home) == home / ".cache" / "elasticrec"
    assert resolve_data_dir("~/d", None).is_absolute()
