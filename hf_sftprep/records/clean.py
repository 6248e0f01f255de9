"""Undo what Arrow does to nested records: keys it added with ``None`` values. Pure Python."""

from __future__ import annotations


def drop_none(value: object) -> object:
    """Return ``value`` with every dict key whose value is ``None`` removed, at any depth.

    Arrow stores a list of structs with one unified schema, so a row read back from a ``datasets``
    table carries ``None`` for every key that another row had: ``"tool_calls": None`` on a plain
    message, and the other tools' property names inside each tool's ``parameters.properties``.
    Templates test ``message.tool_calls is defined`` and render tools with ``tojson``, so the keys
    must go before rendering. List items are kept in place (a ``None`` item stays) so that the
    indices named in errors match the record.

    Example:
        >>> drop_none({"role": "user", "content": "hi", "tool_calls": None, "x": [{"a": 1, "b": None}]})
        {'role': 'user', 'content': 'hi', 'x': [{'a': 1}]}
    """
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value]
    return value


def prune_by_features(value: object, feature: object) -> object:
    """``value`` with the ``None`` values Arrow may have added removed, and every other ``None`` kept.

    A struct column (``{"a": Value(...), ...}``) stores every key of the unified schema, so a ``None``
    there may be Arrow's: it is dropped. Below a ``Json`` feature (what ``datasets`` 5 gives nested
    records of differing keys, ``load_dataset("json")``'s usual type for ``messages``) values are stored
    as written, so a ``None`` there is the user's (``"default": null`` in a tool schema, a null argument)
    and is kept, as ``apply_chat_template`` would render it.

    Example:
        >>> from datasets import Json, List, Value
        >>> prune_by_features([{"role": "user", "tool_calls": None}], List({"role": Value("string"), "tool_calls": Value("null")}))
        [{'role': 'user'}]
        >>> prune_by_features({"a": None}, Json())
        {'a': None}
    """
    if isinstance(feature, dict):  # a struct
        if not isinstance(value, dict):
            return value
        return {k: prune_by_features(v, feature.get(k)) for k, v in value.items() if v is not None}
    inner = getattr(feature, "feature", None)  # List / Sequence / LargeList
    if inner is not None and isinstance(value, list):
        return [prune_by_features(v, inner) for v in value]
    if feature is None or type(feature).__name__ == "Json" or not isinstance(value, (dict, list)):
        return value  # Json, or a key the features do not describe: as written
    return drop_none(value)


def needs_pruning(feature: object) -> bool:
    """Whether :func:`prune_by_features` can change a value of ``feature`` beyond what every reader drops
    anyway (``None`` keys of a message itself): a struct nested in a struct, at any list depth."""
    inner = getattr(feature, "feature", None)
    if inner is not None:
        return needs_pruning(inner)
    if isinstance(feature, dict):
        return any(isinstance(f, dict) or getattr(f, "feature", None) is not None for f in feature.values())
    return False
