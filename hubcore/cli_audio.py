"""`python -m hubcore audio transcribe|similarity|lens|steer`: the Audio page from the shell.

Every subcommand calls the same `hubcore.experiments.audio` function as the page. The model is
the embedded Whisper base unless `--model` names an HF Whisper folder or cached hub id; it loads
through the shared registry (`ModelSpec(kind="speech")`), and `--remote local|ndif|URL` runs
every trace through the remote path.
"""

from __future__ import annotations

import argparse
from typing import Any

from .cli import _add_model_args, _check_out, _load, _note, _run, _write, _write_with_rates


def _floats(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a list of numbers") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one number")
    return values


def cmd_transcribe(args: argparse.Namespace) -> int:
    from .audio.sounds import load_audio
    from .experiments.audio import transcribe

    for path in args.audio:
        load_audio(path)  # fail fast on a bad file, before the model loads
    if args.out:
        _check_out(args.out)
    model = _load(args, kind="speech")
    df = _run("Transcribing", transcribe, model, audio=list(args.audio), language=args.language)
    for row in df.itertuples():
        prefix = f"{row.item}\t[{row.language}]\t" if len(df) > 1 else ""
        print(prefix + row.text)
    if args.out:
        _write(df, args.out)
    return 0


def cmd_similarity(args: argparse.Namespace) -> int:
    from .experiments.audio import audio_vs_label, crosslingual_speech

    _check_out(args.out)
    model = _load(args, kind="speech")
    if args.kind == "label":
        rep = _run("Audio vs label", audio_vs_label, model, lang=args.lang_a, n=args.n,
                   seed=args.seed, n_boot=args.bootstrap)
    else:
        rep = _run("Cross-lingual speech", crosslingual_speech, model, lang_a=args.lang_a,
                   lang_b=args.lang_b, n=args.n, seed=args.seed, n_boot=args.bootstrap)
    _note(rep.notes)
    _write(rep.curves, args.out)
    return 0


def cmd_lens(args: argparse.Namespace) -> int:
    from .experiments.audio import lens_translation

    _check_out(args.out)
    model = _load(args, kind="speech")
    rep = _run("Lens while transcribing", lens_translation, model, lang=args.lang, n=args.n,
               seed=args.seed, n_boot=args.bootstrap)
    _note(rep.notes)
    _write(rep.curves, args.out)
    return 0


def cmd_steer(args: argparse.Namespace) -> int:
    from .experiments.audio import steer_word

    _check_out(args.out)
    model = _load(args, kind="speech")
    gens, rates = _run("Steering transcripts", steer_word, model, old=args.old, new=args.new,
                       layer=args.layer, strengths=tuple(args.strengths), lang=args.lang, n=args.n,
                       seed=args.seed, n_boot=args.bootstrap, once=args.once)
    _write_with_rates(gens, rates, args.out)
    return 0


def register(sub: Any) -> None:
    """Add `audio` and its subcommands to the main parser."""
    p = sub.add_parser("audio", help="Whisper: transcribe, similarity, lens, steering",
                       description="Speech experiments on the embedded Whisper base (or --model).")
    asub = p.add_subparsers(dest="audio_command", metavar="{transcribe,similarity,lens,steer}")
    asub.required = True

    t = asub.add_parser("transcribe", help="print the transcript of audio files",
                        description="Greedy transcript of each WAV/FLAC/OGG file (<= 30 s).")
    t.add_argument("--audio", nargs="+", required=True, metavar="FILE")
    t.add_argument("--language", default=None, help="force a language code (default: detected)")
    t.add_argument("--out", default=None, help="also write item,language,text to this CSV")
    t.set_defaults(func=cmd_transcribe)

    s = asub.add_parser("similarity", help="(a) audio vs transcript, (b) the same prompt in two languages",
                        description="Writes layer,metric,matched,baseline,adjusted,ci_low,ci_high,"
                                    "retrieval_at_1 (plus stack=encoder|decoder for --kind crosslingual).")
    s.add_argument("--kind", default="crosslingual", choices=["label", "crosslingual"])
    s.add_argument("--lang-a", default="es", choices=["en", "es", "fr"],
                   help="language of the clips (label) or the first language (default: es)")
    s.add_argument("--lang-b", default="en", choices=["en", "es", "fr"])
    s.add_argument("--n", type=int, default=24, help="prompt ids (default 24)")
    s.set_defaults(func=cmd_similarity)

    le = asub.add_parser("lens", help="(c) English vs source word through the lens while transcribing",
                         description="Writes layer,target,mean_prob,ci_low,ci_high,mean_logprob,n.")
    le.add_argument("--lang", default="es", choices=["es", "fr"])
    le.add_argument("--n", type=int, default=30, help="clips (default 30)")
    le.set_defaults(func=cmd_lens)

    st = asub.add_parser("steer", help="(d) W_U[new] - W_U[old] at a decoder layer",
                         description="Writes item,transcript,strength,text,has_new,has_old,swap; rates to "
                                     "<out>_rates.csv (layer,strength,outcome,rate,ci_low,ci_high,n), "
                                     "outcome in {new, old, swap}.")
    st.add_argument("--old", default="message")
    st.add_argument("--new", default="letter")
    st.add_argument("--layer", type=int, default=4, help="decoder block 1..L (default 4)")
    st.add_argument("--strengths", type=_floats, default=[0.0, 10.0, 20.0, 40.0, 80.0],
                    help="comma-separated strengths in raw units (default 0,10,20,40,80; |W_U[new]-W_U[old]| is about 0.26, decoder states 6-30)")
    st.add_argument("--lang", default="en", choices=["en", "es", "fr"])
    st.add_argument("--n", type=int, default=10, help="clips (default 10)")
    st.add_argument("--once", action="store_true",
                    help="stop steering a clip once it has written the new word")

    for q in (s, le, st):
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
        q.add_argument("--out", required=True, help="CSV file to write")
    s.set_defaults(func=cmd_similarity)
    le.set_defaults(func=cmd_lens)
    st.set_defaults(func=cmd_steer)
    for q in (t, s, le, st):
        _add_model_args(q, kind="speech")
