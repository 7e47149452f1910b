"""The trigger-expression parser (SPEC §2-§3, python/qbtrigger/_common.py) and Network.add's errors.

The first half pins ``parse``: every message it can give, at which column, the caret rendering, the
nesting limit, operators. The second half checks that ``Network.add`` on each twin raises exactly the
``TriggerSyntaxError`` that ``parse`` gives (type, expression, column, message and ``str()``).
"""

from __future__ import annotations

import pickle

import pytest

from qbtrigger import And, Atom, Or, TriggerSyntaxError, parse
from qbtrigger._common import MAX_DEPTH, atoms_of

NOT_MESSAGE = "there is no NOT: events are edges, and 'did not happen' has no moment to fire at"
TYPE_LIST = "job, subjob, work, host, time, repeat, global, globaltime or globalrepeat"
BAD_TIME = "expected whole seconds since 2000-01-01 05:00 UTC (Qube time)"
BAD_REPEAT = "expected start-interval in whole seconds, e.g. 0-60"
MISSING_CONTEXT = (
    "missing context: expected name-type-context, the context being self, parent, a job id or a label"
)
BAD_NAME = "expected letters, digits and '_', starting with a letter"

# (expression, column, message): every message of the parser, each at least once.
ERROR_CATALOGUE = [
    # whole expression
    ("", 0, "empty expression"),
    ("   \t ", 0, "empty expression"),
    # operators
    ("a-job-1 & b-job-2", 8, "single '&': write '&&' or 'and'"),
    ("a-job-1 | b-job-2", 8, "single '|': write '||' or 'or'"),
    ("a-job-1&b-job-2", 7, "single '&': write '&&' or 'and'"),
    ("a-job-1 &&& b-job-2", 10, "single '&': write '&&' or 'and'"),
    ("not a-job-1", 0, NOT_MESSAGE),
    ("a-job-1 && NOT b-job-2", 11, NOT_MESSAGE),
    ("a-job-1 && Not(b-job-2)", 11, NOT_MESSAGE),
    ("!a-job-1", 0, NOT_MESSAGE),
    ("a-job-1 && !(b-job-2)", 11, NOT_MESSAGE),
    ("a-job-1 b-job-2", 8, "expected '&&' or '||' before 'b-job-2'"),
    ("a-job-1 (b-job-2)", 8, "expected '&&' or '||' before '('"),
    ("(a-job-1 b-job-2)", 9, "expected '&&', '||' or ')' before 'b-job-2'"),
    ("a-job-1 andb-job-2", 8, "expected '&&' or '||' before 'andb-job-2'"),
    ("a-job-1 &&", 10, "expected an event or '(' but the expression ends"),
    ("a-job-1 or   ", 13, "expected an event or '(' but the expression ends"),
    ("(", 1, "expected an event or '(' but the expression ends"),
    ("()", 1, "expected an event or '(' before ')'"),
    ("&& a-job-1", 0, "expected an event or '(' before '&&'"),
    ("a-job-1 || or b-job-2", 8, "write '||' or 'OR', not both"),
    # one operator written both ways (a flattened copy of Qube's docs shows `AND&&`), at the first
    ("a-job-1 AND&& b-job-2", 8, "write '&&' or 'AND', not both"),
    ("a-job-1 &&AND b-job-2", 8, "write '&&' or 'AND', not both"),
    ("a-job-1 and && b-job-2", 8, "write '&&' or 'AND', not both"),
    ("(a-job-1 OR|| b-job-2)", 9, "write '||' or 'OR', not both"),
    ("a-job-1 ||or b-job-2", 8, "write '||' or 'OR', not both"),
    ("a-job-1 && && b-job-2", 11, "expected an event or '(' before '&&'"),  # the same spelling twice
    ("a-job-1 AND || b-job-2", 12, "expected an event or '(' before '||'"),  # two different operators
    ("a-job-1 && ) ", 11, "expected an event or '(' before ')'"),
    ("(a-job-1", 0, "'(' is never closed"),
    ("((a-job-1) || b-job-2", 0, "'(' is never closed"),
    ("a-job-1 && (b-job-2 || (c-job-3)", 11, "'(' is never closed"),
    ("a-job-1)", 7, "unmatched ')'"),
    ("(a-job-1)) && b-job-2", 9, "unmatched ')'"),
    # atom shape and name
    ("complete", 0, "incomplete event 'complete': expected name-type-context[-extra]"),
    ("a-job-1 || done", 11, "incomplete event 'done': expected name-type-context[-extra]"),
    ("1st-job-5", 0, f"bad event name '1st': {BAD_NAME}"),
    ("-job-5", 0, f"bad event name '': {BAD_NAME}"),
    ("_x-job-5", 0, f"bad event name '_x': {BAD_NAME}"),
    # type
    ("complete-jobs-5", 9, f"unknown type 'jobs': expected {TYPE_LIST}"),
    ("complete-", 9, f"unknown type '': expected {TYPE_LIST}"),
    ("a-job-1 && complete-Frame-5-1", 20, f"unknown type 'Frame': expected {TYPE_LIST}"),
    # global types
    ("tick-globaltime", 15, "missing time after 'globaltime': expected name-globaltime-T"),
    ("tick-GlobalTime-", 16, "missing time after 'GlobalTime': expected name-globaltime-T"),
    ("tick-globalrepeat", 17, "missing time after 'globalrepeat': expected name-globalrepeat-T-I"),
    ("tick-globaltime-soon", 16, f"bad time 'soon': {BAD_TIME}"),
    ("tick-globaltime-4611686018427387905", 16, f"bad time '4611686018427387905': {BAD_TIME}"),
    ("tick-globalrepeat-60", 18, f"bad repeat '60': {BAD_REPEAT}"),
    ("tick-globalrepeat-0-0", 18, f"bad repeat '0-0': {BAD_REPEAT}"),
    # the two-field clock forms (globaltime-T, globalrepeat-T-I): a second field starting with a
    # digit makes the first one the type; anything else is a three-field atom named globaltime
    ("globaltime-10x", 11, f"bad time '10x': {BAD_TIME}"),
    ("a-job-1 && GlobalTime-4611686018427387905", 22, f"bad time '4611686018427387905': {BAD_TIME}"),
    ("globalrepeat-60", 13, f"bad repeat '60': {BAD_REPEAT}"),
    ("globalrepeat-0-0", 13, f"bad repeat '0-0': {BAD_REPEAT}"),
    ("globalrepeat-0-", 13, f"bad repeat '0-': {BAD_REPEAT}"),
    ("globaltime-soon", 11, f"unknown type 'soon': expected {TYPE_LIST}"),
    ("globaltime-", 11, f"unknown type '': expected {TYPE_LIST}"),
    # global: name-global, nothing after the type
    ("nightly-global-x", 14, "a global event takes no context and no extra, but '-x' follows the type"),
    ("nightly-Global-self-5", 14, "a global event takes no context and no extra, but '-self-5' follows the type"),
    ("a-job-1 || nightly-global-", 25, "a global event takes no context and no extra, but '-' follows the type"),
    ("1st-global", 0, f"bad event name '1st': {BAD_NAME}"),
    # context
    ("complete-job", 12, MISSING_CONTEXT),
    ("complete-job-", 13, MISSING_CONTEXT),
    ("complete-work--5", 14, MISSING_CONTEXT),
    ("complete-job-2147483648", 13, "job id '2147483648' is out of range (at most 2147483647)"),
    ("complete-job-1abc", 13, "bad context '1abc': expected self, parent, a job id or a label"),
    ("complete-job-a$b", 13, "bad context 'a$b': expected self, parent, a job id or a label"),
    # extra
    ("complete-job-5-x", 14, "a job event takes no extra, but '-x' follows the context"),
    ("complete-job-self-", 17, "a job event takes no extra, but '-' follows the context"),
    ("complete-work-5", 15, "missing extra: a work event needs a work name or '*' after the context"),
    ("complete-work-5-", 16, "missing extra: a work event needs a work name or '*' after the context"),
    ("running-subjob-self", 19, "missing extra: a subjob event needs a subjob id or '*' after the context"),
    ("up-host-self", 12, "missing extra: a host event needs a host name or '*' after the context"),
    ("dummy-time-self", 15, "missing extra: a time event needs a Qube time after the context"),
    (
        "dummy-repeat-self",
        17,
        "missing extra: a repeat event needs a start and an interval (T-I) after the context",
    ),
    ("running-subjob-self-a", 20, "bad subjob id 'a': expected a number or '*'"),
    ("running-subjob-self--1", 20, "bad subjob id '-1': expected a number or '*'"),
    ("dummy-time-self-noon", 16, f"bad time 'noon': {BAD_TIME}"),
    ("dummy-time-self-*", 16, f"bad time '*': {BAD_TIME}"),
    ("dummy-repeat-self-10", 18, f"bad repeat '10': {BAD_REPEAT}"),
    ("dummy-repeat-self-10-x", 18, f"bad repeat '10-x': {BAD_REPEAT}"),
    ("dummy-repeat-self-10-0", 18, f"bad repeat '10-0': {BAD_REPEAT}"),
]


