"""A self-contained HTML report: length and trained-fraction histograms, drops, coloured examples."""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from ..datasets.stats import trained_per_row
from .visualize import render_row_html

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222}"
    "pre{white-space:pre-wrap;background:#fafafa;border:1px solid #ddd;padding:.6em;font-size:13px}"
    ".t{background:#c8f7c5;color:#064}.m{color:#888}table{border-collapse:collapse}"
    "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}"
)


def _text(value) -> str:
    """Any value from stats.json as HTML text: numbers with thousands separators, everything escaped (the
    file is read back from disk, so a value may hold markup)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return html.escape(str(value))


def _share(value) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) and not isinstance(value, bool) else html.escape(str(value))


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _plots(lengths: np.ndarray, fractions: np.ndarray) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "<p>Install matplotlib (<code>pip install 'hf-sftprep[report]'</code>) for the histograms.</p>"
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    axes[0].hist(lengths, bins=40, color="#4a7")
    axes[0].set(title="sequence length (tokens)", xlabel="tokens", ylabel="rows")
    axes[1].hist(fractions, bins=40, range=(0, 1), color="#47a")
    axes[1].set(title="trained fraction per row", xlabel="trained tokens / tokens", ylabel="rows")
    src = _png(fig)
    plt.close(fig)
    return f'<img alt="histograms" src="{src}" width="100%">'


def _source_bar(sources: dict) -> str:
    """One stacked bar of all tokens and one of trained tokens, each split by source."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "<p>Install matplotlib (<code>pip install 'hf-sftprep[report]'</code>) for the tokens-per-source bar.</p>"
    fig, ax = plt.subplots(figsize=(11, 2.2))
    left = np.zeros(2)
    for i, (name, s) in enumerate(sources.items()):
        values = np.array([s["tokens"], s["trained_tokens"]], dtype=float)
        ax.barh(["tokens", "trained tokens"], values, left=left, color=plt.cm.tab10(i % 10), label=f"{name} ({s['share']:.1%})")
        left += values
    ax.invert_yaxis()
    ax.set(title="tokens per source (share of the mixture's tokens)", xlabel="tokens")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35), ncol=min(len(sources), 5), frameon=False)
    src = _png(fig)
    plt.close(fig)
    return f'<img alt="tokens per source" src="{src}" width="100%">'


def _sources_section(stats: dict) -> str:
    """A mixture's per-source table and bar (``hf-sftprep build --recipe``); empty for a single source."""
    sources = stats.get("sources")
    if not sources:
        return ""
    head = "".join(f"<th>{h}</th>" for h in ("source", "rows in", "dropped", "duplicates", "rows out", "tokens", "share",
                                              "trained tokens", "trained share", "length p50/p90/max"))
    rows = ""
    for name, s in sources.items():
        lp = s.get("length_percentiles", {})
        drops = ", ".join(f"{k}={v}" for k, v in s.get("dropped", {}).items()) or "0"
        cells = [_text(name), _text(s.get("rows_in", "-")), _text(drops if "dropped" in s else "-"),
                 _text(s.get("duplicates", "-")), _text(s.get("rows_out")), _text(s.get("tokens")), _share(s.get("share")),
                 _text(s.get("trained_tokens")), _share(s.get("trained_share", 0)),
                 _text("/".join(str(lp.get(k, "-")) for k in ("p50", "p90", "max")))]
        rows += "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
    return f"<h2>Sources</h2>{_source_bar(sources)}<table><tr>{head}</tr>{rows}</table>"


def _packing_section(packing: dict | None) -> str:
    """Fill rate of a packed dataset (``hf-sftprep build --pack N``): real tokens over packs x N."""
    if not packing:
        return ""
    p = {k: _text(packing.get(k)) for k in ("rows_packed", "rows_in", "packs", "seq_length", "dropped_overflow")}
    fill = packing.get("fill_rate")
    fill = f"{fill:.2%}" if isinstance(fill, float) else _text(fill)
    return (
        f"<h2>Packing</h2><p>{p['rows_packed']} of {p['rows_in']} rows in {p['packs']} packs "
        f"of {p['seq_length']} tokens: fill rate <b>{fill}</b>; rows dropped as longer "
        f"than the pack: {p['dropped_overflow']}. Each row below is a pack; the collator restarts "
        "positions and masks the first label at every sequence boundary.</p>"
    )


def build_html(ds, tokenizer, stats: dict, examples: int = 5, split: str | None = None) -> str:
    """The report as one HTML string with the plot embedded as a base64 PNG; ``stats`` are ``ds``'s own
    numbers (one split's, for a DatasetDict), and ``split`` names it in the title."""
    lengths = np.asarray(ds["length"])
    fractions = trained_per_row(ds.data.column("labels")) / np.maximum(lengths, 1)
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(repr(v) if isinstance(v, str) else str(v))}</td></tr>"
        for k, v in stats.items()
        if not isinstance(v, dict)
    )
    dropped = stats.get("dropped") if isinstance(stats.get("dropped"), dict) else {}
    drops = "".join(f"<tr><td>{_text(k)}</td><td>{_text(v)}</td></tr>" for k, v in dropped.items())
    cut = stats.get("end_of_turn_truncated_rows", stats.get("eot_truncated_rows", 0))
    samples = "".join(
        f"<h3>row {i}</h3>" + render_row_html(tokenizer, ds[i]["input_ids"], ds[i]["labels"])
        for i in range(min(examples, ds.num_rows))
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>hf-sftprep report</title><style>{STYLE}</style>"
        f"</head><body><h1>hf-sftprep report{html.escape(f' (split {split!r})' if split else '')}</h1>{_plots(lengths, fractions)}"
        f"{_sources_section(stats)}<h2>Summary</h2><table>{rows}</table>"
        f"<h2>Dropped rows</h2><table><tr><th>reason</th><th>rows</th></tr>{drops or '<tr><td>none</td><td>0</td></tr>'}</table>"
        f"<p>Rows whose final end-of-turn token was truncated: {_text(cut)}</p>"
        f"{_packing_section(stats.get('packing') if isinstance(stats.get('packing'), dict) else None)}"
        f"<h2>Examples</h2><p><span class='t'>trained</span> / <span class='m'>masked</span></p>{samples}"
        "</body></html>"
    )
