"""An optional fast tokenizer backend (fastokens), used only where it gives exactly the HF backend's ids.

``fastokens`` loads the same ``tokenizer.json`` and encodes a batch straight into one flat ``uint32``
buffer plus offsets: 35x faster than HF ``encode_batch_fast`` on 20k Llama 3 chats, 29x on Qwen2.5. Its
README says some normalizers and pre-tokenizers are missing, so before it encodes anything for a tokenizer
it must reproduce the HF ids on a probe set of what breaks tokenizers (every added and special token alone
and in context, unicode edge cases, runs of whitespace and digits, code, CJK) and on the first rows of the
batch; every later batch's first row is checked again. Any difference, error or missing piece means the HF
backend, with the reason logged once per tokenizer and process.

Only whole texts without offsets go through it: the exact character path needs offsets (HF only).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..errors import SFTPrepError
from ..options import Backend, choices
from .encode import hf_ids

logger = logging.getLogger("hf_sftprep")

BACKENDS = choices(Backend)
# HF_SFTPREP_BACKEND=hf makes "auto" mean "hf" in this process and its workers: runs the whole test suite
# (or a production job) on the HF backend without touching any call site
ENV = "HF_SFTPREP_BACKEND"

# Lone surrogates are absent on purpose: neither backend can encode them (HF raises TypeError, fastokens
# UnicodeEncodeError) and Arrow strings cannot hold them, so no dataset row can contain one.
UNICODE_PROBES = [
    "e\u0301 a\u0300\u0301\u0302 n\u0303o\u0308 Z\u0335\u0321\u0322a\u0334\u0327lgo",  # combining marks, stacked
    "caf\u00e9 vs cafe\u0301, \u212b vs \u00c5, \ufb01ne \u2460 \u00bd x\u00b2",  # NFC/NFD/NFKC-sensitive
    "\U0001f642 \U0001f468\u200d\U0001f469\u200d\U0001f467 \U0001f44d\U0001f3fd \U0001f1fa\U0001f1f8 \u2764\ufe0f",
    "zero\u200bwidth\u200c\u200djoin\ufeffbom \u2060wj \u00a0nbsp \u3000ideo \u2028ls \u2029ps",
    "\u202eRTL\u202c \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u05e2\u05d1\u05e8\u05d9\u05ea \u0939\u093f\u0928\u094d\u0926\u0940 \u0e44\u0e17\u0e22",
    "\x00nul \x01\x7f\x1b[0m ctrl \r\n crlf \r cr \x0b\x0c \x85nel",
    "\U0001d400\U0001d7d8 \U00010348 \U0010ffff \ufffd \u0000end",
]
TEXT_PROBES = [
    "中文字符测试，标点符号。日本語のテキスト、カタカナ、ひらがな。한국어 텍스트입니다!",
    "ＦＵＬＬ　ＷＩＤＴＨ １２３ ｶﾀｶﾅ",
    "def f(x):\n    return {'a': [1, 2, 3]}  # comment\n\n\tif x:\n\t\tpass\n",
    '{"key": "value", "n": 12.5e-3, "arr": [true, null]}\n<div class="x">&amp;</div>\n#include <stdio.h>\nint main(){return 0;}',
    "I'm, you're, he's, we'll, they'd, I've, DON'T, 'S 'T 'RE 'VE 'M 'LL 'D",
    "Numbers: 1 12 123 1234 12345 123456 1,234,567.89 -0.5 3.14159265358979 1e10 0x1F 007",
    "12345678901234567890" * 12,
    "0" * 257 + " " + "9" * 100,
    " " * 300 + "x" + "\n" * 64 + "y" + "\t" * 40 + "z" + " \n" * 50,
    "a" + " " * 17 + "b" + "  \n  " * 20 + "\n\n\n\n\n\n\n" + "   end   ",
    "word" * 200 + " " + "ab" * 500,
]
CONTEXTS = ["{t}", "a{t}b", " {t} ", "  {t}  x", "\n{t}\n", "x\t{t}\ty", "Hello{t} world {t}{t}\n\n{t}  end"]


def probe_texts(tokenizer) -> list[str]:
    """The probe strings for one tokenizer: the fixed probes, then every added token in each context."""
    added = [t.content for t in tokenizer.added_tokens_decoder.values()] if hasattr(tokenizer, "added_tokens_decoder") else []
    texts = UNICODE_PROBES + TEXT_PROBES
    texts += [c.replace("{t}", t) for t in added for c in CONTEXTS]
    if added:  # every added token in one string, and mixed into the unicode probes
        texts.append(" ".join(added))
        texts += [u + added[i % len(added)] + " " + u for i, u in enumerate(UNICODE_PROBES)]
    return texts


@dataclass(frozen=True)
class Choice:
    """Which backend encodes, and why not the fast one (``reason`` is "" when it does)."""

    backend: str  # "fastokens" or "hf"
    reason: str = ""


# per process, by the sha256 of the tokenizer's serialization: {"result": (fastokens.Tokenizer or None, Choice)}
# once built. Module level so that every Encoder of one tokenizer shares one build, and forked Dataset.map
# workers inherit a finished one. The build (~1.2-1.6 s for Llama 3 unloaded, 3-7 s on a loaded 2-core machine)
# runs on a thread. fastokens 0.3.5's from_json_str releases the GIL (a Python loop on the main thread ran at
# 1.00x its speed beside it, measured on an idle machine), so prepare() renders the first batches meanwhile
# (datasets/ahead.py); encoding them through HF instead would take the build's core (HF encodes ~10x slower).
# Serializing the tokenizer for it (to_str) does hold the GIL, hence FAST_MIN_ROWS.
_BUILT: dict[str, dict] = {}
# the reason given when a small dataset was encoded before the build finished: timing, not a refusal
STILL_BUILDING = "the fast backend was still being built"
# Below this many rows, "auto" encodes with HF instead of building fastokens (unless this process already
# built it for the tokenizer). The build is not free beside the map: serializing the tokenizer (to_str, 0.4 s
# for Llama 3) and fastokens' from_json_str (3.2 s alone on this loaded 2-core machine) hold the GIL most
# of the time (a Python loop on the main thread ran at 17% of its speed while the build ran). prepare() on
# Llama 3 chats, backend="hf" vs "auto" with the build, side by side (benchmarks/backends.py --plan
# threshold, median of 3, load average 5-8 on 2 cores): 1k rows 1.43 s vs 2.80 s, 2k 3.13 vs 5.96,
# 4k 8.93 vs 9.27, 8k 9.59 vs 11.13; at 20k the build wins (21.3 s vs 13.2 s, docs/benchmarks.md). On an
# idle machine (same plan, build forced): 4k 2.03 vs 2.62 s (HF wins), 8k 3.74 vs 3.01, 12k 4.68 vs 3.42 (the
# build wins). 10k is above the break-even point of both.
FAST_MIN_ROWS = 10_000
SMALL_DATASET = "the dataset is small"
# fastokens' own cache of the text segments between added tokens (system prompts, tool lists, headers repeat
# across rows and batches). On 1,000 seed-shaped rows (a ~2.5k-token system prompt on each) whole texts
# encoded in 0.010-0.012 s with it warm, 0.035-0.039 s without, and 0.043-0.068 s through the piece dedupe;
# on 1,000 ordinary chats, cold, 0.054 s vs 0.048 s (ids identical in every case). So with fastokens the
# piece dedupe is skipped (tokens/encode.py) and this cache does its job.
SEGMENT_CACHE_BYTES = 64 << 20


def _start_build(tokenizer, serialized: str) -> dict:
    key = _digest(serialized)
    slot = _BUILT.get(key)
    if slot is None:
        slot = _BUILT[key] = {}

        def work():
            result = _build(tokenizer, serialized)
            _log(result[1])
            slot["result"] = result

        # not a daemon: a daemon thread killed inside the Rust build at interpreter exit aborts the process
        # ("FATAL: exception not rethrown"); exit waits for the build instead (at most its ~1-3 s)
        slot["thread"] = threading.Thread(target=work, name="hf_sftprep-fastokens-build", daemon=False)
        slot["thread"].start()
    return slot


def _finished(tokenizer, serialized: str | None = None) -> bool:
    """Whether this process has a finished build for the tokenizer (then even a small dataset uses it); the
    tokenizer is serialized for the key only when some build finished and ``serialized`` is not given."""
    if not any("result" in slot for slot in _BUILT.values()):
        return False
    return "result" in _BUILT.get(_digest(serialized or _serialized(tokenizer)), {})


def _forget_unfinished() -> None:
    """In a forked child the build thread is gone: an unfinished build starts again there."""
    for key in [k for k, slot in _BUILT.items() if "result" not in slot]:
        del _BUILT[key]


os.register_at_fork(after_in_child=_forget_unfinished)


def _fast_encode(fast, texts: list[str]) -> pa.ListArray:
    if not texts:
        return pa.array([], type=pa.list_(pa.int32()))
    ids, offsets = fast.encode_batch_flat(texts, add_special_tokens=False)
    values = np.frombuffer(ids, dtype="<u4").view(np.int32)
    return pa.ListArray.from_arrays(pa.array(np.frombuffer(offsets, dtype="<u8").astype(np.int32)), pa.array(values))


def _differs(fast, tokenizer, texts: list[str]) -> str:
    """"" when fastokens gives the HF ids on every text; else the first text that differs, as a reason."""
    want = hf_ids(tokenizer, texts)
    try:
        got = _fast_encode(fast, texts)
    except Exception as err:  # noqa: BLE001 - a text fastokens cannot encode is a difference too
        return f"fastokens cannot encode a text the HF tokenizer encodes: {type(err).__name__}: {err}"[:300]
    if got.equals(want):
        return ""
    got_rows, want_rows = got.to_pylist(), want.to_pylist()
    i = next(i for i, (a, b) in enumerate(zip(got_rows, want_rows)) if a != b)
    return f"fastokens gives different ids than the HF tokenizer on {texts[i][:60]!r}: {got_rows[i][:8]} vs {want_rows[i][:8]}"


def _build(tokenizer, serialized: str) -> tuple[object, Choice]:
    """Build fastokens from the tokenizer's ``serialized`` description (already made for the key: a second
    ``to_str`` would hold the GIL another 0.4 s for Llama 3) and check it on the probe set (the HF backend
    when anything fails)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None, Choice("hf", "the tokenizer is not a fast (Rust) tokenizer")
    if backend.truncation is not None or backend.padding is not None:
        return None, Choice("hf", "the tokenizer has truncation or padding configured on its backend")
    try:
        import fastokens
    except ImportError:
        return None, Choice("hf", "fastokens is not installed (pip install 'hf-sftprep[fast]')")
    try:
        fast = fastokens.Tokenizer.from_json_str(serialized)
        if hasattr(fast, "enable_segment_cache"):  # before the probes, so that they check what will encode
            fast.enable_segment_cache(SEGMENT_CACHE_BYTES)
        reason = _differs(fast, tokenizer, probe_texts(tokenizer))
    except Exception as err:  # noqa: BLE001 - an unsupported component is one of many exception types
        return None, Choice("hf", f"fastokens cannot load or encode this tokenizer: {type(err).__name__}: {err}"[:300])
    return (None, Choice("hf", reason)) if reason else (fast, Choice("fastokens"))


