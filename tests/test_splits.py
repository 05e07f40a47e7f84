from __future__ import annotations

import logging
from collections import Counter

import numpy as np
import pytest

from sectune.errors import SectuneError
from sectune.io import Table, read_table
from sectune.splits import parse_split, split_indices


def make_table(labels=None, n=None, path="data.csv", **columns) -> Table:
    n = n if n is not None else len(labels)
    return Table(
        path=path,
        texts=[f"text {i}" for i in range(n)],
        labels=labels,
        label_lists=None,
        rows=list(range(1, n + 1)),
        columns=columns,
        sha256=None,
    )


def check_partition(train, test, n):
    assert train.dtype.kind == "i" and test.dtype.kind == "i"
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)  # sorted ascending, no repeats
    assert not set(train) & set(test)
    assert sorted([*train, *test]) == list(range(n))


# --- parse_split -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("stratified", ("stratified", None)),
        ("random", ("random", None)),
        ("time:published", ("time", "published")),
        ("group:repo", ("group", "repo")),
        ("group:a:b", ("group", "a:b")),
    ],
)
def test_parse_split(how, expected):
    assert parse_split(how) == expected


@pytest.mark.parametrize("how", ["x", "time", "time:", "group:", "Random", "stratified:label", ""])
def test_parse_split_unknown(how):
    expected = r"unknown split '.*' \(expected stratified, random, time:COLUMN, group:COLUMN\)"
    with pytest.raises(SectuneError, match=expected):
        parse_split(how)


# --- stratified ------------------------------------------------------------------------------


def test_stratified_keeps_proportions():
    labels = ["a"] * 600 + ["b"] * 300 + ["c"] * 100
    train, test = split_indices(make_table(labels), "stratified", 0.2, seed=1)
    check_partition(train, test, 1000)
    assert len(test) == 200
    counts = Counter(labels[i] for i in test)
    assert counts == {"a": 120, "b": 60, "c": 20}


def test_stratified_singletons_go_to_train(caplog):
    labels = ["a"] * 10 + ["b"] * 10 + ["rare1", "rare2"]
    with caplog.at_level(logging.INFO, logger="sectune"):
        train, test = split_indices(make_table(labels), "stratified", 0.25, seed=0)
    check_partition(train, test, len(labels))
    assert {20, 21} <= set(train)
    assert Counter(labels[i] for i in test) == {"a": 3, "b": 3}
    assert "2 class(es) have a single example" in caplog.text


def test_stratified_many_small_classes_falls_back_to_approximate(caplog):
    # 30 classes with 2-3 examples each: 0.2 of 75 rows is fewer test slots than classes,
    # which sklearn refuses; the split must still work and keep one example of each class in train.
    labels = [f"c{k}" for k in range(30) for _ in range(2 + k % 2)]
    with caplog.at_level(logging.INFO, logger="sectune"):
        train, test = split_indices(make_table(labels), "stratified", 0.2, seed=3)
    check_partition(train, test, len(labels))
    assert len(test) == 15
    assert {labels[i] for i in train} == set(labels)
    assert max(Counter(labels[i] for i in test).values()) == 1
    assert "stratifying approximately" in caplog.text
    again = split_indices(make_table(labels), "stratified", 0.2, seed=3)
    assert np.array_equal(again[1], test)


def test_stratified_needs_labels():
    with pytest.raises(SectuneError, match=r"data.csv: a stratified split needs labels"):
        split_indices(make_table(n=10), "stratified")


def test_stratified_all_singletons_is_an_error():
    with pytest.raises(SectuneError, match=r"data.csv: the stratified split of 4 records leaves the test side empty"):
        split_indices(make_table(["a", "b", "c", "d"]), "stratified")


def test_deterministic_by_seed():
    labels = ["a", "b"] * 50
    t = make_table(labels)
    for how in ("stratified", "random"):
        a = split_indices(t, how, seed=7)
        b = split_indices(t, how, seed=7)
        c = split_indices(t, how, seed=8)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        assert not np.array_equal(a[1], c[1])


# --- random ----------------------------------------------------------------------------------


def test_random_split_sizes():
    train, test = split_indices(make_table(n=50), "random", 0.3, seed=0)
    check_partition(train, test, 50)
    assert len(test) == 15
    assert list(test) != list(range(35, 50))  # shuffled, not a tail


def test_random_works_without_labels_and_tiny_tables():
    train, test = split_indices(make_table(n=2), "random", 0.2)
    assert len(train) == 1 and len(test) == 1


# --- time ------------------------------------------------------------------------------------


def test_time_split_puts_latest_in_test():
    dates = ["2023-05-01", "2021-01-01", "2024-02-01", "2022-07-15", "2024-01-01", "2020-03-03", "2023-01-01",
             "2022-01-01", "2021-06-30", "2019-12-31"]  # fmt: skip
    train, test = split_indices(make_table(n=10, published=dates), "time:published", 0.2)
    check_partition(train, test, 10)
    assert [dates[i] for i in test] == ["2024-02-01", "2024-01-01"]
    assert max(dates[i] for i in train) < min(dates[i] for i in test)


