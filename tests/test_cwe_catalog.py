"""The CWE catalogue: hierarchy, views, rollup, usage and the near-miss metric.

Most checks run on a hand-made catalogue (tests/fixtures/cwe/cwec_mini.xml, its tree drawn at the
top of the file); a few pin facts of the real CWE 4.14 XML that the cwe2 package ships.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest

from sectune.errors import SectuneError
from sectune.tasks.cwe.catalog import check_labels, load_catalog, normalize_cwe, observed_examples
from sectune.tasks.cwe.hierarchy import near_miss_share

MINI = Path(__file__).parent / "fixtures" / "cwe" / "cwec_mini.xml"


@pytest.fixture(scope="module")
def mini():
    return load_catalog(str(MINI))


@pytest.fixture(scope="module")
def real():
    return load_catalog()


# --- the hand-made catalogue ----------------------------------------------------------------
def test_entries_kinds_and_names(mini):
    assert mini.version == "0.1"
    assert mini.name("CWE-3") == "Input Base"
    assert mini.name("cwe-003") == "Input Base" and mini.get(3).id == "CWE-3"
    assert mini.get("CWE-13").abstraction == "Category"
    assert mini.get("CWE-1003").abstraction == "View"
    assert mini.get("CWE-99") is None and mini.name("CWE-99") is None
    assert mini.get("CWE-4").parents == ["CWE-3"]


def test_parents_children_ancestors(mini):
    assert mini.parents("CWE-7") == ["CWE-8", "CWE-9"]  # Primary first though the XML lists CWE-9 first
    assert mini.parents("CWE-1") == []
    assert sorted(mini.children("CWE-3")) == ["CWE-4", "CWE-5"]
    assert sorted(mini.children("CWE-1")) == ["CWE-11", "CWE-2", "CWE-8", "CWE-9"]
    assert mini.ancestors("CWE-10") == ["CWE-4", "CWE-3", "CWE-2", "CWE-1"]
    assert mini.ancestors("CWE-7") == ["CWE-8", "CWE-9", "CWE-1"]
    assert mini.parents("CWE-3", view="1003") == ["CWE-2"]
    assert mini.parents("CWE-4", view="699") == ["CWE-13"]  # category membership in a category view


def test_view_membership(mini):
    assert mini.view_members("1003") == {"CWE-2", "CWE-3", "CWE-8", "CWE-9"}
    assert mini.view_members(1003) == mini.view_members("CWE-1003")
    assert mini.in_view("CWE-3", "1003") and not mini.in_view("CWE-4", "1003")
    assert "CWE-14" in mini.view_members("1000") and "CWE-12" not in mini.view_members("1000")
    assert mini.view_members("699") == {"CWE-13", "CWE-3", "CWE-4"}
    assert mini.view_members("4242") == set()


@pytest.mark.parametrize(
    ("cwe", "expected"),
    [
        ("CWE-3", "CWE-3"),  # a member stays itself
        ("CWE-4", "CWE-3"),  # one step up
        ("CWE-10", "CWE-3"),  # two steps up
        ("CWE-7", "CWE-8"),  # two member parents: the Primary one wins
        ("CWE-14", None),  # nothing on the way up is in the view
        ("CWE-1", None),
        ("CWE-13", None),  # a category
        ("CWE-12", None),  # deprecated
        ("CWE-99", None),  # unknown
        ("NVD-CWE-Other", None),
    ],
)
def test_rollup(mini, cwe, expected):
    assert mini.rollup(cwe, "1003") == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("CWE-4", "CWE-4", "same"),
        ("CWE-4", "CWE-3", "parent"),
        ("CWE-7", "CWE-9", "parent"),  # a secondary parent is still a parent
        ("CWE-3", "CWE-4", "child"),
        ("CWE-4", "CWE-5", "sibling"),
        ("CWE-2", "CWE-8", "sibling"),
        ("CWE-10", "CWE-3", "ancestor"),
        ("CWE-10", "CWE-1", "ancestor"),
        ("CWE-2", "CWE-10", "descendant"),
        ("CWE-10", "CWE-8", "unrelated"),
        ("CWE-12", "CWE-3", "unrelated"),
        ("CWE-3", "CWE-99", "unknown"),
        ("NVD-CWE-Other", "CWE-3", "unknown"),
    ],
)
def test_relation(mini, a, b, expected):
    assert mini.relation(a, b) == expected


def test_near_miss(mini):
    assert mini.near_miss("CWE-4", "CWE-3") and mini.near_miss("CWE-3", "CWE-4") and mini.near_miss("CWE-4", "CWE-5")
    assert not mini.near_miss("CWE-10", "CWE-3") and not mini.near_miss("CWE-4", "CWE-4")


def test_near_miss_share(mini):
    pairs = [
        ("CWE-3", "CWE-3"),  # right
        ("CWE-3", "cwe-003"),  # right, spelled differently
        ("CWE-4", "CWE-3"),  # parent
        ("CWE-3", "CWE-4"),  # child
        ("CWE-4", "CWE-5"),  # sibling
        ("CWE-10", "CWE-3"),  # ancestor
        ("CWE-2", "CWE-10"),  # descendant
        ("CWE-10", "CWE-8"),  # unrelated
        ("CWE-3", "NVD-CWE-Other"),  # unknown
    ]
    result = near_miss_share([t for t, _ in pairs], [p for _, p in pairs], mini)
    assert result["n"] == 9 and result["n_wrong"] == 7 and result["near_miss"] == 3
    assert result["near_miss_share"] == pytest.approx(3 / 7)
    assert result["by_relation"] == {
        "parent": 1,
        "child": 1,
        "sibling": 1,
        "ancestor": 1,
        "descendant": 1,
        "unrelated": 1,
        "unknown": 1,
    }
    assert near_miss_share(["CWE-3"], ["CWE-3"], mini)["near_miss_share"] == 0.0
    with pytest.raises(ValueError):
        near_miss_share(["CWE-3"], [], mini)


def test_usage_allowed_deprecated(mini):
    assert [mini.usage(c) for c in ("CWE-3", "CWE-2", "CWE-1", "CWE-13", "CWE-1003", "CWE-14", "CWE-99")] == [
        "Allowed",
        "Allowed-with-Review",
        "Discouraged",
        "Prohibited",
        "Prohibited",
        None,
        None,
    ]
    assert mini.allowed("CWE-3") and mini.allowed("CWE-2")
    assert not any(mini.allowed(c) for c in ("CWE-1", "CWE-12", "CWE-13", "CWE-1003", "CWE-99"))
    assert mini.allowed("CWE-14")  # no mapping note: a live weakness counts as allowed
    assert mini.is_deprecated("CWE-12") and not mini.is_deprecated("CWE-3") and not mini.is_deprecated("CWE-99")


def test_check_labels(mini):
    labels = ["CWE-3", "CWE-3", "cwe-04", "NVD-CWE-Other", "CWE-99", "CWE-99", "CWE-12", "CWE-13", "CWE-1"]
    report = check_labels(mini, iter(labels))
    assert report["n"] == 9 and report["n_distinct"] == 7
    assert report["counts"] == {"unknown": 3, "deprecated": 1, "prohibited": 1, "discouraged": 1, "ok": 3}
    assert report["unknown"] == {"CWE-99": 2, "NVD-CWE-Other": 1}
    assert (
        report["deprecated"] == {"CWE-12": 1}
        and report["prohibited"] == {"CWE-13": 1}
        and report["discouraged"] == {"CWE-1": 1}
    )
    assert check_labels(mini, [])["n"] == 0


def test_observed_examples_still_work(mini):
    assert mini.get("CWE-3").examples == [("CVE-2000-0001", "first example"), ("CVE-2000-0002", "second example")]
    rows = observed_examples(mini, min_examples=2)
    assert [r["label"] for r in rows] == [["CWE-3"], ["CWE-3"]] and [r["text"] for r in rows] == [
        "first example",
        "second example",
    ]
    assert observed_examples(mini, min_examples=3) == []


def test_observed_examples_merge_a_text_cited_under_several_cwes():
    """One row per distinct text, every citing CWE kept, the most specific abstraction first."""
    catalog = load_catalog()
    rows = observed_examples(catalog, min_examples=5)
    assert len({r["text"] for r in rows}) == len(rows)
    multi = [r for r in rows if len(r["label"]) > 1]
    assert multi
    rank = {"Variant": 0, "Base": 1, "Compound": 2, "Class": 3, "Pillar": 4}
    for row in multi:
        ranks = [rank.get(catalog.get(c).abstraction, 9) for c in row["label"]]
        assert ranks == sorted(ranks)


def test_zipped_xml(tmp_path):
    archive = tmp_path / "cwec_latest.xml.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(MINI, "cwec_v0.1.xml")
    catalog = load_catalog(str(archive))
    assert catalog.rollup("CWE-10") == "CWE-3" and catalog.source == archive

    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as handle:
        handle.writestr("readme.txt", "no xml here")
    with pytest.raises(SectuneError, match="expected one .xml file"):
        load_catalog(str(empty))


def test_broken_files_give_one_line_errors(tmp_path):
    corrupt = tmp_path / "corrupt.xml"
    corrupt.write_text(MINI.read_text()[:1500])
    with pytest.raises(SectuneError, match="is not valid CWE XML") as info:
        load_catalog(str(corrupt))
    assert "\n" not in str(info.value) and str(corrupt) in str(info.value)

    wrong_root = tmp_path / "other.xml"
    wrong_root.write_text("<root/>")
    with pytest.raises(SectuneError, match="no Weakness_Catalog root"):
        load_catalog(str(wrong_root))

    with pytest.raises(SectuneError, match="no such CWE XML file"):
        load_catalog(str(tmp_path / "missing.xml"))


def test_normalize_cwe_unchanged():
    assert normalize_cwe("CWE-079") == "CWE-79" and normalize_cwe("cwe 79: XSS") == "CWE-79"
    assert normalize_cwe("NVD-CWE-Other") is None and normalize_cwe("79") is None


# --- the real catalogue (CWE 4.14, shipped by cwe2) -------------------------------------------
def test_real_catalogue_loads_fast():
    start = time.perf_counter()
    catalog = load_catalog.__wrapped__()  # bypass the cache to time a real parse
    assert time.perf_counter() - start < 2.0  # about 0.2-0.4 s; loose because CI machines are shared
    assert catalog.version == "4.14"


def test_real_names_and_hierarchy(real):
    assert real.name("CWE-79") == "Improper Neutralization of Input During Web Page Generation ('Cross-site Scripting')"
    assert real.parents("CWE-1284") == ["CWE-20"]
    assert real.relation("CWE-1284", "CWE-20") == "parent"
    assert real.relation("CWE-20", "CWE-1284") == "child"
    assert real.parents("CWE-121") == ["CWE-788", "CWE-787"]  # CWE-788 is the Primary parent
    assert real.relation("CWE-121", "CWE-122") == "sibling"
    assert real.relation("CWE-121", "CWE-119") == "ancestor"


def test_real_view_1003(real):
    members = real.view_members("1003")
    print(f"view 1003: {len(members)} members")
    # 37 top-level Has_Member entries + 93 weaknesses that are ChildOf them in view 1003 (= cwe2's 1003.csv)
    assert len(members) == 130
    assert {"CWE-79", "CWE-787", "CWE-119", "CWE-20", "CWE-1284"} <= members
    assert "CWE-121" not in members and "CWE-788" not in members


def test_real_rollup(real):
    assert real.rollup("CWE-79") == "CWE-79"
    # CWE-121's parents: CWE-788 (Primary, not in 1003) and CWE-787 (in 1003): the nearest member wins
    assert real.rollup("CWE-121") == "CWE-787"
    assert real.rollup("CWE-680") == "CWE-190"
    assert real.rollup("CWE-16") is None  # a category


def test_real_usage(real):
    categories = [w.id for w in real.weaknesses.values() if w.abstraction == "Category"]
    assert len(categories) > 300 and not any(real.allowed(c) for c in categories)
    assert real.usage("CWE-16") == "Prohibited" and real.get("CWE-16").status == "Obsolete"
    assert real.allowed("CWE-79") and real.usage("CWE-20") == "Discouraged" and not real.allowed("CWE-20")
    assert real.is_deprecated("CWE-217") and not real.allowed("CWE-217")
