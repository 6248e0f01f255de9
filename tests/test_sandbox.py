"""templates/sandbox.py: the cached-verdict sandbox behaves exactly as jinja's ImmutableSandboxedEnvironment.

Each template runs twice, in the plain sandbox and in the VerdictSandbox copy, and must give the same text or
the same exception type: escape attempts, mutation attempts, str.format, dict keys named like dict methods,
private names, missing keys, random attribute names (hypothesis) and every TRL zoo and published family
template over random conversations.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment
from transformers.utils.chat_template_utils import _compile_jinja_template

from hf_sftprep.templates.sandbox import VerdictSandbox, sandboxed_like
from hf_sftprep.testing.families import FAMILIES
from hf_sftprep.testing.zoo import ZOO_FAMILIES
from helpers import random_conversation

ESCAPES = [
    "{{ m.__class__ }}",
    "{{ m.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ m.__init__.__globals__ }}",
    "{{ loop_free.__class__ }}",
    "{{ 'x'.format.__globals__ }}",
    "{{ '{0.__class__}'.format(m) }}",
    "{{ '{0.role}'.format(m) }}",
    "{{ '{role}'.format_map(m) }}",
    "{{ m.pop('role') }}",
    "{{ m.update({'a': 1}) }}",
    "{{ m.setdefault('z', 1) }}",
    "{{ messages.append(1) }}",
    "{{ messages.clear() }}",
    "{{ m.items() | list }}",
    "{{ m.keys }}",
    "{{ m.get('role') }}",
    "{{ m.items }}",
    "{{ m.copy() }}",
    "{{ m._private }}",
    "{{ m.__private }}",
    "{{ m.missing }}",
    "{{ m.missing is defined }}",
    "{{ m.role.upper() }}",
    "{{ m.role.__class__ }}",
    "{{ m.role._x }}",
    "{% for x in messages %}{{ loop.index0 }}{{ loop.first }}{{ loop.__class__ }}{{ loop._iterator }}{% endfor %}",
    "{% for x in messages %}{{ loop.cycle('a', 'b') }}{{ loop.revindex }}{% endfor %}",
    "{{ namespace(a=1).a }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ self.__init__ }}",
    "{{ range.__self__ }}",
    "{{ (1).__class__ }}",
    "{{ (1).real }}",
    "{{ none.__class__ }}",
    "{{ [1].__class__ }}",
    "{{ (1, 2).count(1) }}",
    "{{ m.role.format_map(m) }}",
    "{{ dict(a=1).a }}",
    "{{ raise_exception('no') }}",
]
RECORD = {"role": "user", "content": "hi", "items": "shadowed", "keys": "k", "_private": "p", "__private": "pp",
          "get": "g", "pop": "x"}


def outcome(template, **kwargs):
    try:
        return "ok", template.render(**kwargs)
    except Exception as err:  # noqa: BLE001 - the exception type is the behaviour compared
        return "error", type(err).__name__


def both(source: str):
    plain = _compile_jinja_template(source)
    fast = sandboxed_like(plain, source)
    assert isinstance(fast.environment, VerdictSandbox) and fast is not plain
    return plain, fast


@pytest.mark.parametrize("source", ESCAPES)
def test_escape_and_mutation_attempts_behave_as_in_the_sandbox(source):
    plain, fast = both(source)
    kwargs = {"m": dict(RECORD), "messages": [dict(RECORD), {"role": "assistant", "content": "yo"}]}
    want = outcome(plain, **kwargs)
    assert outcome(fast, **kwargs) == want
    assert outcome(fast, **kwargs) == want  # again, with the verdicts cached


def test_the_sandbox_still_refuses():
    """Not only equal: the refusals are there (a broken copy that allowed everything would differ above, but
    pin the key ones)."""
    _, fast = both("{{ m.pop('role') }}")
    assert outcome(fast, m=dict(RECORD)) == ("error", "SecurityError")
    _, fast = both("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    assert outcome(fast) == ("error", "SecurityError")
    _, fast = both("{{ '{0.__class__}'.format(m) }}")
    assert outcome(fast, m={}) == ("ok", "")  # the class is not leaked through str.format
    _, fast = both("{{ m.items }}|{{ m.role }}|{{ m.nope }}|{{ m._private }}")
    text = outcome(fast, m=dict(RECORD))[1]
    assert text.startswith("<built-in method items of dict object") and text.endswith("|user||p")


NAMES = st.one_of(st.sampled_from(sorted(dir(dict)) + ["role", "content", "_x", "__x", "mro"]),
                  st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True))


@settings(max_examples=150, deadline=None)
@given(name=NAMES, keys=st.lists(NAMES, max_size=4), value=st.sampled_from(["v", 1, None, [1], {"a": 1}]))
def test_attribute_access_on_records_is_the_sandboxes(name, keys, value):
    """``x.<name>`` on a dict (holding keys that may shadow dict methods), a str, a list and a loop."""
    source = (f"{{{{ d.{name} }}}}|{{{{ s.{name} is defined }}}}|{{{{ l.{name} is defined }}}}"
              f"{{% for x in l %}}{{{{ loop.{name} is defined }}}}{{% endfor %}}")
    plain, fast = both(source)
    kwargs = {"d": {k: value for k in keys}, "s": "text", "l": [1, 2]}
    assert outcome(fast, **kwargs) == outcome(plain, **kwargs)


def test_other_environments_are_left_alone():
    source = "{{ m.role }}"
    for env in (SandboxedEnvironment(), type("Custom", (ImmutableSandboxedEnvironment,), {})()):
        compiled = env.from_string(source)
        assert sandboxed_like(compiled, source) is compiled


def test_the_copy_shares_filters_and_globals_and_leaves_the_original():
    source = "{{ m | tojson }}{{ raise_exception is defined }}{{ strftime_now is defined }}"
    plain, fast = both(source)
    assert fast.render(m={"a": "é"}) == plain.render(m={"a": "é"}) == '{"a": "é"}TrueTrue'
    assert type(plain.environment) is ImmutableSandboxedEnvironment  # transformers' cached template untouched


def _sources() -> dict[str, str]:
    out = {}
    for name, fam in ZOO_FAMILIES.items():
        out[f"zoo:{name}"] = fam.template_text()
        if fam.twin_text():
            out[f"zoo:{name}:twin"] = fam.twin_text()
    for name, fam in FAMILIES.items():
        texts = fam.chat_template()
        for key, text in (texts.items() if isinstance(texts, dict) else [("default", texts)]):
            out[f"family:{name}:{key}"] = text
    return out


SOURCES = _sources()


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_every_known_template_renders_identically(name):
    plain, fast = both(SOURCES[name])
    rng = random.Random(name)
    for _ in range(12):
        messages = random_conversation(rng)
        for gen in (False, True):
            kwargs = {"messages": messages, "add_generation_prompt": gen, "bos_token": "<s>", "eos_token": "</s>"}
            assert outcome(fast, **kwargs) == outcome(plain, **kwargs)
