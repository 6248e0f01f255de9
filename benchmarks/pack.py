"""Packing: hf_sftprep.pack vs TRL's pack_dataset(strategy="bfd") on the same prepared rows.

    python benchmarks/pack.py                  # fill at 20k chats, speed at 100k, scaling 10k..1M (~15 min, 2 cores)
    python benchmarks/pack.py --quick          # a small run that checks the script works

Rows are multi-turn chats from benchmarks/corpus.py, prepared once with the Llama 3 tokenizer
(max_length = seq_length, so no row overflows) and saved to disk. Every timed run is a fresh
subprocess that memory-maps the saved rows and packs them, result written to the datasets cache
included (both methods write an Arrow cache file next to the input's); methods alternate within each
repeat and the median is shown. The 1M-row input is the 100k prepared rows concatenated 10 times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def prepared_dir(rows: int, seq_length: int, work: Path) -> Path:
    """Prepare ``rows`` chats once (cached on disk); 1M rows are 10 copies of 100k."""
    import datasets

    from hf_sftprep import prepare
    from hf_sftprep.testing import offline

    out = work / f"prepared-{rows}-{seq_length}"
    if out.exists():
        return out
    if rows > 100_000:
        base = datasets.load_from_disk(str(prepared_dir(100_000, seq_length, work)))
        datasets.concatenate_datasets([base] * (rows // 100_000)).save_to_disk(str(out))
        return out
    import corpus

    tok = offline.llama3_tokenizer(work / "tok")
    raw = datasets.Dataset.from_list(corpus.chats(rows, seed=rows))
    prepare(raw, tok, max_length=seq_length, num_proc=2).save_to_disk(str(out))
    return out


class PeakAnon:
    """Peak anonymous RSS (the heap, not the pages of memory-mapped files), sampled every 10 ms."""

    def __init__(self):
        import threading

        self.start = self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def now() -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("RssAnon:")) // 1024

    def _run(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.now())

    def stop(self) -> int:
        """The peak's growth over the heap the process had before (its imports, the loaded dataset)."""
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.now()) - self.start


def fill_and_time(method: str, path: Path, seq_length: int) -> dict:
    """Pack the saved rows with one method; time covers packing and the cache write."""
    import resource

    import datasets
    import numpy as np
    import pyarrow.compute as pc

    datasets.disable_progress_bars()
    ds = datasets.load_from_disk(str(path))
    anon = PeakAnon()
    if method == "trl":
        from trl.data_utils import pack_dataset

        ds = ds.select_columns(["input_ids", "labels"])  # TRL packs every list column; `length` would be one
        start = time.perf_counter()
        packed = pack_dataset(ds, seq_length, strategy="bfd", map_kwargs={"load_from_cache_file": False})
    else:
        from hf_sftprep import pack

        start = time.perf_counter()
        packed = pack(ds, seq_length, load_from_cache_file=False)
    seconds = time.perf_counter() - start
    peak_anon = anon.stop()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    lengths = pc.list_value_length(packed.data.column("input_ids")).to_numpy()
    tokens = int(lengths.sum())
    assert packed.cache_files, "the packed result must be written to the cache"
    return {
        "method": method, "rows": ds.num_rows, "tokens": tokens, "packs": packed.num_rows,
        "fill": tokens / (packed.num_rows * seq_length), "seconds": seconds,
        "longest_pack": int(lengths.max()), "mean_seqs_per_pack": float(ds.num_rows / packed.num_rows),
        "partial_packs_below_99pct": int((lengths < 0.99 * seq_length).sum()),
        "peak_rss_mb": peak_rss, "peak_anon_mb": peak_anon,
        "_np": np.__version__,
    }


def assignment_time(path: Path, seq_length: int) -> dict:
    """The bin assignment alone, on the same lengths (the rest is gathering and writing)."""
    import datasets
    import pyarrow.compute as pc

    from hf_sftprep.datasets.pack import best_fit_decreasing

    lengths = pc.list_value_length(datasets.load_from_disk(str(path)).data.column("input_ids")).to_numpy()
    start = time.perf_counter()
    best_fit_decreasing(lengths, seq_length)
    return {"assign_seconds": time.perf_counter() - start}


def measure(method: str, path: Path, seq_length: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--path", str(path), "--seq-length", str(seq_length)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def median_runs(path: Path, seq_length: int, repeats: int) -> list[dict]:
    runs = {"hf_sftprep": [], "trl": []}
    for _ in range(repeats):
        for method in runs:  # alternate so drift on the shared machine hits both
            runs[method].append(measure(method, path, seq_length))
    out = []
    for method, rs in runs.items():
        r = dict(rs[0])
        r["seconds"] = statistics.median(x["seconds"] for x in rs)
        r["runs"] = [round(x["seconds"], 2) for x in rs]
        r["peak_rss_mb"] = max(x["peak_rss_mb"] for x in rs)
        r["peak_anon_mb"] = max(x["peak_anon_mb"] for x in rs)
        out.append(r)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--worker")
    p.add_argument("--path")
    p.add_argument("--seq-length", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--work", default=str(HERE / "results" / "pack"))
    args = p.parse_args(argv)
    if args.worker:
        r = fill_and_time(args.worker, Path(args.path), args.seq_length)
        if args.worker == "hf_sftprep":
            r.update(assignment_time(Path(args.path), args.seq_length))
        print(json.dumps(r))
        return
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    fill_rows, sizes, repeats = (2000, [2000], 1) if args.quick else (20_000, [int(s) for s in args.sizes.split(",")], args.repeats)
    rows = []
    for n in [fill_rows, *[s for s in sizes if s != fill_rows]]:
        path = prepared_dir(n, args.seq_length, work)
        for r in median_runs(path, args.seq_length, 1 if n > 100_000 else repeats):
            rows.append(r)
            print(json.dumps(r), flush=True)
    (work / "pack.json").write_text(json.dumps(rows, indent=2))
    print(f"\nseq_length {args.seq_length}; median of {repeats} runs (1 at 1M rows)\n")
    print("| rows | tokens | method | packs | fill rate | packs < 99% full | seconds | M tok/s | time vs TRL "
          "| peak RSS MB | peak anonymous RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    by = {(r["rows"], r["method"]): r for r in rows}
    for r in rows:
        trl = by[(r["rows"], "trl")]
        print(f"| {r['rows']:,} | {r['tokens']:,} | {r['method']} | {r['packs']:,} | {r['fill']:.4%} | "
              f"{r['partial_packs_below_99pct']} | {r['seconds']:.2f} | {r['tokens'] / r['seconds'] / 1e6:.1f} | "
              f"{r['seconds'] / trl['seconds']:.2f}× | {r['peak_rss_mb']} | {r['peak_anon_mb']} |")
    print("\n| rows | bin assignment alone, s |\n|---|---|")
    for r in rows:
        if r["method"] == "hf_sftprep":
            print(f"| {r['rows']:,} | {r['assign_seconds']:.3f} |")


if __name__ == "__main__":
    main()
