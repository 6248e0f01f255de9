"""Offline fixtures: real tokenizers (Llama 3, Qwen2.5, SmolLM2) built once per test session."""

from __future__ import annotations

import functools
import os

import pytest

from hf_sftprep.testing import offline

# every row rendered by substitution is also rendered by the template, and a difference raises: each fast
# path is checked against the plain path on every row of the suite (templates/substitute.py)
os.environ.setdefault("HF_SFTPREP_CHECK_RENDERS", "all")
# two xdist workers on two cores: torch's OpenMP pool of one thread per core in each would oversubscribe the
# cores (the real SmolLM2 LoRA test took 152 s beside another worker, 19 s alone); one thread per worker
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path, monkeypatch):
    """Point the datasets cache at a temporary directory, as datasets' own tests do."""
    cache = tmp_path / "hf_datasets_cache"
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    monkeypatch.setattr("datasets.config.HF_DATASETS_CACHE", cache)


@pytest.fixture(scope="session")
def tok_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tokenizers")


@pytest.fixture(scope="session")
def llama3(tok_dir):
    return offline.llama3_tokenizer(tok_dir)


@pytest.fixture(scope="session")
def qwen(tok_dir):
    return offline.qwen2_5_tokenizer(tok_dir)


@pytest.fixture(scope="session")
def smollm(tok_dir):
    return offline.smollm2_tokenizer(tok_dir)


@pytest.fixture(scope="session")
def qwen_path(tok_dir, qwen) -> str:
    """Where the Qwen2.5 tokenizer is saved (what a peer config names as its base model)."""
    return qwen.name_or_path


@pytest.fixture(scope="session")
def tok_path(tok_dir, smollm) -> str:
    """The directory SmolLM2's tokenizer was saved to (for the CLI and recipes, which load by path)."""
    return str(tok_dir / "smollm2_tokenizer")


@pytest.fixture(scope="session")
def smollm_checkpoint(tmp_path_factory):
    """A plain trainable checkpoint of the real SmolLM2-135M-Instruct, converted from GGUF once per session."""
    return offline.smollm2_checkpoint(tmp_path_factory.mktemp("smollm2"))


@pytest.fixture(scope="session", params=["llama3", "qwen", "smollm"])
def any_tok(request):
    return request.getfixturevalue(request.param)


def pytest_configure(config):
    config.addinivalue_line("markers", "zoo: every TRL template family against its generation-tagged twin "
                                       "(-m zoo; also marked slow)")


SLOW_MARKERS = ("real_model", "bench", "zoo")
SLOW_FILES = ("test_distributed.py",)  # each test starts a local Ray instance (~20-30 s)


def pytest_collection_modifyitems(config, items):
    """Mark the slow tests ``slow``, so that ``-m "not slow"`` skips them while developing; a plain run keeps them."""
    for item in items:
        if item.path.name in SLOW_FILES or any(item.get_closest_marker(m) for m in SLOW_MARKERS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def zoo(tok_dir):
    """``zoo(name) -> (tokenizer, twin or None)``: a template-zoo family, built once per session."""
    import copy

    from hf_sftprep.testing.zoo import ZOO_FAMILIES, zoo_tokenizer

    built = {}

    def get(name):
        if name not in built:
            tok = zoo_tokenizer(name, tok_dir)
            twin = None
            if ZOO_FAMILIES[name].twin:
                twin = copy.copy(tok)  # shares the 150k-token backend; only the template differs
                twin.chat_template = ZOO_FAMILIES[name].twin_text()
            built[name] = (tok, twin)
        return built[name]

    return get


@pytest.fixture(scope="session")
def families(tok_dir):
    """``families(name) -> tokenizer``: a template family outside TRL's folder, built once per session."""
    from hf_sftprep.testing.families import family_tokenizer

    return functools.cache(lambda name: family_tokenizer(name, tok_dir))


@pytest.fixture(scope="session")
def mistral(tok_dir):
    """``mistral(kind) -> tokenizer``: a real Mistral tokenizer (v1, v3, v3-tekken, v7-tekken), built once per session."""
    from hf_sftprep.testing.families import mistral_tokenizer

    return functools.cache(lambda kind: mistral_tokenizer(kind, tok_dir))