@pytest.mark.parametrize(("expression", "column", "message"), ERROR_CATALOGUE)
def test_parse_error_catalogue(expression, column, message):
    with pytest.raises(TriggerSyntaxError) as info:
        parse(expression)
    error = info.value
    assert (error.expression, error.column, error.message) == (expression, column, message)


def test_syntax_error_is_a_value_error_with_a_caret_rendering():
    with pytest.raises(ValueError) as info:
        parse("complete-job-5 && failed-jobs-5")
    assert isinstance(info.value, TriggerSyntaxError)
    assert str(info.value) == (
        f"unknown type 'jobs': expected {TYPE_LIST} (column 25)\n"
        "    complete-job-5 && failed-jobs-5\n"
        "                             ^"
    )


def test_caret_rendering_flattens_tabs_and_newlines_so_the_caret_lines_up():
    with pytest.raises(TriggerSyntaxError) as info:
        parse("a-job-1\t&&\nb-job-2 c-job-3")
    assert info.value.column == 19
    assert str(info.value).splitlines() == [
        "expected '&&' or '||' before 'c-job-3' (column 19)",
        "    a-job-1 && b-job-2 c-job-3",
        "                       ^",
    ]


def test_caret_can_sit_just_past_the_end_of_the_expression():
    with pytest.raises(TriggerSyntaxError) as info:
        parse("a-job-1 &&")
    assert str(info.value).splitlines()[-1] == "    " + " " * 10 + "^"


