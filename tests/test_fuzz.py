"""Property-based fuzzing of the batch function with records of random shape (issue 19, item 6).

In drop mode nothing raises, every good row is kept, and every kept row comes out exactly as when it is
prepared alone; in error mode only ``SFTPrepError`` is raised.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hf_sftprep import SFTPrepError, SFTPreprocessor

SURROGATES = st.sampled_from(["\ud800", "a\udfffb", "\udc80 tail"])
TEXT = st.one_of(st.text(max_size=12), st.just(""), st.just(" \n"), SURROGATES, st.just("long text " * 3000))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT)
ANY = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                   max_leaves=6)
ROLE = st.one_of(st.sampled_from(["user", "assistant", "system", "tool", "developer", "function", "robot"]), ANY)


def _message(role_key: str, content_key: str):
    return st.one_of(ANY, st.fixed_dictionaries(
        {role_key: ROLE, content_key: st.one_of(TEXT, ANY)},
        optional={"tool_calls": ANY, "name": ANY, "weight": ANY, "reasoning_content": ANY}))


def _good(role_key: str, content_key: str, user: str, assistant: str):
    words = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=20)
    answer = words.filter(lambda s: s.strip())
    turn = st.tuples(words, answer).map(lambda qa: [{role_key: user, content_key: qa[0]},
                                                   {role_key: assistant, content_key: qa[1]}])
    return st.lists(turn, min_size=1, max_size=2).map(lambda turns: [m for t in turns for m in t])


FORMATS = {
    "openai": ("messages", _message("role", "content"), _good("role", "content", "user", "assistant")),
    "sharegpt": ("conversations", _message("from", "value"), _good("from", "value", "human", "gpt")),
}


def _tainted(good, content_key: str):
    """A good conversation with one message's text replaced: empty, blank, huge, or a lone surrogate."""
    def taint(args):
        messages, k, text = args
        messages = [dict(m) for m in messages]
        messages[k % len(messages)][content_key] = text
        return messages

    return st.tuples(good, st.integers(0, 3), st.one_of(SURROGATES, st.sampled_from(["", " \n", "ok" * 20000]))).map(taint)


def _batch(fmt: str):
    column, message, good = FORMATS[fmt]
    content_key = "content" if fmt == "openai" else "value"
    bad = st.one_of(ANY, st.lists(message, max_size=4), _tainted(good, content_key))
    row = st.one_of(good.map(lambda r: (True, r, None)),
                    st.tuples(st.just(False), bad, st.one_of(st.none(), ANY)),
                    st.tuples(st.just(False), good, ANY))  # a good conversation with a random tools value
    rows = st.lists(row, min_size=1, max_size=5)
    return rows.map(lambda rs: ([g for g, _, _ in rs], {column: [r for _, r, _ in rs], "tools": [t for _, _, t in rs]}))


def _row(out, i: int) -> tuple:
    return tuple(out.column(c)[i].as_py() for c in out.column_names)


@pytest.fixture(scope="module")
def preprocessors(smollm):
    return {mode: SFTPreprocessor(smollm, on_invalid=mode, emit_meta=True) for mode in ("drop", "error")}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_item6_fuzz_random_records(preprocessors, fmt):
    @settings(max_examples=100, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_batch(fmt))
    def check(case):
        good, batch = case
        indices = list(range(100, 100 + len(good)))
        out = preprocessors["drop"](batch, indices)  # never raises
        reasons = out.column("drop_reason").to_pylist()
        assert [r for r, g in zip(reasons, good) if g] == [""] * sum(good)
        for i, row in enumerate(indices):
            alone = preprocessors["drop"]({k: [v[i]] for k, v in batch.items()}, [row])
            assert _row(alone, 0) == _row(out, i)
        try:
            preprocessors["error"](batch, indices)
        except SFTPrepError:
            pass

    check()