def _serialized(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend.to_str() if backend is not None else repr(type(tokenizer))


def _digest(serialized: str) -> str:
    return hashlib.sha256(serialized.encode()).hexdigest()


class Encoder:
    """Encode whole texts (no special tokens added) with fastokens where it is verified, else with HF.

    Picklable: only the tokenizer and the option travel; the fast backend is built lazily per process and
    shared by every Encoder of the same tokenizer. Ids are identical either way, so nothing about the
    choice belongs in a cache key.

    Example (SmolLM2):
        >>> enc = Encoder(tok)
        >>> enc.decide(["hello there"])  # else the first batches encode through HF while it builds
        Choice(backend='fastokens', reason='')
        >>> enc(["hi", "hello there"]).to_pylist()
        [[6004], [28120, 665]]
    """

    def __init__(self, tokenizer, backend: Backend = "auto"):
        self.tokenizer = tokenizer
        self.backend = backend
        self._fast = None
        self._choice: Choice | None = Choice("hf", "backend='hf' was requested") if backend == "hf" else None
        forced = os.environ.get(ENV, "")
        if forced and forced not in BACKENDS:
            raise SFTPrepError(f"{ENV}={forced!r} is not supported; expected one of {', '.join(map(repr, BACKENDS))}, or unset.")
        if backend == "auto" and forced == "hf":
            self._choice = Choice("hf", f"{ENV}=hf is set")
        self._slot: dict | None = None
        self._unfinished = False

    def __getstate__(self):
        return {"tokenizer": self.tokenizer, "backend": self.backend}

    def __setstate__(self, state):
        self.__init__(state["tokenizer"], state["backend"])

    def decide(self, first_rows: list[str], wait: bool = True, rows: int | None = None) -> Choice | None:
        """Start the fast backend's build and check (once per tokenizer and process); once built, check it
        on ``first_rows`` and fix the choice. ``wait=False`` returns None while the build is running.
        ``rows``, the number of rows about to be encoded, skips the build below :data:`FAST_MIN_ROWS`."""
        if self._choice is not None:
            return self._choice
        if self._slot is None:
            self.plan(rows)
            if self._choice is not None:
                return self._choice
        if wait:
            self._slot["thread"].join()
        if "result" not in self._slot:
            return None
        fast, choice = self._slot["result"]
        if fast is not None and first_rows:
            reason = _differs(fast, self.tokenizer, first_rows)
            if reason:
                fast, choice = self._fall_back(reason)
        self._fast, self._choice = fast, choice
        return choice

    def plan(self, rows: int | None, serialized: str | None = None) -> None:
        """Before anything is encoded: with ``rows`` below :data:`FAST_MIN_ROWS` fix the HF backend (unless
        this process already built fastokens for the tokenizer), else start the build. ``serialized`` is
        the tokenizer's ``backend_tokenizer.to_str()`` when the caller already made it (it costs ~0.25 s
        for Llama 3 and holds the GIL). Calling it first matters: the shape check of the first rows encodes
        one text, and an undecided encoder would start the build for a small dataset there."""
        if self._choice is not None or self._slot is not None:
            return
        if rows is not None and rows < FAST_MIN_ROWS and not _finished(self.tokenizer, serialized):
            self._choice = Choice("hf", f"{SMALL_DATASET} ({rows} rows < {FAST_MIN_ROWS}): building fastokens would cost more than it saves")
            _log(self._choice)
            return
        self._slot = _start_build(self.tokenizer, serialized or _serialized(self.tokenizer))

    def building(self) -> bool:
        """Whether the fast backend's build is running and no choice is made yet (prepare() renders the
        first batches meanwhile: the build releases the GIL, rendering holds it)."""
        return self._choice is None and self._slot is not None and "result" not in self._slot

    def _fall_back(self, reason: str) -> tuple[None, Choice]:
        choice = Choice("hf", reason)
        self._slot["result"] = (None, choice)
        _log(choice)
        self._fast, self._choice = None, choice
        return None, choice

    def __call__(self, texts: list[str]) -> pa.ListArray:
        if self._choice is None:
            if self.decide(texts[:8], wait=False) is None:
                self._unfinished = True
                return hf_ids(self.tokenizer, texts)  # identical ids; the build is not finished yet
        elif self._fast is not None and texts:
            reason = _differs(self._fast, self.tokenizer, texts[:1])  # each later batch's first row
            if reason:
                self._fall_back(reason)
        if self._fast is None:
            return hf_ids(self.tokenizer, texts)
        try:
            return _fast_encode(self._fast, texts)
        except Exception as err:  # noqa: BLE001 - fastokens refuses text the HF tokenizer encodes (a byte it has no token for)
            self._fall_back(f"fastokens cannot encode a row the HF tokenizer encodes: {type(err).__name__}: {err}"[:300])
            return hf_ids(self.tokenizer, texts)

    @property
    def fast(self) -> bool:
        """Whether batches now encode through fastokens (whose segment cache replaces the piece dedupe)."""
        return self._fast is not None

    @property
    def choice(self) -> Choice | None:
        """The backend in use; None before the first call. Rows encoded before the build finished went
        through HF: then, until it finishes, the choice says so."""
        if self._choice is None and self._unfinished:
            return Choice("hf", STILL_BUILDING + " when the rows were encoded (small dataset)")
        return self._choice


def _log(choice: Choice) -> None:
    if choice.backend == "fastokens":
        logger.info("hf_sftprep: tokenizing with fastokens (ids checked identical to the HF tokenizer on the probe set)")
    elif choice.reason.startswith(("fastokens is not installed", "backend=", ENV, SMALL_DATASET)):
        logger.info("hf_sftprep: tokenizing with the HF backend: %s", choice.reason)
    else:
        logger.warning("hf_sftprep: tokenizing with the HF backend: %s", choice.reason)