def test_syntax_error_survives_pickling():
    error = TriggerSyntaxError("a-job-1 &&", 10, "expected an event or '(' but the expression ends")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.expression, copy.column, copy.message, str(copy)) == (
        error.expression,
        error.column,
        error.message,
        str(error),
    )


def test_non_string_expression_is_a_type_error():
    with pytest.raises(TypeError, match="a trigger expression must be a str, not int"):
        parse(5)


def test_first_error_from_the_left_wins():
    # The unknown type comes before the unclosed parenthesis and the stray '&'.
    with pytest.raises(TriggerSyntaxError) as info:
        parse("complete-jbo-5 && (failed-job-5 & x")
    assert (info.value.column, info.value.message) == (9, f"unknown type 'jbo': expected {TYPE_LIST}")


def test_atoms_are_validated_only_when_reached():
    # The bad atom after the stray operator is never looked at.
    with pytest.raises(TriggerSyntaxError) as info:
        parse("a-job-1 && && complete-jobs-1")
    assert info.value.message == "expected an event or '(' before '&&'"


# --------------------------------------------------------------------------- nesting


def nested(depth: int) -> str:
    return "(" * depth + "a-job-1" + ")" * depth


def test_nesting_of_256_levels_is_accepted():
    assert parse(nested(MAX_DEPTH)).canonical() == "a-job-1"


def test_nesting_of_257_levels_fails_at_the_257th_parenthesis():
    with pytest.raises(TriggerSyntaxError) as info:
        parse(nested(MAX_DEPTH + 1))
    assert (info.value.column, info.value.message) == (256, "nesting deeper than 256 levels")


def test_nesting_limit_counts_open_levels_not_parentheses_in_total():
    # 300 sibling groups, each one level deep, are fine.
    text = " || ".join(["(a-job-1 && b-job-2)"] * 300)
    tree = parse(text)
    assert isinstance(tree, Or) and len(tree.children) == 300


def test_nesting_limit_reported_even_when_the_expression_is_unfinished():
    with pytest.raises(TriggerSyntaxError) as info:
        parse("a-job-1 && " + "(" * 300)
    assert (info.value.column, info.value.message) == (11 + 256, "nesting deeper than 256 levels")


# --------------------------------------------------------------------------- operators and trees


def shape(node):
    """A tree without columns: atoms as canonical text, operators as ('and', ...) / ('or', ...)."""
    if isinstance(node, Atom):
        return node.canonical()
    return ("and" if isinstance(node, And) else "or", *(shape(child) for child in node.children))


A, B, C = "a-job-1", "b-job-2", "c-job-3"


