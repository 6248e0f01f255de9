"""The sandbox chat templates run in, with its two per-access costs taken out of the common cases.

Chat templates come from the hub and are untrusted code, so they run in jinja2's
``ImmutableSandboxedEnvironment`` (transformers compiles them there). Every ``x.y`` in a template goes
through the sandbox's ``getattr``, and two of its steps dominate a render:

- ``message.role`` on a plain ``dict``: ``getattr(dict, "role")`` raises AttributeError (building the
  exception is the cost) before the sandbox falls back to ``message["role"]``;
- ``loop.first`` and the like: the value is tested for being ``str.format`` and the attribute checked by
  ``is_safe_attribute`` on every access.

:class:`VerdictSandbox` answers both exactly as the sandbox does, and defers to it everywhere else:

- for an object whose type is exactly ``dict`` and a name that is not an attribute of ``dict`` (so the
  sandbox's own ``getattr(obj, name)`` must raise AttributeError), it subscripts at once, with the same
  undefined result when the key is missing;
- on a ``LoopContext``, an attribute whose value is a plain int, bool, str or None (never a bound
  ``str.format``) is returned once its verdict says it is safe;
- ``is_safe_attribute`` verdicts are remembered per (exact type, name) for builtin data types and jinja's
  ``LoopContext``. For those types the verdict depends on nothing else: the sandbox's check reads the
  name, ``isinstance`` tests of the object (fixed by its exact type: builtins and ``LoopContext``
  instances cannot change their class from a template) and never the value.

Anything else (str.format wrapping, callables, every other type) is the sandbox's own code. Compiled only
from an environment that is exactly ``ImmutableSandboxedEnvironment``; any other environment class is
used as it is.
"""

from __future__ import annotations

from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment

_DICT_ATTRIBUTES = frozenset(dir(dict))
_FIXED_TYPES = frozenset({str, dict, list, tuple, int, float, bool, type(None), LoopContext})
_PLAIN_VALUES = frozenset({int, bool, str, type(None)})  # not a method: the sandbox's str.format wrap skips them


class VerdictSandbox(ImmutableSandboxedEnvironment):
    """``ImmutableSandboxedEnvironment`` with the dict fallback taken first and attribute verdicts cached.

    Example:
        >>> from jinja2.sandbox import ImmutableSandboxedEnvironment
        >>> source = "{% for m in messages %}{{ m.role }}{% if not loop.last %},{% endif %}{% endfor %}"
        >>> fast = sandboxed_like(ImmutableSandboxedEnvironment().from_string(source), source)
        >>> fast.render(messages=[{"role": "user"}, {"role": "assistant"}])
        'user,assistant'
    """

    _verdicts: dict

    def getattr(self, obj, attribute):
        kind = type(obj)
        if kind is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except (TypeError, LookupError):
                return self.undefined(obj=obj, name=attribute)
        if kind is LoopContext:  # loop.first, loop.index0, ...: a plain value needs no str.format wrapping
            try:
                value = getattr(obj, attribute)
            except AttributeError:
                return super().getattr(obj, attribute)
            if type(value) in _PLAIN_VALUES and self.is_safe_attribute(obj, attribute, value):
                return value
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj, attr, value) -> bool:
        kind = type(obj)
        if kind not in _FIXED_TYPES:
            return super().is_safe_attribute(obj, attr, value)
        key = (kind, attr)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdicts[key] = super().is_safe_attribute(obj, attr, value)
        return verdict


def sandboxed_like(compiled, source: str):
    """``source`` (the text ``compiled`` was compiled from) compiled again in a :class:`VerdictSandbox`
    copy of its environment (filters, globals, extensions and options shared, as ``Environment.overlay``
    shares them); ``compiled`` itself when its environment is not exactly ``ImmutableSandboxedEnvironment``."""
    env = compiled.environment
    if type(env) is not ImmutableSandboxedEnvironment:
        return compiled
    fast = env.overlay()
    fast.__class__ = VerdictSandbox
    fast._verdicts = {}
    template = fast.from_string(source)
    # a ChainMap of the call's globals over the environment's; every render copies it into a dict, item by
    # item through ChainMap's Python methods. The environment is this private copy, changed by no one.
    template.globals = dict(template.globals)
    return template
