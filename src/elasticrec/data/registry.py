"""The named datasets: their files, checksums, sources and readers; where they live on disk.

``DATASETS`` is the one mapping from a dataset name to its ``DatasetSpec``. Each dataset lives
in ``<data_dir>/<name>/`` under the file names listed here. Sizes and sha256 values are those
of the published files (see the dataset README shared with the project).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from elasticrec.data import readers
from elasticrec.data.interactions import Interactions
from elasticrec.data.lightgcn_format import read_lightgcn
from elasticrec.errors import ElasticrecError

Reader = Callable[[Path], tuple[Interactions, Interactions | None]]
"""Reads a dataset folder into (train, test or None)."""

_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: its name in the dataset folder, size, accepted sha256 digests.

    ``url`` is a direct download address (None when the file comes from the dataset's archive
    or has no public source). ``required`` files are read by the loader; the others are
    documentation or side tables, verified when present.
    """

    name: str
    size: int
    sha256: tuple[str, ...]
    url: str | None = None
    required: bool = True

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or "\\" in self.name or self.name in (".", ".."):
            raise ValueError(f"FileSpec.name must be a plain file name, got {self.name!r}")
        if not isinstance(self.size, int) or self.size < 0:
            raise ValueError(f"FileSpec.size must be an int >= 0 (bytes), got {self.size!r}")
        if not self.sha256 or not all(_SHA256.fullmatch(d) for d in self.sha256):
            raise ValueError(
                f"FileSpec.sha256 must be one or more lowercase hex sha256 digests, "
                f"got {self.sha256!r}"
            )