@pytest.mark.parametrize(
    "text",
    [
        "a-job-1 && b-job-2 || c-job-3",
        "a-job-1 and b-job-2 or c-job-3",
        "a-job-1 AND b-job-2 OR c-job-3",
        "a-job-1 And b-job-2 oR c-job-3",
        "a-job-1&&b-job-2||c-job-3",
        "(a-job-1)and(b-job-2)or(c-job-3)",
        "\ta-job-1\n&&  b-job-2 ||\r\nc-job-3  ",
        "((a-job-1 && b-job-2)) || c-job-3",
    ],
)
def test_and_binds_tighter_than_or_with_any_operator_spelling(text):
    assert shape(parse(text)) == ("or", ("and", A, B), C)


def test_parentheses_override_precedence():
    assert shape(parse("a-job-1 && (b-job-2 || c-job-3)")) == ("and", A, ("or", B, C))


def test_chains_are_flat():
    assert shape(parse("a-job-1 && b-job-2 && c-job-3")) == ("and", A, B, C)
    assert shape(parse("a-job-1 || b-job-2 || c-job-3")) == ("or", A, B, C)


def test_word_operators_must_stand_apart():
    with pytest.raises(TriggerSyntaxError) as info:
        parse("a-job-1and b-job-2")
    assert info.value.message == "bad context '1and': expected self, parent, a job id or a label"


def test_a_word_that_merely_starts_with_not_is_an_event_name():
    assert parse("notice-job-5").name == "notice"
    assert shape(parse("nothing-job-5 || notable-job-5")) == ("or", "nothing-job-5", "notable-job-5")


# --------------------------------------------------------------------------- atoms


def test_atom_fields_keywords_lowered_labels_and_extras_kept():
    atom = parse("  COMPLETE-Work-Render--10")
    assert atom == Atom("complete", "work", "label", None, "Render", "-10", 2, "COMPLETE-Work-Render--10")


def test_self_and_parent_are_case_insensitive_keywords():
    assert parse("done-job-SELF").context == "self"
    assert parse("done-job-Parent").context == "parent"


def test_numeric_context_keeps_the_number():
    atom = parse("failed-subjob-0042-7")
    assert (atom.context, atom.job, atom.extra, atom.canonical()) == ("id", 42, "7", "failed-subjob-42-7")


def test_job_id_at_the_limit_is_accepted():
    assert parse("complete-job-2147483647").job == 2147483647


def test_global_atoms_have_no_context():
    atom = parse("Tick-GlobalRepeat-0-60")
    assert (atom.name, atom.type, atom.context, atom.extra) == ("tick", "globalrepeat", "global", "0-60")
    assert atom.canonical() == "tick-globalrepeat-0-60"


def test_two_field_clock_forms_are_dummy_time_events():
    # PipelineFX's Perl example writes globaltime-T: Qube's time events are named dummy.
    atom = parse("globaltime-10000")
    assert atom == Atom("dummy", "globaltime", "global", None, None, "10000", 0, "globaltime-10000")
    assert atom.canonical() == "dummy-globaltime-10000"
    atom = parse("a-job-1 && GLOBALREPEAT-0100-60").children[1]
    assert atom == Atom("dummy", "globalrepeat", "global", None, None, "0100-60", 11, "GLOBALREPEAT-0100-60")
    assert atom.canonical() == "dummy-globalrepeat-0100-60"
    # the same atom as the three-field spelling, so they share a key and a latch
    assert parse("dummy-globaltime-10000").canonical() == parse("globaltime-10000").canonical()


def test_globaltime_is_still_a_user_event_name_before_a_type():
    assert parse("globaltime-job-5")[:5] == ("globaltime", "job", "id", 5, None)
    assert parse("GlobalTime-globaltime-5")[:6] == ("globaltime", "globaltime", "global", None, None, "5")
    assert parse("globalrepeat-work-self-3").canonical() == "globalrepeat-work-self-3"


def test_global_atoms_are_a_name_and_the_type():
    atom = parse("Nightly-GLOBAL")
    assert atom == Atom("nightly", "global", "global", None, None, None, 0, "Nightly-GLOBAL")
    assert atom.canonical() == "nightly-global"
    assert parse("done-global || x-job-1").children[0].canonical() == "done-global"


def test_wildcards_and_time_extras():
    assert parse("complete-work-self-*").extra == "*"
    assert parse("running-subjob-self-*").extra == "*"
    assert parse("up-host-self-*").extra == "*"
    assert parse("dummy-time-self-4611686018427387904").extra == str(2**62)
    assert parse("dummy-repeat-self-0-1").extra == "0-1"


def test_label_may_contain_dots_and_underscores():
    assert parse("complete-job-_shot.v2").label == "_shot.v2"


