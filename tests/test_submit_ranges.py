"""The stand-in qb's range helpers: every range form Qube takes, chunks, partitions, binary sort."""

from __future__ import annotations

import pytest

from qbtrigger.submit import QbError, Work, genchunks, genframes, genpartitions, rangechunk, rangepartition, rangesplit
from qbtrigger.submit.ranges import MAX_FRAMES, binary_sort


def names(works):
    assert all(isinstance(w, Work) for w in works)
    return [w["name"] for w in works]


@pytest.mark.parametrize("spec, expected", [
    ("1-5", ["1", "2", "3", "4", "5"]),
    ("1-10x3", ["1", "4", "7", "10"]),
    ("0-60x20", ["0", "20", "40", "60"]),
    ("5-1", ["5", "4", "3", "2", "1"]),
    ("10-1x4", ["10", "6", "2"]),
    ("7", ["7"]),
    ("1,5,10-12", ["1", "5", "10", "11", "12"]),
    ("-3--1", ["-3", "-2", "-1"]),
    ("-2-2", ["-2", "-1", "0", "1", "2"]),
    (" 1 - 5 x 2 ", ["1", "3", "5"]),
    ("1-1x1", ["1"]),
    ("3,,4,", ["3", "4"]),
    (12, ["12"]),
])
def test_genframes_range_forms(spec, expected):
    assert names(genframes(spec)) == expected


def test_more_ranges_as_more_arguments_and_duplicates_removed_by_default():
    assert names(genframes("1-3", "2-5", "9")) == ["1", "2", "3", "4", "5", "9"]
    assert names(genframes("1,1,2", removeDuplicates=False)) == ["1", "1", "2"]
    assert rangesplit("4,4,3") == ["4", "3"]


def test_words_are_literal_work_names_as_in_qube():
    assert names(genframes("Initialize,1-2,echo HI,Finalize")) == ["Initialize", "1", "2", "echo HI", "Finalize"]
    assert names(genframes("1-a")) == ["1-a"]  # not made of digits, '-' and 'x' only: a name


def test_binary_sort_samples_the_whole_range_early():
    # first, last, then the middle of what is between, then the middles of each half, level by level
    assert rangesplit("1-9", binarySort=True) == ["1", "9", "5", "3", "7", "2", "4", "6", "8"]
    assert binary_sort([]) == [] and binary_sort(["a"]) == ["a"] and binary_sort([1, 2]) == [1, 2]
    assert sorted(binary_sort(list(range(100)))) == list(range(100))
    assert names(genframes("1-5", binarySort=True)) == ["1", "5", "3", "2", "4"]


@pytest.mark.parametrize("spec, message", [
    ("1-5-9", "bad frame range '1-5-9'"),
    ("1-10x0", "the step after 'x' must be 1 or more"),
    ("1-10x-2", "the step after 'x' must be 1 or more"),
    ("-", "bad frame range '-'"),
    (f"1-{MAX_FRAMES + 1}", "qbtrigger stops at"),
])
def test_malformed_numeric_ranges_are_one_clear_error(spec, message):
    with pytest.raises(QbError, match="qb.genframes: .*" + message.replace("(", r"\(")):
        genframes(spec)


def test_bad_arguments_name_the_function():
    with pytest.raises(QbError, match=r"qb.genframes: a frame range is a str .* not list"):
        genframes(["1-10"])
    with pytest.raises(QbError, match=r"qb.genframes: unknown keyword argument 'binary_sort' \(accepted: binarySort, removeDuplicates\)"):
        genframes("1-3", binary_sort=True)
    with pytest.raises(QbError, match=r"qb.genchunks: chunksize must be an int, not 'ten'"):
        genchunks("ten", "1-100")
    with pytest.raises(QbError, match=r"qb.genchunks: chunksize must be 1 or more, not 0"):
        genchunks(0, "1-100")
    with pytest.raises(QbError, match=r"qb.genchunks: unknown keyword argument 'removeDuplicates'"):
        genchunks(10, "1-100", removeDuplicates=False)
    with pytest.raises(TypeError):
        genframes()


def test_genchunks_names_are_ranges_a_b():
    assert names(genchunks(200, "1-450")) == ["1-200", "201-400", "401-450"]
    assert names(genchunks(100, "0-250")) == ["0-99", "100-199", "200-250"]
    assert names(genchunks(10, "1-21"))[-1] == "21-21"  # a one-frame chunk is still A-B
    assert names(genchunks("5", "1-10")) == ["1-5", "6-10"]  # a string of digits, as int() takes it


def test_each_chunk_steps_evenly_and_reads_back_as_its_frames():
    chunks = rangechunk(3, "1-10x2,20-25")
    assert chunks == ["1-5x2", "7-9x2", "20-22", "23-25"]
    assert [f for c in chunks for f in rangesplit(c)] == rangesplit("1-10x2,20-25")
    assert rangechunk(3, "10-1") == ["10-8", "7-5", "4-2", "1-1"]


def test_chunks_keep_literal_items_first():
    assert rangechunk(2, "1-4,Initialize") == ["Initialize", "1-2", "3-4"]


def test_partitions():
    assert rangepartition(3, "1-10") == ["1-4", "5-8", "9-10"]
    assert names(genpartitions(2, "1-10")) == ["1-5", "6-10"]
    assert rangepartition(0, "1-3") == ["1", "2", "3"]  # below 1: one item per frame, as Qube does
    assert rangepartition(5, "1-2") == ["1-1", "2-2"]
    assert rangepartition(2, "1-8", binarySort=True) == ["1-4", "5-8"]
