"""Train/test splits. Beyond the usual stratified and random splits, time and group splits exist
because random splits of security data leak near-duplicates (same repo, same campaign, later
variants) into the test set and make a model look better than it will be in production."""

from __future__ import annotations

import logging
import math
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from .errors import SectuneError
from .io import Table

log = logging.getLogger("sectune")

_EXPECTED = "expected stratified, random, time:COLUMN, group:COLUMN"


def parse_split(how: str) -> tuple[str, str | None]:
    """(kind, column) from a split spec, so callers know which extra column to read."""
    kind, sep, column = how.partition(":")
    if not sep and kind in ("stratified", "random"):
        return kind, None
    if sep and kind in ("time", "group") and column:
        return kind, column
    raise SectuneError(f"unknown split '{how}' ({_EXPECTED})")


def split_indices(
    table: Table, how: str = "stratified", test_size: float = 0.2, seed: int = 42, *, side: str = "test"
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices into ``table``, each sorted ascending; deterministic for a seed.

    ``side`` names the held-out part in messages: the same split also holds out validation rows."""
    kind, column = parse_split(how)
    if isinstance(test_size, bool) or not isinstance(test_size, Real) or not 0 < test_size < 1:
        raise SectuneError(f"test size must be a fraction between 0 and 1 (exclusive), got {test_size!r}")
    n = len(table)
    if n < 2:
        raise SectuneError(f"{n} record(s) cannot be split into train and test", path=table.path)
    n_test = math.ceil(n * test_size - 1e-9)  # like sklearn: the test side is rounded up
    if column is not None and column not in table.columns:
        raise SectuneError(f"the {how} split needs column '{column}', which was not read", path=table.path)

    test = np.zeros(n, dtype=bool)
    if kind == "random":
        test[np.random.default_rng(seed).permutation(n)[:n_test]] = True
    elif kind == "stratified":
        test[_stratified(table, n_test, seed, side)] = True
    elif kind == "time":
        keys = _time_keys(table, column)
        boundary = keys[np.argsort(keys, kind="stable")[n - n_test]]
        test = keys >= boundary  # rows tied with the boundary value all go to test
    else:
        test = _grouped(table, column, n_test, seed)

    train_idx, test_idx = np.flatnonzero(~test), np.flatnonzero(test)
    if not len(train_idx) or not len(test_idx):
        side = "train" if not len(train_idx) else "test"
        why = {
            "time": f"too many rows share the latest values of '{column}'",
            "group": f"one group of '{column}' holds nearly all rows",
        }.get(kind, f"too few rows for a test size of {test_size}")
        raise SectuneError(f"the {how} split of {n} records leaves the {side} side empty ({why})", path=table.path)
    return train_idx, test_idx


def _stratified(table: Table, n_test: int, seed: int, side: str = "test") -> np.ndarray:
    """Test indices with class proportions kept; classes seen once stay in train."""
    if table.labels is None:
        raise SectuneError("a stratified split needs labels (or use --split random)", path=table.path)
    labels = np.asarray(table.labels)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    rest = np.flatnonzero(counts[inverse] > 1)
    n_single = int((counts == 1).sum())
    if n_single:
        log.info("%s: %d class(es) have a single example; they go to the training side", table.path, n_single)
    n_classes = len(classes) - n_single
    # Each class that can be stratified keeps at least one example in train.
    n_test = min(n_test, len(rest) - n_classes)
    if n_test <= 0:
        return np.empty(0, dtype=np.int64)  # reported by the caller as an empty test side
    try:
        _, test = train_test_split(rest, test_size=n_test, stratify=labels[rest], random_state=seed)
        return test
    except ValueError:  # fewer test (or train) slots than classes: sklearn refuses
        log.info(
            "%s: %d %s rows cannot hold all %d classes; stratifying approximately", table.path, n_test, side, n_classes
        )
    return _approximate_stratified(rest, inverse[rest], n_test, np.random.default_rng(seed))


def _approximate_stratified(rest: np.ndarray, cls: np.ndarray, n_test: int, rng: np.random.Generator) -> np.ndarray:
    """Largest-remainder allocation of ``n_test`` slots over classes, each keeping one row in train."""
    uniq, counts = np.unique(cls, return_counts=True)
    exact = counts * n_test / counts.sum()
    take = np.floor(exact).astype(int)
    order = np.lexsort((rng.random(len(uniq)), -(exact - take)))  # biggest remainder first, random ties
    short = n_test - int(take.sum())
    while short > 0:  # terminates: n_test <= sum(counts - 1)
        for k in order:
            if short and take[k] < counts[k] - 1:
                take[k] += 1
                short -= 1
    by_class = np.split(rest[np.argsort(cls, kind="stable")], np.cumsum(counts)[:-1])
    return np.concatenate([rng.permutation(members)[:t] for members, t in zip(by_class, take)])


def _values(table: Table, column: str, kind: str) -> list:
    values = table.columns[column]
    for i, v in enumerate(values):
        if _missing(v):
            raise table.error(i, f"no value in column '{column}' (needed for the {kind} split)")
    return values


def _missing(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and math.isnan(value))
    )


def _time_keys(table: Table, column: str) -> np.ndarray:
    """Sortable keys: numbers as numbers, ISO dates as instants (any offsets), else plain text."""
    series = pd.Series(_values(table, column, "time"), dtype=object)
    try:
        return pd.to_numeric(series).to_numpy(dtype=float)
    except (ValueError, TypeError):
        pass
    try:
        return pd.to_datetime(series, utc=True, format="ISO8601").dt.tz_convert(None).to_numpy()
    except (ValueError, TypeError, OverflowError):
        log.info("%s: column '%s' is neither numbers nor ISO dates; ordering its values as text", table.path, column)
    return np.asarray([str(v) for v in series])


def _grouped(table: Table, column: str, n_test: int, seed: int) -> np.ndarray:
    """Test mask made of whole groups, shuffled by seed, filled up to about ``n_test`` rows.

    A row with no group value is its own origin: its group is its text. So a benign seed line
    (no ``orig``) lands on the same side as the obfuscated lines whose ``orig`` names it.
    """
    keys = [text if _missing(v) else str(v) for v, text in zip(table.columns[column], table.texts)]
    codes, _ = pd.factorize(pd.Series(keys, dtype=object))
    sizes = np.bincount(codes)
    in_test = np.zeros(len(sizes), dtype=bool)
    total = 0
    for g in np.random.default_rng(seed).permutation(len(sizes)):
        if total + sizes[g] <= n_test:
            in_test[g] = True
            total += sizes[g]
            if total == n_test:
                break
    if not total:  # every group is bigger than the target: take the smallest
        in_test[np.argmin(sizes)] = True
    return in_test[codes]