def test_atoms_of_lists_atoms_in_expression_order():
    tree = parse("(c-job-3 || a-job-1) && b-job-2 && a-job-1")
    assert [a.text for a in atoms_of(tree)] == ["c-job-3", "a-job-1", "b-job-2", "a-job-1"]


def test_parent_needs_a_pid_only_when_an_owner_is_given():
    assert parse("done-job-parent").context == "parent"
    assert parse("done-job-parent", owner=5, pid=4).context == "parent"
    with pytest.raises(TriggerSyntaxError) as info:
        parse("a-job-1 || done-job-parent", owner=5)
    assert (info.value.column, info.value.message) == (
        20,
        "'parent' needs a parent job, but job 5 has no pid",
    )


# --------------------------------------------------------------------------- Network.add


def expected_error(text, owner=None, pid=None) -> TriggerSyntaxError:
    with pytest.raises(TriggerSyntaxError) as info:
        parse(text, owner=owner, pid=pid)
    return info.value


def assert_same_error(actual: BaseException, expected: TriggerSyntaxError) -> None:
    assert type(actual) is TriggerSyntaxError
    assert actual.expression == expected.expression
    assert actual.column == expected.column
    assert actual.message == expected.message
    assert str(actual) == str(expected)


@pytest.mark.parametrize(("expression", "column", "message"), ERROR_CATALOGUE)
def test_network_add_raises_the_parsers_error(impl, expression, column, message):
    net = impl()
    net.add_job(5, pid=4)
    with pytest.raises(TriggerSyntaxError) as info:
        net.add(expression, owner=5)
    assert_same_error(info.value, expected_error(expression, owner=5, pid=4))
    assert len(net) == 0


def test_network_add_reports_parent_without_pid(impl):
    net = impl()
    net.add_job(5)
    with pytest.raises(TriggerSyntaxError) as info:
        net.add("complete-job-self && done-job-PARENT", owner=5)
    assert_same_error(info.value, expected_error("complete-job-self && done-job-PARENT", owner=5))
    assert (info.value.column, info.value.message) == (
        30,
        "'parent' needs a parent job, but job 5 has no pid",
    )


def test_network_add_accepts_parent_when_the_owner_has_a_pid(impl):
    net = impl()
    net.add_job(5, pid=4)
    assert net.add("done-job-parent", owner=5) == 1


def test_network_add_nesting_limit(impl):
    net = impl()
    net.add_job(1)
    assert net.add(nested(MAX_DEPTH), owner=1) == 1
    with pytest.raises(TriggerSyntaxError) as info:
        net.add(nested(MAX_DEPTH + 1), owner=1)
    assert_same_error(info.value, expected_error(nested(MAX_DEPTH + 1)))


def test_network_add_list_reports_the_first_bad_item(impl):
    net = impl()
    net.add_job(5)
    with pytest.raises(TriggerSyntaxError) as info:
        net.add(["complete-job-self", "a-job-1 &&", "complete-jobs-1"], owner=5)
    assert_same_error(info.value, expected_error("a-job-1 &&"))
    assert len(net) == 0


def test_network_add_list_items_are_parsed_in_list_order(impl):
    net = impl()
    net.add_job(5)
    with pytest.raises(TriggerSyntaxError) as info:
        net.add(("x-jobs-1", "a-job-1 &&"), owner=5)
    assert_same_error(info.value, expected_error("x-jobs-1"))


def test_network_add_empty_list(impl):
    net = impl()
    net.add_job(5)
    for empty in ([], ()):
        with pytest.raises(TriggerSyntaxError) as info:
            net.add(empty, owner=5)
        assert (info.value.expression, info.value.column, info.value.message) == ("", 0, "empty trigger list")
        assert str(info.value) == str(TriggerSyntaxError("", 0, "empty trigger list"))


def test_network_add_accepts_word_operators_and_no_space_operators(impl):
    net = impl()
    net.add_job(1)
    handle = net.add("a-job-1&&b-job-2 OR (c-job-3)and(d-job-4)", owner=1)
    assert net.feed("a-job-1") == []
    assert net.feed("d-job-4") == []
    assert net.feed("c-job-3") == [handle]


def test_network_add_rejects_non_string_triggers(impl):
    net = impl()
    net.add_job(1)
    for bad in (5, None, b"a-job-1", {"a-job-1"}):
        with pytest.raises(TypeError):
            net.add(bad, owner=1)
    with pytest.raises(TypeError):
        net.add(["a-job-1", 5], owner=1)
    assert len(net) == 0
