"""Where a chat template reads message text for more than writing it out.

A template that only writes message text (perhaps through ``trim``) renders every conversation of one
shape the same way up to the text itself, so one sentinel conversation per shape stands for all of them
(``datasets/verify.py``). A template that *tests* the text does not: SmolLM3 switches its reasoning mode
on ``"/no_think" in system_message``, Qwen3 splits answers on ``'</think>' in content``, others compare
``startswith``, ``length`` or split results. Such a template's rows are each checked on their own text.

The analysis follows message text through the jinja2 AST: from a text field (``content``,
``reasoning_content``, ...) of anything, through ``set`` and ``for`` targets and string operations, to
the places that read it. Writing it out, concatenating it, ``trim``/``strip``/``tojson``/``string``, and
the tests the shape key already separates (truthiness, ``is defined``, ``is none``, ``is string``, ...)
are not reads; every other use is. Unknown constructs count as reads, so the answer errs towards
checking rows.

Example:
    >>> text_reads("{% for m in messages %}{{ m.content | trim }}{% endfor %}")
    []
    >>> text_reads("{% if '/no_think' in messages[0].content %}x{% endif %}")
    ["line 1: Compare on 'content'"]
"""

from __future__ import annotations

from jinja2 import Environment, nodes
from jinja2.exceptions import TemplateSyntaxError
from jinja2.ext import Extension

TEXT_FIELDS = frozenset({"content", "reasoning_content", "thinking", "reasoning"})
# what only writes the text, or normalizes the edge whitespace the shape key keeps
_WRITING_FILTERS = frozenset({"trim", "tojson", "string", "safe", "e", "escape", "forceescape"})
_WRITING_METHODS = frozenset({"strip", "lstrip", "rstrip"})
# tests whose answer the shape key already fixes (type and presence; emptiness is its own shape)
_SHAPE_TESTS = frozenset({"defined", "undefined", "none", "string", "mapping", "sequence", "iterable",
                          "number", "boolean", "true", "false", "integer", "float"})


def _field(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None


class _Taint:
    """Names bound to message text, found by repeating the pass until no new name is found."""

    def __init__(self, tree: nodes.Template):
        self.names: set[str] = set()
        while True:
            before = len(self.names)
            for node in tree.find_all((nodes.Assign, nodes.For, nodes.AssignBlock)):
                value = node.iter if isinstance(node, nodes.For) else getattr(node, "node", None)
                if isinstance(node, nodes.AssignBlock):
                    value = node  # a {% set x %}...{% endset %} block holds text if its body writes any
                if value is not None and self.holds_text(value):
                    self.names.update(_targets(node.target))
            if len(self.names) == before:
                return

    def holds_text(self, node: nodes.Node) -> bool:
        if _field(node) in TEXT_FIELDS:
            return True
        if isinstance(node, nodes.Name):
            return node.name in self.names
        if isinstance(node, nodes.NSRef):
            return f"{node.name}.{node.attr}" in self.names
        if isinstance(node, (nodes.Test, nodes.Compare, nodes.Not)):
            return False  # a boolean: what it tested is judged where the test is
        return any(self.holds_text(child) for child in node.iter_child_nodes())


def _targets(target: nodes.Node) -> set[str]:
    if isinstance(target, nodes.Name):
        return {target.name}
    if isinstance(target, nodes.NSRef):
        return {f"{target.name}.{target.attr}"}
    return {n.name for n in target.find_all(nodes.Name)}


def _reads(node: nodes.Node, taint: _Taint, out: list[str]) -> None:
    """Append a description of every place under ``node`` that reads text beyond writing it."""

    def note(kind: str, at: nodes.Node, sub: nodes.Node) -> None:
        name = _field(sub) or getattr(sub, "name", None) or type(sub).__name__
        out.append(f"line {at.lineno}: {kind} on {name!r}")

    def text(n):
        return n is not None and taint.holds_text(n)

    for n in node.find_all((nodes.Compare, nodes.Test, nodes.Filter, nodes.Call, nodes.Getitem, nodes.Slice,
                            nodes.For, nodes.If, nodes.CondExpr)):
        if isinstance(n, nodes.Compare):
            for sub in [n.expr] + [op.expr for op in n.ops]:
                if text(sub):
                    note("Compare", n, sub)
        elif isinstance(n, nodes.Test):
            if n.name not in _SHAPE_TESTS and text(n.node):
                note(f"test '{n.name}'", n, n.node)
        elif isinstance(n, nodes.Filter):
            if n.name not in _WRITING_FILTERS and text(n.node):
                note(f"filter '{n.name}'", n, n.node)
            elif n.name == "trim" and text(n.node) and not _whitespace_args(n):
                note("filter 'trim' with characters", n, n.node)
        elif isinstance(n, nodes.Call):
            callee = n.node
            if isinstance(callee, nodes.Getattr) and text(callee.node) and callee.attr not in _WRITING_METHODS:
                note(f"method '{callee.attr}'", n, callee.node)
            elif isinstance(callee, nodes.Getattr) and text(callee.node) and not _whitespace_args(n):
                note(f"method '{callee.attr}' with characters", n, callee.node)
            elif any(text(a) for a in list(n.args) + [k.value for k in n.kwargs]) and not (
                isinstance(callee, nodes.Getattr) and callee.attr in _WRITING_METHODS
            ):
                note("call with", n, next(a for a in list(n.args) + [k.value for k in n.kwargs] if text(a)))
        elif isinstance(n, nodes.Getitem):
            if text(n.node) and _field(n) not in TEXT_FIELDS:
                note("subscript", n, n.node)
        elif isinstance(n, nodes.For):
            if text(n.iter):
                note("loop over", n, n.iter)
        elif isinstance(n, (nodes.If, nodes.CondExpr)):
            test = n.test
            if text(test) and not _bare(test):
                note("condition", n, test)


def _whitespace_args(call: nodes.Filter | nodes.Call) -> bool:
    """No arguments, or only constant whitespace: a strip that removes edge whitespace alone (the shape keeps it);
    ``strip('.')`` removes text."""
    args = list(call.args) + [k.value for k in call.kwargs]
    return all(isinstance(a, nodes.Const) and isinstance(a.value, str) and (a.value == "" or a.value.isspace())
               for a in args) and call.dyn_args is None and call.dyn_kwargs is None


def _bare(test: nodes.Node) -> bool:
    """A truthiness test of the text itself (``{% if message.content %}``): emptiness, which the shape keeps."""
    while isinstance(test, nodes.Not):
        test = test.node
    if isinstance(test, (nodes.And, nodes.Or)):
        return _bare(test.left) and _bare(test.right)
    if isinstance(test, (nodes.Test, nodes.Compare)):
        return True  # judged as a test or a comparison on its own
    return isinstance(test, (nodes.Name, nodes.Getattr, nodes.Getitem, nodes.NSRef))


class _Generation(Extension):
    """``{% generation %}...{% endgeneration %}`` (transformers' training tag) parsed as its body."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


def text_reads(source: str) -> list[str]:
    """Where ``source`` reads message text beyond writing it out (empty: the template never does).

    A template that does not parse counts as reading text everywhere.
    """
    try:
        tree = Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do", _Generation]).parse(source)
    except TemplateSyntaxError as err:
        return [f"the template does not parse here ({err}); every row is checked"]
    out: list[str] = []
    _reads(tree, _Taint(tree), out)
    return sorted(set(out), key=lambda s: (int(s.split(":")[0].split()[1]), s))
