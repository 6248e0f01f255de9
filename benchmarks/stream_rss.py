"""Peak RSS of streamed preparation: prepare() on an IterableDataset of N generated chats, consumed fully.

    python benchmarks/stream_rss.py 20000 && python benchmarks/stream_rss.py 200000
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def rows(n: int):
    import corpus

    block = corpus.chats(1000)
    for i in range(n):
        yield block[i % 1000]


def main() -> None:
    import datasets

    from hf_sftprep import prepare
    from hf_sftprep.testing import offline

    n = int(sys.argv[1])
    datasets.disable_progress_bars()
    tok = offline.llama3_tokenizer(HERE / "results" / "work" / "tokenizers")
    stream = datasets.IterableDataset.from_generator(rows, gen_kwargs={"n": n})
    start = time.perf_counter()
    count = tokens = 0
    for row in prepare(stream, tok):
        count += 1
        tokens += len(row["input_ids"])
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": count, "tokens": tokens, "seconds": round(seconds, 1),
                      "tok_per_s": round(tokens / seconds), "peak_rss_mb": round(peak)}))


if __name__ == "__main__":
    main()