@dataclass(frozen=True)
class ArchiveSpec:
    """A zip archive holding a dataset's files under ``prefix`` (e.g. ``"ml-100k/"``)."""

    url: str
    prefix: str

    def member(self, name: str) -> str:
        return f"{self.prefix}{name}"


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset. ``how_to_get`` says where the files come from, for error messages."""

    name: str
    format: str
    files: tuple[FileSpec, ...]
    read: Reader
    archive: ArchiveSpec | None = None
    how_to_get: str = ""
    licence: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", self.name):
            raise ValueError(
                f"DatasetSpec.name must be lowercase letters, digits, '.', '_' or '-', "
                f"got {self.name!r}"
            )
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"DatasetSpec.files of {self.name!r} repeat a file name: {names}")
        if not any(f.required for f in self.files):
            raise ValueError(f"DatasetSpec.files of {self.name!r} has no required file")

    @property
    def required(self) -> tuple[FileSpec, ...]:
        return tuple(f for f in self.files if f.required)

    def downloadable(self, file: FileSpec) -> bool:
        return file.url is not None or self.archive is not None

    def source(self, file: FileSpec) -> str | None:
        """Where ``file`` is downloaded from, or None when it has no public source."""
        if file.url is not None:
            return file.url
        if self.archive is not None:
            return f"{self.archive.url} (member {self.archive.member(file.name)})"
        return None


def _lightgcn_dir(folder: Path) -> tuple[Interactions, Interactions | None]:
    return read_lightgcn(folder / "train.txt", folder / "test.txt")


def _single(name: str, read: Callable[[Path], Interactions]) -> Reader:
    def reader(folder: Path) -> tuple[Interactions, Interactions | None]:
        return read(folder / name), None

    return reader


LIGHTGCN_URL = "https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data/{name}/{file}"
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/{name}.zip"


def _lightgcn_files(name: str, sizes: dict[str, tuple[int, tuple[str, ...], bool]]):
    return tuple(
        FileSpec(f, size, digests, LIGHTGCN_URL.format(name=name, file=f), required)
        for f, (size, digests, required) in sizes.items()
    )


_LIGHTGCN_FORMAT = "LightGCN split: train.txt / test.txt, one 'user item item ...' line per user"
_LIGHTGCN_HOW = (
    "the LightGCN authors' split, published in github.com/kuandeng/LightGCN (folder Data/{name})"
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="gowalla",
            format=_LIGHTGCN_FORMAT,
            files=_lightgcn_files(
                "gowalla",
                {
                    "train.txt": (4_633_414, (
                        "7244696fdeb23911319cf7b689f2e15a3c4c92549c873a5677b44e3f13cc3e62",
                    ), True),
                    "test.txt": (1_372_559, (
                        "099a2a73924e4b754dc6efd730d764f492321b53c38eb93298850c83acf57be3",
                    ), True),
                    "user_list.txt": (351_203, (
                        "5344c4d0deef610e1f148f23ad216a0db03b36f88834cd39a06786a672c5f5a1",
                    ), False),
                    "item_list.txt": (506_926, (
                        "6b186f92890cc3f0c15a6dae5d6285f125a302bb8c5ea0cd9a16cf9c16347139",
                    ), False),
                },
            ),
            read=_lightgcn_dir,
            how_to_get=_LIGHTGCN_HOW.format(name="gowalla"),
            licence="SNAP Gowalla; cite Cho et al. 2011 and He et al. 2020 (LightGCN)",
        ),
        DatasetSpec(
            name="yelp2018",
            format=_LIGHTGCN_FORMAT,
            files=_lightgcn_files(
                "yelp2018",
                {
                    # Either the published file or the rebuild with items sorted per line.
                    "train.txt": (6_904_880, (
                        "1e9568725a9e833d0ac3bae01c94cd95367f73b3bb6104fd26b5f65ea5054093",
                        "5588ebbcbf9ab10cdf7a70aa300f2ef781030daa2a94ef0685598ed051a398da",
                    ), True),
                    "test.txt": (1_986_152, (
                        "9cd9b37926cd1447a06625ffa7914527573fb097c10cb0bbdb1d1b8ded3742fe",
                    ), True),
                    "user_list.txt": (907_278, (
                        "4931519d8b3c40d71a34cc386c3287b6d63c1be9a82edd7ee6bfad765e640778",
                    ), False),
                    "item_list.txt": (1_092_298, (
                        "1091bc824b60561906df552f2f7cb3ec61767b1e46fd4386b44400ae49712007",
                    ), False),
                },
            ),
            read=_lightgcn_dir,
            how_to_get=_LIGHTGCN_HOW.format(name="yelp2018"),
            licence="Yelp dataset challenge terms; cite He et al. 2020 (LightGCN)",
        ),
        DatasetSpec(
            name="ml-100k",
            format="MovieLens 100K u.data: user<TAB>item<TAB>rating<TAB>timestamp",
            files=(
                FileSpec("u.data", 1_979_173, (
                    "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
                )),
                FileSpec("README", 6_926, (
                    "efcbf3c31ece56e07316228069ffb29967f838035a5c89865a4578d5532ef14f",
                ), required=False),
                FileSpec("u.genre", 202, (
                    "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
                ), required=False),
                FileSpec("u.item", 236_344, (
                    "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
                ), required=False),
                FileSpec("u.occupation", 193, (
                    "cd5fbec9afe345d993a62fc7817df1a4a9079c4feb267b3118763b8fd942137d",
                ), required=False),
                FileSpec("u.user", 22_628, (
                    "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
                ), required=False),
            ),
            read=_single("u.data", readers.read_movielens_100k),
            archive=ArchiveSpec(GROUPLENS_URL.format(name="ml-100k"), "ml-100k/"),
            how_to_get="MovieLens 100K from GroupLens (grouplens.org/datasets/movielens)",
            licence="GroupLens terms: no redistribution, no commercial use; cite Harper & "
            "Konstan 2015",
        ),
        DatasetSpec(
            name="ml-latest-small",
            format="MovieLens ratings.csv: userId,movieId,rating,timestamp with a header",
            files=(
                FileSpec("ratings.csv", 2_483_723, (
                    "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
                )),
                FileSpec("README.txt", 8_342, (
                    "63d22ac138e80fae37021797ed8e1b9424b5239dc576a137422adf783ae3f404",
                ), required=False),
                FileSpec("movies.csv", 494_431, (
                    "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
                ), required=False),
            ),
            read=_single("ratings.csv", readers.read_movielens_csv),
            archive=ArchiveSpec(
                GROUPLENS_URL.format(name="ml-latest-small"), "ml-latest-small/"
            ),
            how_to_get="MovieLens latest-small (2018-09) from GroupLens "
            "(grouplens.org/datasets/movielens)",
            licence="GroupLens terms: no redistribution, no commercial use; cite Harper & "
            "Konstan 2015",
        ),
        DatasetSpec(
            name="amazon-grocery",
            format="ReChorus train.csv: tab-separated user_id item_id time with a header",
            files=(
                FileSpec("train.csv", 2_575_651, (
                    "75847958fbcfec35dd0a20bda43432c22a5d7e5b5fe571fef0b25ff580b475f4",
                )),
                FileSpec("README_ReChorus_data.md", 4_452, (
                    "6870bf101ea75bced3c63803a420e0f98080e97559c35e6abf5115477adb12f8",
                ), required=False),
            ),
            read=_single("train.csv", readers.read_rechorus),
            how_to_get="Amazon 2014 Grocery_and_Gourmet_Food 5-core as preprocessed by ReChorus "
            "(github.com/THUwangcy/ReChorus, data/Grocery_and_Gourmet_Food/train.csv, made by "
            "its data/Amazon.ipynb from jmcauley.ucsd.edu/data/amazon)",
            licence="Amazon reviews (McAuley et al.): research use",
        ),
        DatasetSpec(
            name="ciaodvd",
            format="CiaoDVD movie-ratings.txt: user,movie,genre,review,rating,YYYY-MM-DD",
            files=(
                FileSpec("movie-ratings.txt", 2_307_417, (
                    "f29bbacaab826da85445757e2b0c45c293864dc9efc9d3cd27e604ba09a7cf6e",
                )),
                FileSpec("readme.txt", 4_491, (
                    "1fec472d6afe8df36338a2c3e8e0a076f1c5ac96b3ec7e9b82d8fb137b69801d",
                ), required=False),
            ),
            read=_single("movie-ratings.txt", readers.read_ciaodvd),
            how_to_get="CiaoDVD by Guo et al. (2014), distributed as CiaoDVD.zip from the "
            "LibRec datasets page (guoguibing.github.io/librec/datasets.html)",
            licence="cite Guo et al., ASONAM 2014",
        ),
    )
}


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ElasticrecError(f"unknown dataset {name!r}; known datasets: {known}") from None


def resolve_data_dir(
    explicit: str | Path | None,
    env_value: str | None,
    xdg_cache_home: str | None = None,
    *,
    home: str | Path | None = None,
) -> Path:
    """The data folder: ``explicit`` (``--data-dir``), else ``env_value`` (``ELASTICREC_DATA``),
    else ``<xdg_cache_home or ~/.cache>/elasticrec``.

    The caller reads the environment and passes the values; empty strings count as unset.
    """
    if explicit:
        return Path(explicit).expanduser()
    if env_value:
        return Path(env_value).expanduser()
    if xdg_cache_home:
        return Path(xdg_cache_home).expanduser() / "elasticrec"
    base = Path(home) if home else Path.home()
    return base / ".cache" / "elasticrec"
