"""``hf-sftprep build --axolotl config.yml`` and ``build --llamafactory dataset_info.json --dataset a,b``: a peer's
config read as a recipe (:mod:`hf_sftprep.datasets.peers`) and built as ``build --recipe`` builds one."""

from __future__ import annotations

from pathlib import Path

from .loading import CLIError, check_out_dir, save_prepared

# build flags that a peer config sets itself (or that only build DATA reads); given with --axolotl/--llamafactory,
# they would be ignored, so they are refused by name
_SET_BY_AXOLOTL = {"max_length": "--max-length (sequence_len)", "test_size": "--test-size (val_set_size)",
                   "pack": "--pack (sample_packing)", "chat_template": "--chat-template (chat_template_jinja)",
                   "tokenizer": "--tokenizer (base_model)", "num_proc": "--num-proc (dataset_processes)"}
_SET_BY_LLAMAFACTORY = {"max_length": "--max-length (use --cutoff-len)", "test_size": "--test-size (use --val-size)"}


def _refuse(args, peer: str, flags: dict) -> None:
    if args.data or args.recipe:
        raise CLIError(f"--{peer} names the data; drop {'DATA' if args.data else '--recipe'}, or drop --{peer}.")
    if args.axolotl and args.llamafactory:
        raise CLIError("give one of --axolotl and --llamafactory.")
    for key, flag in flags.items():
        if getattr(args, key, None) is not None:
            raise CLIError(f"{flag.split()[0]} is set by the {peer} config {flag.split(' ', 1)[1]}; drop "
                           f"{flag.split()[0]}.")


def peer_recipe(args):
    """The recipe a ``build --axolotl`` / ``--llamafactory`` command line describes."""
    from ..datasets.peers import from_axolotl, from_llamafactory

    if args.axolotl:
        _refuse(args, "axolotl", _SET_BY_AXOLOTL)
        for flag, value in (("--dataset", args.dataset), ("--cutoff-len", args.cutoff_len),
                            ("--val-size", args.val_size)):
            if value is not None:
                raise CLIError(f"{flag} is a --llamafactory flag; the Axolotl config sets it (datasets:, "
                               "sequence_len, val_set_size). Drop it.")
        return from_axolotl(args.axolotl, on_invalid=args.on_invalid)
    _refuse(args, "llamafactory", _SET_BY_LLAMAFACTORY)
    if not args.dataset or not args.tokenizer:
        raise CLIError("--llamafactory needs --dataset a,b (the dataset_info.json entries) and --tokenizer (the "
                       "model_name_or_path of the LLaMA-Factory run).")
    size = args.val_size  # LLaMA-Factory's val_size: a fraction, or a row count when >= 1
    size = int(size) if size is not None and size >= 1 and size == int(size) else size
    return from_llamafactory(args.llamafactory, args.dataset, tokenizer=args.tokenizer, cutoff_len=args.cutoff_len,
                             val_size=size, on_invalid=args.on_invalid, seed=args.seed)


def build_from_peer(args) -> None:
    """``build --axolotl FILE`` / ``build --llamafactory FILE --dataset a,b``: write the prepared dataset to --out."""
    from ..datasets.mixture import run_recipe

    out = Path(args.out)
    recipe = peer_recipe(args)
    check_out_dir(out, args.overwrite)
    ds, report, tok = run_recipe(recipe)
    save_prepared(out, ds, tok, report.to_dict())
    print(report.summary())
    print(f"wrote {out}")
