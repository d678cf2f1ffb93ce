"""The query language: parser, error messages, column paths and the filters it compiles to."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from omnidash.store.base import BadRequest
from omnidash.store.query import (
    ALLOWED_OPERATORS,
    And,
    Compare,
    Exists,
    InList,
    Not,
    Or,
    QueryContext,
    QueryError,
    Text,
    column_path,
    compile_query,
    filter_fields,
    filter_operators,
    metric_refs,
    parse,
    quote,
    typed_values,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def ctx() -> QueryContext:
    return QueryContext(
        now=NOW,
        probably_dead_after=120,
        config_paths=["config.opt", "config.model.name", "config.lr"],
        custom_columns={"Batch size": "config.batch_size", "acc": "info.accuracy"},
        metric_columns={"best acc": ("max", "val.acc", None), "smooth loss": ("last_avg", "loss", 7)},
    )


# -- parser ------------------------------------------------------------------------------
def test_blank_queries_parse_to_none_and_compile_to_empty(ctx):
    assert parse("") is None
    assert parse("   \t ") is None
    assert compile_query("  ", ctx) == {}


@pytest.mark.parametrize(
    "text, op, raw",
    [
        ("lr == 0.1", "==", "0.1"),
        ("lr = 0.1", "==", "0.1"),
        ("lr != 0.1", "!=", "0.1"),
        ("lr < 1e-3", "<", "1e-3"),
        ("lr <= -2", "<=", "-2"),
        ("lr > .5", ">", ".5"),
        ("lr >= 0.5", ">=", "0.5"),
        ("opt ~ ad", "~", "ad"),
        ("tags has baseline", "has", "baseline"),
        ("model == resnet-50", "==", "resnet-50"),
        ("name == 'a b'", "==", "a b"),
        ('name == "it\\"s"', "==", 'it"s'),
        ("lr>0.1", ">", "0.1"),
        ("start_time > 2026-11-01T10:00", ">", "2026-11-01T10:00"),
    ],
)
def test_comparisons(text, op, raw):
    node = parse(text)
    assert isinstance(node, Compare)
    assert node.op == op
    assert node.value.raw == raw


def test_metric_names_keep_dots_and_spaces():
    node = parse("last_avg(val.loss, 5) < 0.3")
    assert isinstance(node, Compare) and node.name.text == "last_avg(val.loss, 5)"
    node = parse("max(val acc) >= 0.9")
    assert isinstance(node, Compare) and node.name.text == "max(val acc)"


def test_in_not_in_exists_missing():
    node = parse("opt in [adam, 'sgd', 3]")
    assert isinstance(node, InList) and not node.negated
    assert [v.raw for v in node.values] == ["adam", "sgd", "3"]
    assert [v.quoted for v in node.values] == [False, True, False]
    node = parse("opt not in []")
    assert isinstance(node, InList) and node.negated and node.values == ()
    node = parse("info.best exists")
    assert isinstance(node, Exists) and node.present
    node = parse("info.best MISSING")
    assert isinstance(node, Exists) and not node.present


def test_precedence_not_over_and_over_or():
    node = parse("a == 1 or not b == 2 and c == 3")
    assert isinstance(node, Or)
    left, right = node.items
    assert isinstance(left, Compare) and left.name.text == "a"
    assert isinstance(right, And)
    assert isinstance(right.items[0], Not) and isinstance(right.items[1], Compare)
    node = parse("(a == 1 or b == 2) and c == 3")
    assert isinstance(node, And) and isinstance(node.items[0], Or)
    node = parse("not not a exists")
    assert isinstance(node, Not) and isinstance(node.item, Not)


def test_keywords_are_case_insensitive():
    node = parse("a == 1 AND b == 2 Or NOT c == 3")
    assert isinstance(node, Or) and isinstance(node.items[0], And) and isinstance(node.items[1], Not)


def test_free_text_when_there_is_no_operator():
    assert parse("resnet baseline") == Text("resnet baseline", 1)
    assert parse("  things I have in mind ") == Text("things I have in mind", 3)
    assert parse("'a == b'") == Text("a == b", 1)
    node = parse("resnet and lr > 0.1")
    assert isinstance(node, And) and node.items[0] == Text("resnet", 1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("(lr > 1) and b == 2)", "unexpected ')' at column 20"),
        ("a == 'abc", "unterminated string at column 6"),
        ("start_time > ", "expected a value after '>' at column 14"),
        ("lr > and b == 1", "expected a value after '>' at column 6"),
        ("median(loss) > 1", "unknown reducer 'median' (use min, max, last, mean, last_avg) at column 1"),
        ("lr > 1 and", "unexpected end of query at column 11"),
        ("(lr > 1", "unclosed '(' at column 1"),
        ("x in 1", "expected '[' after 'in' at column 6"),
        ("x in [1, 2", "expected ',' or ']' but found end of query at column 11"),
        ("x in [1 2]", "expected ',' or ']' but found '2' at column 9"),
        ("tags has", "expected a value after 'has' at column 9"),
        ("lr > 1 lr", "unexpected 'lr' at column 8"),
        ("lr > 1 and !x", "unexpected '!' (did you mean '!=' or 'not'?) at column 12"),
        ("max(loss", "missing ')' after 'max(' at column 4"),
        ("max(loss) lr", "expected an operator after 'max(loss)' at column 11"),
    ],
)
def test_syntax_errors_name_position_and_problem(ctx, text, message):
    with pytest.raises(QueryError) as err:
        compile_query(text, ctx)
    assert str(err.value) == message
    assert err.value.position == int(message.rsplit(" ", 1)[1])
    assert isinstance(err.value, BadRequest)


@pytest.mark.parametrize(
    "text, message",
    [
        ("a.$where == 1", "invalid column name 'a.$where' ('$' is not allowed) at column 1"),
        ("$where == 1", "invalid column name '$where' ('$' is not allowed) at column 1"),
        ("config..lr == 1", "invalid column name 'config..lr' (empty path segment) at column 1"),
        ("a == 1 and max() > 1", "missing metric name in 'max()' at column 12"),
        ("last_avg(loss, x) > 1", "expected last_avg(metric, N) with a whole number N in 'last_avg(loss, x)' at column 1"),
        ("max(loss, 3) > 1", "max() takes one metric name: 'max(loss, 3)' at column 1"),
        ("last_avg(loss, 500) > 1", "last_avg window must be between 1 and 100 at column 1"),
        ("opt ~ 'a('", "invalid regular expression 'a(': missing ): a( at column 7"),
        ("start_time > yesterday", "expected a date like 2026-11-01 or a relative time like -7d, not 'yesterday' at column 14"),
        ("duration > long", "expected a duration like 30s, 5m, 2h or 1d, not 'long' at column 12"),
        ("lr > null", "cannot compare null with '>' at column 6"),
        ("tags < b", "'<' does not apply to tags (use has, ==, in or ~) at column 8"),
    ],
)
def test_semantic_errors(ctx, text, message):
    with pytest.raises(QueryError) as err:
        compile_query(text, ctx)
    assert str(err.value) == message


def test_too_long_and_too_deep_queries_are_errors(ctx):
    with pytest.raises(QueryError, match="too long"):
        compile_query("a == 1 or " * 3000 + "a == 1", ctx)
    with pytest.raises(QueryError, match="nested too deeply"):
        compile_query("(" * 40 + "a == 1" + ")" * 40, ctx)
    with pytest.raises(QueryError, match="nested too deeply"):
        compile_query("not " * 40 + "a == 1", ctx)


# -- column paths -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, path",
    [
        ("id", "_id"),
        ("experiment", "experiment.name"),
        ("command", "command"),
        ("status", "status"),
        ("start_time", "start_time"),
        ("stop_time", "stop_time"),
        ("heartbeat", "heartbeat"),
        ("duration", "omnidash.duration"),
        ("hostname", "host.hostname"),
        ("result", "result"),
        ("tags", "omniboard.tags"),
        ("notes", "omniboard.notes"),
        ("config.adam.beta1", "config.adam.beta1"),
        ("lr", "config.lr"),
        ("dataset.noise", "config.dataset.noise"),
        ("info.best", "info.best"),
        ("host.os", "host.os"),
        ("meta.comment", "meta.comment"),
        ("experiment.mainfile", "experiment.mainfile"),
        ("omniboard.notes", "omniboard.notes"),
        ("fail_trace", "fail_trace"),
        ("max(val.acc)", "omnidash.metrics.val%2Eacc.max"),
        ("min(loss)", "omnidash.metrics.loss.min"),
        ("mean(loss)", "omnidash.metrics.loss.mean"),
        ("last(train.loss)", "omnidash.metrics.train%2Eloss.last"),
        ("last_avg(loss, 5)", "omnidash.metrics.loss.last_avg_5"),
        ("last_avg(loss)", "omnidash.metrics.loss.last_avg_1"),
        ("max(a$b)", "omnidash.metrics.a%24b.max"),
        ("Batch size", "config.batch_size"),
        ("best acc", "omnidash.metrics.val%2Eacc.max"),
        ("smooth loss", "omnidash.metrics.loss.last_avg_7"),
    ],
)
def test_column_path(ctx, name, path):
    assert column_path(name, ctx) == path


@pytest.mark.parametrize("name", ["", "a..b", "$x", "config.$gt", "median(x)", ".a", "a."])
def test_invalid_column_names(ctx, name):
    with pytest.raises(QueryError):
        column_path(name, ctx)


def test_metric_refs(ctx):
    refs = metric_refs("max(val.acc) > 0.9 and (last_avg(loss, 7) < 1 or 'smooth loss' exists) and lr > 1", ctx)
    assert refs == {("max", "val.acc", None), ("last_avg", "loss", 7)}
    assert metric_refs("'best acc' >= 0.5", ctx) == {("max", "val.acc", None)}
    assert metric_refs("resnet", ctx) == set()
    assert metric_refs("", ctx) == set()


# -- compiled filters -------------------------------------------------------------------
def test_comparisons_compile_to_typed_mongo_operators(ctx):
    assert compile_query("lr == 0.1", ctx) == {"config.lr": {"$eq": 0.1}}
    assert compile_query("lr == '0.1'", ctx) == {"config.lr": {"$eq": "0.1"}}
    assert compile_query("epochs == 10", ctx) == {"config.epochs": {"$eq": 10}}
    assert compile_query("opt == adam", ctx) == {"config.opt": {"$eq": "adam"}}
    assert compile_query("flag == true", ctx) == {"config.flag": {"$eq": True}}
    assert compile_query("flag != null", ctx) == {"config.flag": {"$ne": None}}
    assert compile_query("lr != 1", ctx) == {"config.lr": {"$ne": 1}}
    assert compile_query("lr < 1e-3", ctx) == {"config.lr": {"$lt": 0.001}}
    assert compile_query("lr <= 1", ctx) == {"config.lr": {"$lte": 1}}
    assert compile_query("lr > -2", ctx) == {"config.lr": {"$gt": -2}}
    assert compile_query("lr >= 0.5", ctx) == {"config.lr": {"$gte": 0.5}}
    assert compile_query("opt ~ '^ad'", ctx) == {"config.opt": {"$regex": "^ad", "$options": "i"}}
    assert compile_query("opt in [adam, sgd, 1]", ctx) == {"config.opt": {"$in": ["adam", "sgd", 1]}}
    assert compile_query("opt not in [adam]", ctx) == {"config.opt": {"$nin": ["adam"]}}
    assert compile_query("layers has 64", ctx) == {"config.layers": {"$eq": 64}}
    assert compile_query("info.best exists", ctx) == {
        "$nor": [{"$or": [
            {"info.best": {"$eq": None}},
            {"$and": [{"info.best.py/object": {"$regex": "^numpy\\."}}, {"info.best.value": {"$eq": None}}]},
        ]}]
    }
    assert compile_query("config.x missing", ctx) == {"config.x": {"$eq": None}}
    assert compile_query("id == 5", ctx) == {"_id": {"$eq": 5}}
    assert compile_query("id == lr-0.1-final", ctx) == {"_id": {"$eq": "lr-0.1-final"}}
    assert compile_query("experiment == mnist", ctx) == {"experiment.name": {"$eq": "mnist"}}
    assert compile_query("hostname ~ gpu", ctx) == {"host.hostname": {"$regex": "gpu", "$options": "i"}}
    assert compile_query("max(val.acc) >= 0.9", ctx) == {"omnidash.metrics.val%2Eacc.max": {"$gte": 0.9}}
    assert compile_query("'Batch size' == 32", ctx) == {"config.batch_size": {"$eq": 32}}


def test_logic_compiles_to_and_or_nor(ctx):
    assert compile_query("a == 1 and b == 2", ctx) == {"$and": [{"config.a": {"$eq": 1}}, {"config.b": {"$eq": 2}}]}
    assert compile_query("a == 1 or b == 2", ctx) == {"$or": [{"config.a": {"$eq": 1}}, {"config.b": {"$eq": 2}}]}
    assert compile_query("not a == 1", ctx) == {"$nor": [{"config.a": {"$eq": 1}}]}


def test_dates_durations_and_relative_times(ctx):
    day = datetime(2026, 11, 1, tzinfo=UTC)
    assert compile_query("start_time >= 2026-11-01", ctx) == {"start_time": {"$gte": day}}
    assert compile_query("stop_time < 2026-11-01T10:00", ctx) == {"stop_time": {"$lt": day + timedelta(hours=10)}}
    assert compile_query("heartbeat < 2026-11-01T12:00+02:00", ctx) == {"heartbeat": {"$lt": day + timedelta(hours=10)}}
    assert compile_query("start_time > -7d", ctx) == {"start_time": {"$gt": NOW - timedelta(days=7)}}
    assert compile_query("start_time > -2h", ctx) == {"start_time": {"$gt": NOW - timedelta(hours=2)}}
    assert compile_query("heartbeat < now", ctx) == {"heartbeat": {"$lt": NOW}}
    assert compile_query("duration > 30s", ctx) == {"omnidash.duration": {"$gt": 30.0}}
    assert compile_query("duration > 5m", ctx) == {"omnidash.duration": {"$gt": 300.0}}
    assert compile_query("duration <= 2h", ctx) == {"omnidash.duration": {"$lte": 7200.0}}
    assert compile_query("duration < 1d", ctx) == {"omnidash.duration": {"$lt": 86400.0}}
    assert compile_query("duration > 90", ctx) == {"omnidash.duration": {"$gt": 90}}
    # elsewhere a duration-looking word is just a string, and a date matches datetime or text
    assert compile_query("budget == 5m", ctx) == {"config.budget": {"$eq": "5m"}}
    assert compile_query("day == 2026-11-01", ctx) == {"config.day": {"$in": [day, "2026-11-01"]}}
    assert compile_query("day > 2026-11-01", ctx) == {
        "$or": [{"config.day": {"$gt": day}}, {"config.day": {"$gt": "2026-11-01"}}]
    }


def test_free_text_searches_names_tags_notes_and_config_values(ctx):
    f = compile_query("Res.Net", ctx)
    regex = {"$regex": "Res\\.Net", "$options": "i"}
    assert f == {"$or": [{p: regex} for p in [
        "experiment.name", "omniboard.tags", "config.tags", "omniboard.notes", "meta.comment", "_id",
        "config.opt", "config.model.name", "config.lr",
    ]]}


def test_user_strings_never_become_operators_or_fields(ctx):
    for text in ["lr == '$where'", "lr ~ '$function'", "'$gt' in ['$ne']", "opt == {\"$gt\": 1}", "$where",
                 "x == '; return true'", "notes ~ '$accumulator'"]:
        try:
            f = compile_query(text, ctx)
        except QueryError:
            continue
        assert set(filter_operators(f)) <= ALLOWED_OPERATORS
        assert all(not field.startswith("$") and "" not in field.split(".") for field in filter_fields(f))


ALLOW_LIST_QUERIES = [
    "lr == 0.1", "status == PROBABLY_DEAD", "status != RUNNING", "status in [RUNNING, FAILED]",
    "status not in [COMPLETED]", "status ~ dead", "status ~ 'UNK'", "status exists", "tags has baseline",
    "tags == a", "tags != a", "tags in [a, b]", "tags not in [a]", "tags ~ ^ab", "tags exists",
    "tags missing", "notes ~ bug", "notes == ''", "notes exists", "notes missing", "notes < m",
    "result > 0.5", "result != 1", "result missing", "max(val.acc) > 0.9", "last_avg(loss, 5) < 1",
    "start_time > -7d", "duration > 5m", "not (a == 1 or b ~ x) and c missing", "id in [1, 'x']",
    "resnet", "day >= 2026-01-01", "info.x.y not in [1, 2]",
]


@pytest.mark.parametrize("text", ALLOW_LIST_QUERIES)
def test_filters_use_only_allowed_operators(ctx, text):
    f = compile_query(text, ctx)
    ops = set(filter_operators(f))
    assert ops <= ALLOWED_OPERATORS, ops - ALLOWED_OPERATORS
    assert not ops & {"$where", "$function", "$accumulator", "$expr", "$lookup"}


def test_status_running_excludes_probably_dead(ctx):
    f = compile_query("status == FAILED", ctx)
    assert f == {"status": {"$eq": "FAILED"}}  # plain statuses stay index-friendly
    f = compile_query("status == PROBABLY_DEAD", ctx)
    cutoff = NOW - timedelta(seconds=120)
    assert f == {"$or": [
        {"status": {"$eq": "PROBABLY_DEAD"}},
        {"$and": [
            {"status": {"$eq": "RUNNING"}},
            {"$or": [
                {"heartbeat": {"$lt": cutoff}},
                {"$and": [{"heartbeat": {"$eq": None}}, {"start_time": {"$lt": cutoff}}]},
            ]},
        ]},
    ]}


def test_context_now_may_be_naive():
    ctx = QueryContext(now=datetime(2026, 11, 28, 12, 0))
    assert ctx.now.tzinfo is UTC
    assert compile_query("start_time > -1d", ctx) == {"start_time": {"$gt": datetime(2026, 11, 27, 12, 0, tzinfo=UTC)}}


# -- quoting values (the one quote(), next to the tokenizer) --------------------------------------
TRICKY = ["baseline", "two words", 'say "hi"', "back\\slash", "line\nbreak", "tab\there", "café ☕", "\x01",
          "and", "TRUE", "null", "now", "nan", "inf", "0.1", "-7d", "5m", "2026-11-01", "a-b.c_d", "", " "]


@pytest.mark.parametrize("text", TRICKY)
@pytest.mark.parametrize("bare_words", [True, False])
def test_a_quoted_string_reads_back_as_that_string(text: str, bare_words: bool, ctx) -> None:
    node = parse(f"config.x == {quote(text, bare_words=bare_words)}")
    assert isinstance(node, Compare)
    assert typed_values(node.value, "generic", ctx) == [text]
    assert typed_values(node.value, "text", ctx) == [text]


@pytest.mark.parametrize("value", [0, -3, 2**62, 0.001, -1.5e-300, 1e300, True, False, None, np.int64(7),
                                   np.float64(0.25)])
def test_numbers_bools_and_null_read_back_as_themselves(value, ctx) -> None:
    node = parse(f"config.x == {quote(value)}")
    (read,) = typed_values(node.value, "generic", ctx)
    assert read == value and type(read) is (type(value) if not isinstance(value, np.generic) else type(value.item()))


def test_plain_words_stay_bare_unless_asked() -> None:
    assert quote("baseline") == "baseline" and quote("baseline", bare_words=False) == '"baseline"'
    assert quote("now") == '"now"' and quote("nan") == '"nan"' and quote("café") == '"café"'
    assert math.isfinite(float(quote(0.5)))
