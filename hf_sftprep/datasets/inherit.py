"""Hand a map function to forked ``Dataset.map`` workers without unpickling it in each of them.

With ``num_proc`` workers, ``Dataset.map`` pickles the function into every job, and every worker unpickles
it: for :class:`~.preprocess.SFTPreprocessor` that re-parses the tokenizer's whole description and probes
the template again (2.7-3.7 s per worker for Llama 3 on a loaded 2-core machine, against seconds of work
per worker). Workers are forked after the function exists, so each already holds the parent's object in
memory. :class:`Inherited` pickles as a key plus the ordinary pickle of the function (made once, as bytes):
a worker whose memory has the key (forked from this process) takes the object it inherited, with its
probed template, verified shapes and tokenizer backend; any other process (spawned workers, another
machine) unpickles the bytes, which is what ``Dataset.map`` does without the wrapper.

Only for maps whose fingerprint is given (``prepare()`` computes its own): ``datasets`` hashes an
unfingerprinted function through its pickle, and this pickle holds a per-process key.
"""

from __future__ import annotations

import os
import pickle
import uuid
from contextlib import contextmanager

# key -> the live function, for the duration of one map (see :func:`inherited`)
_LIVE: dict[str, object] = {}


class Inherited:
    """A picklable wrapper around a map function ``fn`` that forked workers take from memory.

    Example:
        >>> import pickle
        >>> with inherited(len) as fn:
        ...     pickle.loads(pickle.dumps(fn)).fn is len   # this process has the key: the same object
        True
    """

    def __init__(self, fn, key: str | None = None, payload: bytes | None = None):
        self.fn = fn
        self.key = key or f"{os.getpid()}-{uuid.uuid4().hex}"
        self._payload = payload

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __reduce__(self):
        if self._payload is None:  # once per map, not once per job
            try:
                self._payload = pickle.dumps(self.fn)
            except Exception:  # noqa: BLE001 - what plain pickle refuses (a lambda inside), dill (datasets' pickler) takes
                import dill

                self._payload = dill.dumps(self.fn)
        return _restore, (self.key, self._payload)


def _restore(key: str, payload: bytes) -> Inherited:
    fn = _LIVE.get(key)
    return Inherited(pickle.loads(payload) if fn is None else fn, key, payload)


@contextmanager
def inherited(fn):
    """``fn`` wrapped in :class:`Inherited` and registered for forked workers until the block ends."""
    wrapper = Inherited(fn)
    _LIVE[wrapper.key] = fn
    try:
        yield wrapper
    finally:
        _LIVE.pop(wrapper.key, None)