def test_time_split_orders_instants_not_strings():
    # Lexically "2024-01-01T09:00:00+05:00" > "2024-01-01T05:00:00Z", but it is the earlier instant.
    ts = ["2024-01-01T09:00:00+05:00", "2024-01-01T05:00:00Z", "2023-12-31", "2023-06-01"]
    train, test = split_indices(make_table(n=4, t=ts), "time:t", 0.25)
    assert list(test) == [1]


def test_time_split_numeric_strings_sort_as_numbers():
    # CSV gives strings: "9" must come before "10".
    train, test = split_indices(make_table(n=4, epoch=["10", "9", "100", "11"]), "time:epoch", 0.25)
    assert list(test) == [2]


def test_time_split_ties_at_boundary_go_to_test():
    years = [2020, 2021, 2022, 2022, 2022, 2019, 2018, 2017, 2016, 2015]
    train, test = split_indices(make_table(n=10, year=years), "time:year", 0.2)
    assert sorted(years[i] for i in test) == [2022, 2022, 2022]
    assert 2022 not in {years[i] for i in train}


def test_time_split_from_csv(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("text,label,date\n" + "".join(f"t{i},a,2024-01-{i + 1:02d}\n" for i in range(10)))
    t = read_table(p, extra_columns=["date"])
    train, test = split_indices(t, "time:date", 0.3)
    assert list(test) == [7, 8, 9]


def test_time_split_missing_value_names_row():
    t = make_table(n=4, path="d.csv", date=["2024-01-01", "", "2024-01-03", "2024-01-04"])
    with pytest.raises(SectuneError, match=r"^d.csv: row 2: no value in column 'date'"):
        split_indices(t, "time:date")
    j = make_table(n=3, path="d.jsonl", date=["2024-01-01", "2024-01-02", None])
    j.unit, j.rows = "line", [1, 3, 5]
    with pytest.raises(SectuneError, match=r"^d.jsonl:5: no value in column 'date'"):
        split_indices(j, "time:date")


def test_time_split_all_same_value_is_an_error():
    with pytest.raises(SectuneError, match=r"leaves the train side empty"):
        split_indices(make_table(n=5, d=["2024"] * 5), "time:d")


# --- group -----------------------------------------------------------------------------------


def test_group_split_has_no_overlap():
    rng = np.random.default_rng(0)
    repos = [f"repo{int(g)}" for g in rng.integers(0, 40, size=400)]
    t = make_table(n=400, repo=repos)
    train, test = split_indices(t, "group:repo", 0.2, seed=5)
    check_partition(train, test, 400)
    assert not {repos[i] for i in train} & {repos[i] for i in test}
    assert 0.15 <= len(test) / 400 <= 0.25
    again = split_indices(t, "group:repo", 0.2, seed=5)
    assert np.array_equal(again[1], test)
    other = split_indices(t, "group:repo", 0.2, seed=6)
    assert not np.array_equal(other[1], test)


def test_group_split_single_group_is_an_error():
    with pytest.raises(SectuneError, match=r"data.csv: the group:g split of 4 records leaves the train side empty"):
        split_indices(make_table(n=4, g=["x"] * 4), "group:g")


def test_group_split_row_without_group_joins_the_group_named_by_its_text():
    """A benign seed (no ``orig``) goes where the lines obfuscated from it go, whatever the seed."""
    t = make_table(n=40, g=[None] * 40)
    seed_text = t.texts[0]
    t.columns["g"] = [None] + [seed_text] * 9 + [None] * 30  # row 0 is the seed of rows 1..9
    for seed in range(8):
        train, test = split_indices(t, "group:g", 0.3, seed=seed)
        side = set(test.tolist()) if 0 in test else set(train.tolist())
        assert set(range(10)) <= side


# --- argument errors ---------------------------------------------------------------------------


def test_unknown_split():
    with pytest.raises(SectuneError, match=r"unknown split 'x' \(expected stratified, random, time:COLUMN"):
        split_indices(make_table(["a", "b"]), "x")


def test_column_not_read():
    with pytest.raises(SectuneError, match=r"data.csv: the time:date split needs column 'date', which was not read"):
        split_indices(make_table(n=4), "time:date")


@pytest.mark.parametrize("size", [0, 1, -0.1, 1.5, True])
def test_bad_test_size(size):
    with pytest.raises(SectuneError, match=r"test size must be a fraction between 0 and 1"):
        split_indices(make_table(n=10), "random", size)


def test_too_few_rows():
    with pytest.raises(SectuneError, match=r"data.csv: 1 record\(s\) cannot be split"):
        split_indices(make_table(n=1), "random")
    with pytest.raises(SectuneError, match=r"leaves the train side empty"):
        split_indices(make_table(n=3), "random", 0.9)


def test_messages_name_the_validation_side(caplog):
    """The same split holds out validation rows: its messages must not call them test rows."""
    from sectune.io import Table
    from sectune.splits import split_indices

    labels = [f"c{i}" for i in range(10) for _ in range(2)]
    table = Table("d.csv", [f"t{i}" for i in range(20)], labels, None, list(range(1, 21)), {}, None)
    with caplog.at_level("INFO", logger="sectune"):
        split_indices(table, "stratified", 0.1, 0, side="validation")
    assert "2 validation rows cannot hold all 10 classes" in caplog.text
