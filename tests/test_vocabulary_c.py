"""The C core keeps its own tables of the vocabulary (pinned string ids, type codes) for speed; they
must say what python/qbtrigger/vocabulary.py says. Read from C through _native._c_vocabulary()."""

from __future__ import annotations

import pytest

import qbtrigger
from qbtrigger import vocabulary

pytestmark = pytest.mark.skipif(
    qbtrigger.implementation != "native", reason="the C core is not the active implementation"
)


@pytest.fixture(scope="module")
def c_words() -> dict:
    from qbtrigger._native import _c_vocabulary

    return _c_vocabulary()


def test_the_tables_are_tuples_of_str(c_words):
    assert set(c_words) == {"state_names", "terminal_states", "types"}
    for words in c_words.values():
        assert type(words) is tuple and words and all(type(w) is str for w in words)


def test_state_names(c_words):
    assert set(c_words["state_names"]) == set(vocabulary.STATES)
    assert len(c_words["state_names"]) == len(vocabulary.STATES)  # no state twice


def test_terminal_states(c_words):
    assert frozenset(c_words["terminal_states"]) == vocabulary.TERMINAL_STATES
    assert len(c_words["terminal_states"]) == len(vocabulary.TERMINAL_STATES)
    # IS_TERMINAL is a range of ids: the terminal states come first, in the states' C order.
    assert c_words["state_names"][: len(c_words["terminal_states"])] == c_words["terminal_states"]


def test_types_in_c_type_code_order(c_words):
    assert tuple(c_words["types"]) == vocabulary.EVENT_TYPES
