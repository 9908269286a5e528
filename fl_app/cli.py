"""The ``fl-spam`` command line: centralized training, attack demo, benchmark, deployment,
privacy curve, corpus tools."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from clients.model import LOSSES
from clients.model_file import SavedModel, load_model, save_model
from data.download import (
    DOWNLOAD_TIMEOUT_S,
    ENRON_BASE_URL,
    default_cache_dir,
    download_enron,
    read_manifest,
)
from data.loaders import CORPORA, DEFAULT_CORPUS, load_corpus
from data.prepare import PreparedData
from data.split import SPLITS, split_corpus
from strategies.keys import check_key_size

from .centralized import train_centralized
from .cli_types import int_at_least, member_name, png_path, positive_seconds, probability
from .config import FILE_CORPORA, PRESETS, RunConfig, RunConfigError
from .dataset import load_data
from .log_routing import route_package_logs, set_log_level
from .processes import signal_guard
from .user_errors import CLI_ERRORS, error_line

# Progress and tables go to stderr so that stdout's last line stays the JSON.
console = Console(stderr=True)


def _add_corpus_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--corpus",
        choices=CORPORA,
        default=None,
        help=f"which corpus (default: {DEFAULT_CORPUS}, the shipped SMS Spam Collection)",
    )
    parser.add_argument(
        "--data", default=None, help="path of the corpus files (every corpus but sms and synthetic)"
    )
    parser.add_argument(
        "--spam-folders",
        default=None,
        help="maildir: folders whose mail is spam (default: Junk,Spam)",
    )
    parser.add_argument(
        "--split", choices=SPLITS, default=None, help="stratified (default) or the book's"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the split, shuffles and synthetic corpus"
    )
    _add_output_options(parser)


def _run_config(args: argparse.Namespace, **options: Any) -> RunConfig:
    """The run-config the command line asks for; options left out take the preset's values.

    Raises
    ------
    RunConfigError
        For a value that cannot run, before anything starts.
    """
    if args.data and not args.corpus:
        raise RunConfigError(
            f"--data {args.data} without --corpus — say what kind of corpus it is: "
            f"--corpus {{{','.join(FILE_CORPORA)}}} (sms for a copy of the SMS file)"
        )
    given = {
        "corpus": args.corpus or DEFAULT_CORPUS,
        "data-path": args.data or "",
        "seed": args.seed,
        "spam-folders": args.spam_folders,
        "split": args.split,
        **options,
    }
    cfg = RunConfig.from_mapping({k: v for k, v in given.items() if v is not None})
    cfg.check_paths()
    return cfg


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object as the last line"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show Flower's log and every step's INFO lines (default: warnings only)",
    )


def _load(cfg: RunConfig) -> PreparedData:
    with console.status(f"loading corpus {cfg.corpus}"):
        data = load_data(cfg)
    console.print(f"corpus: [bold]{escape(data.corpus)}[/bold] ({escape(data.split_note)})")
    return data


def cmd_centralized(args: argparse.Namespace) -> dict[str, Any]:
    """Plain training on every training e-mail; every spam-filter figure per epoch."""
    cfg = _run_config(
        args, preset=args.preset, lr=args.lr, loss=args.loss, **{"batch-size": args.batch_size}
    )
    epochs = args.epochs or cfg.num_server_rounds * cfg.local_epochs
    data = _load(cfg)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("training", total=epochs)

        def on_epoch(epoch: int, metrics: Any) -> None:
            progress.advance(task)
            console.print(f"epoch {epoch}: {metrics.line()}")

        model, history = train_centralized(data, cfg.recipe, epochs, cfg.seed, on_epoch=on_epoch)
    final = {k: v for k, v in history[-1].items() if k != "epoch"}
    result = {
        "corpus": data.corpus,
        "synthetic": data.synthetic,
        "split": data.split_note,
        "preset": cfg.preset,
        "epochs": history,
        **final,
    }
    if args.save_model:
        about = {"corpus": data.corpus, "split": data.split_note, "metrics": final}
        result["model"] = str(
            save_model(Path(args.save_model), SavedModel(model, data.vocabulary, about))
        )
        console.print(f"model: {result['model']}", markup=False)
    return result


def _printable(text: str) -> str:
    """``text`` as stdout can write it: a file name's bytes that are not UTF-8, and characters
    stdout's encoding lacks, become backslash escapes instead of a UnicodeEncodeError."""
    encoding = sys.stdout.encoding or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)


def cmd_classify(args: argparse.Namespace) -> dict[str, Any]:
    """Spam probability and verdict of every message in .eml files, an mbox, a Maildir or stdin;
    the messages that cannot be read are named with why (``skipped``)."""
    from data.mail import iter_messages, log_skip

    saved = load_model(Path(args.model))
    skipped: list[dict[str, str]] = []

    def on_skip(source: str, reason: str) -> None:
        log_skip(source, reason)
        skipped.append({"source": source, "reason": reason})

    messages = [
        m
        for path in args.paths or ["-"]
        for m in iter_messages(sys.stdin.buffer if path == "-" else Path(path), on_skip)
    ]
    texts = [text for _, text in messages]
    scores: list[float] = saved.scores(texts).tolist() if texts else []
    verdicts = [
        (source, float(p), bool(p > args.threshold))
        for (source, _), p in zip(messages, scores, strict=True)
    ]
    if not args.json:
        for source, probability, spam in verdicts:
            print(f"{probability:.4f}\t{'spam' if spam else 'ham'}\t{_printable(source)}")
    console.print(
        f"{sum(spam for _, _, spam in verdicts)} of {len(verdicts)} message(s) over threshold "
        f"{args.threshold:g}; {len(skipped)} skipped"
        + (" (unreadable, each named above)" if skipped else ""),
        markup=False,
        highlight=False,
    )
    results = [
        {"source": source, "spam_probability": probability, "spam": spam}
        for source, probability, spam in verdicts
    ]
    return {
        "model": args.model,
        "threshold": args.threshold,
        "messages": results,
        "skipped": skipped,
    }


def cmd_evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """A saved model's spam-filter figures on a corpus: its test split, or all e-mail with --all."""
    saved = load_model(Path(args.model))
    cfg = _run_config(args)
    with console.status(f"loading corpus {cfg.corpus}"):
        corpus = load_corpus(
            cfg.corpus, cfg.data_path or None, cfg.seed, spam_folders=cfg.spam_folder_names()
        )
    if args.all:
        emails, labels, part = (
            corpus.spam + corpus.ham,
            [1] * len(corpus.spam) + [0] * len(corpus.ham),
            "every e-mail",
        )
    else:
        split = split_corpus(corpus, cfg.split, cfg.seed)
        emails, labels, part = split.test_emails, split.test_labels, split.note
    test = saved.vocabulary.encode(emails, labels)
    _, metrics = saved.model.evaluate(test)
    console.print(f"{corpus.label} ({part}): {metrics.line()}", markup=False)
    return {
        "model": args.model,
        "corpus": corpus.label,
        "synthetic": corpus.synthetic,
        "part": part,
        **metrics.as_dict(),
    }


def cmd_data_stats(args: argparse.Namespace) -> dict[str, Any]:
    """Sizes, vocabulary and class balance of a corpus."""
    data = _load(_run_config(args))
    train, test = data.train, data.test
    stats = {
        "corpus": data.corpus,
        "synthetic": data.synthetic,
        "emails": len(train) + len(test),
        "spam": train.num_spam + test.num_spam,
        "ham": len(train) - train.num_spam + len(test) - test.num_spam,
        "train": len(train),
        "test": len(test),
        "vocabulary": len(data.vocabulary),
        "spam_fraction": (train.num_spam + test.num_spam) / (len(train) + len(test)),
        "mean_unique_words": float(
            (train.lengths.sum() + test.lengths.sum()) / (len(train) + len(test))
        ),
        "split": data.split_note,
    }
    table = Table(title=f"corpus {escape(data.corpus)}")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for key, value in stats.items():
        if key not in ("corpus", "split"):
            table.add_row(key, f"{value:.3f}" if isinstance(value, float) else str(value))
    console.print(table)
    return stats


def cmd_data_download(args: argparse.Namespace) -> dict[str, Any]:
    """Fetch the Enron-Spam archives, verify SHA-256, cache them."""
    dest = Path(args.dest) if args.dest else default_cache_dir() / "enron-spam"
    pinned = read_manifest(Path(args.sha256)) if args.sha256 else None
    with Progress(
        TextColumn("downloading"), BarColumn(), DownloadColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task("download", total=None)
        results = download_enron(
            dest,
            base_url=args.base_url,
            pinned=pinned,
            timeout=args.timeout,
            progress=lambda n: progress.advance(task, n),
        )
    for path, digest, status in results:
        console.print(f"{status:>8}  {digest}  {path}", markup=False)
    if any(status == "recorded" for _, _, status in results):
        console.print(
            "[yellow]First download: digests recorded in SHA256SUMS (trust on first use); "
            "later runs verify against it.[/yellow]"
        )
    console.print(f"use it with: --corpus enron --data {dest}", markup=False)
    return {
        "dest": str(dest),
        "archives": [{"path": str(p), "sha256": d, "status": s} for p, d, s in results],
    }


ATTACK_LINES = {
    "metrics": "curious server, Bob's loss and counts ({numbers_tried} numbers tried, "
    "{error_texts_with_digits} error texts with digits)",
    "late_reply": "curious server keeping a late reply for a second total (refused: {refused})",
    "deviating_server": "deviating server (refused: {refused})",
    "retrain_difference": "deviating server training round 1 again without Bob "
    "(refused: {refused})",
    "count_oracle": "deviating server bisecting max-examples "
    "({requests} requests, {refusals} refusals)",
    "codec_split": "deviating server giving Bob one codec and the others another "
    "({rejected_envelopes} envelopes rejected)",
    "dp_shrink": "deviating server shrinking every other client's dp-clip "
    "({rejected_envelopes} envelopes rejected; promised noise std {promised_noise_std:.3g})",
    "range_oracle": "deviating server claiming more key bits than its key has, bisecting "
    "the e-mail count ({requests} requests, {refusals} refusals)",
    "colluder": "server + {colluders} colluding client opening Bob's sum, then false blame "
    "(refused: {refused})",
    "dp_example_claim": "a DP client claiming {examples_claimed} e-mails (accepted: {accepted})",
    "sybil": "server inventing members, authenticated roster (without one it reads "
    "{without_authenticated_roster})",
    "paillier": "honest secure round, every reply inspected "
    "({aggregate_changed_words} words of the sum changed, "
    "{bob_words_in_top_50} of Bob's among the 50 that changed most)",
    "paillier_dp": "honest secure round with DP at epsilon {epsilon:.1f} ({neighbouring}; "
    "{bob_words_in_top_50} of Bob's words among the 50 that changed most)",
}


def cmd_attack(args: argparse.Namespace) -> dict[str, Any]:
    """Every attack on Bob's update.

    Plain FedAvg leaks; each attack on the secure round recovers nothing.
    """
    from .attack import run_attack  # imports Flower: only when asked

    check_key_size(args.key_bits, args.insecure_demo_key)  # before a key is made
    with console.status("attacking Bob's update") as status:
        result = run_attack(
            args.key_bits,
            args.insecure_demo_key,
            progress=lambda name: status.update(f"attack: {name}"),
        )
    console.print(
        f'corpus: [bold]{result["corpus"]}[/bold]; Bob\'s e-mail: "{result["bob_email"]}"'
    )
    console.print(
        f"plain FedAvg (baseline): the server reads Bob's words {result['plain']['recovered']}"
    )
    for column, line in ATTACK_LINES.items():
        found = result[column]["recovered"]
        console.print(
            f"{column}: recovered {found or 'nothing'} - " + line.format(**result[column])
        )
    return result


def cmd_identity(args: argparse.Namespace) -> dict[str, Any]:
    """A new federation identity key (0600), and the line that pins it in the federation file."""
    from strategies.identity import new_identity_key

    public = new_identity_key(Path(args.key_file))
    line = f'{args.member} = "{public.hex()}"'
    console.print(
        f"identity key written to {args.key_file} (mode 0600); add this line to the [members] "
        "table of the federation file every member holds:",
        markup=False,
    )
    print(line)
    return {
        "member": args.member,
        "key_file": str(args.key_file),
        "public_key": public.hex(),
        "line": line,
    }


def cmd_bench(args: argparse.Namespace) -> dict[str, Any]:
    """What secure aggregation costs: per-value phe against the packed codec; plain against secure
    rounds in process, under flwr run and in a real deployment, each against its CPU floor."""
    from .bench import run_bench

    started = time.monotonic()

    def progress(phase: str) -> None:  # one line per phase, on stderr
        console.print(
            f"bench [{time.monotonic() - started:6.1f} s] {phase}", markup=False, highlight=False
        )

    result = run_bench(args.quick, progress=progress)

    def figure(value: float | None, form: str) -> str:
        return "-" if value is None else format(value, form)

    table = Table(
        title=f"fl-spam bench ({'quick' if args.quick else 'full'}; {result['corpus']}; "
        f"{result['total_s']:.0f} s)"
    )
    for column in ("measure", "value"):
        table.add_column(column, justify="right" if column == "value" else "left")
    rows = [
        ("phe encrypt(float), ms/weight", f"{1e3 * result['phe_encrypt_s_per_weight']:.3f}"),
        (
            f"codec encrypt, ms/weight ({result['reference_weights']} weights)",
            f"{1e3 * result['codec_encrypt_s_per_weight']:.4f}",
        ),
        ("speedup vs phe", f"{result['speedup_vs_phe']:.0f}x"),
        (
            "bytes per weight (envelope) / phe",
            f"{result['bytes_per_weight']:.2f} / {result['phe_bytes_per_weight']}",
        ),
        ("one exponentiation r^n mod n^2, ms", f"{1e3 * result['exponentiation_s']:.2f}"),
    ]
    for entry in result["rounds"]:
        rows.append(
            (
                f"in process, {entry['clients']} clients: secure s / plain s",
                f"{entry['paillier_s']:.2f} / {entry['plain_s']:.3f}",
            )
        )
        rows.append(
            (
                f"  over floor ({entry['floor_s']:.2f} s); depth (planned); obfuscators ready",
                (
                    f"{entry['paillier_over_floor']:.2f}x; "
                    f"{entry['message_depth']} ({entry['planned_depth']}); "
                    f"{100 * entry['ready_share']:.0f}%"
                ),
            )
        )
    for entry in result["flwr_run"] or []:
        rows.append(
            (
                f"flwr run, {entry['clients']} clients: secure round s / plain round s",
                f"{entry['paillier_s']:.2f} / {entry['plain_s']:.2f}",
            )
        )
        rows.append(
            (
                f"  over floor ({entry['floor_s']:.2f} s); depth (planned)",
                (
                    f"{figure(entry['paillier_over_floor'], '.2f')}x; {entry['message_depth']} "
                    f"({entry['planned_depth']})"
                ),
            )
        )
    if deployment := result["deployment"]:
        rows.append(
            (
                f"deployment, {deployment['clients']} SuperNodes: secure round s / plain round s",
                f"{deployment['paillier_s']:.1f} / {deployment['plain_s']:.1f} "
                f"= {deployment['ratio']:.2f}x",
            )
        )
        rows.append(
            (
                "  over floor; depth (planned); s per message wave",
                (
                    f"{deployment['paillier_over_floor']:.2f}x; {deployment['message_depth']} "
                    f"({deployment['planned_depth']}); {deployment['wave_latency_s']:.2f}"
                ),
            )
        )
    if fanin := result["fanin"]:
        estimates = ", ".join(
            f"{row['fanin']}: {row['estimated_deployment_round_s']:.1f}"
            for row in fanin["by_fanin"]
        )
        rows.append(("fan-in: estimated deployment round s", estimates))
        rows.append(("best fan-in", str(fanin["best_fanin"])))
    for name, criterion in result["criteria"].items():
        met = {True: "met", False: "NOT met", None: "not measured"}[criterion["met"]]
        rows.append(
            (f"{name} <= {criterion['limit']}", f"{figure(criterion['value'], '.2f')} ({met})")
        )
    rows.append(("local training, e-mails/s", f"{result['train_emails_per_s']:.0f}"))
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    return result


def cmd_deploy(args: argparse.Namespace) -> dict[str, Any]:
    """Real SuperLink + SuperNodes on loopback, the app run with flwr run; all stopped after."""
    import tempfile

    from strategies.wire import NODE_ALLOW_PLAIN

    from .deploy import LocalDeployment, check_capacity, config_arg
    from .federation import make_federation

    if args.clients < 2:
        raise RunConfigError(
            f"--clients {args.clients}: expected at least 2 SuperNodes (3 for secure "
            "aggregation's default min-clients) — e.g. --clients 3"
        )
    secure = args.aggregation == "paillier"
    if args.authenticated and not secure:
        raise RunConfigError(
            "--authenticated with --aggregation plain: nodes with an authenticated roster "
            "answer secure rounds only — drop --authenticated, or use --aggregation paillier"
        )
    secure_floor = RunConfig.min_clients  # the run-config's default: what `flwr run .` asks
    if args.min_clients is None and secure and args.clients < secure_floor:
        # A security floor is lowered only when asked for, never to fit the federation.
        raise RunConfigError(
            f"--clients {args.clients} with --aggregation paillier: secure aggregation's "
            f"min-clients is {secure_floor}, and deploy never lowers it unasked — run "
            f"--clients {secure_floor}, or lower it explicitly with --min-clients {args.clients}"
        )
    min_clients = min(secure_floor, args.clients) if args.min_clients is None else args.min_clients
    run_config: dict[str, object] = {
        "num-clients": args.clients,
        "num-server-rounds": args.rounds,
        "aggregation": args.aggregation,
        "min-clients": min_clients,
        "round-timeout": args.round_timeout,
        "results-dir": str(Path(args.results_dir).resolve()),
        "checkpoint-dir": str(Path(args.checkpoint_dir).resolve()),
        "resume": args.resume,
    }
    RunConfig.from_mapping(run_config)  # every value checked before a process starts
    config_arg(run_config)  # ... and one Flower's --run-config can carry
    if not args.force:
        check_capacity(args.clients, secure, args.round_timeout)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fl-spam-deploy-") as workdir:
        # Each node's own floor: the loopback demo's mail owners accept what the run asks,
        # and answer plain rounds only when the run asks for plain aggregation.
        own: dict[str, object] = {"min-clients": run_config["min-clients"]}
        if not secure:
            own[NODE_ALLOW_PLAIN] = True
        node_config: list[dict[str, object]] = [own] * args.clients
        if args.authenticated:
            members = make_federation(Path(workdir) / "federation", args.clients)
            node_config = [
                {**floor, **member} for floor, member in zip(node_config, members, strict=True)
            ]
        with console.status("starting SuperLink and SuperNodes") as status:
            deployment = LocalDeployment(
                args.clients,
                Path(workdir),
                tls=args.tls,
                node_config=lambda i: node_config[i],
                on_nodes_up=lambda up: status.update(f"SuperNodes up: {up} of {args.clients}"),
            )
            with deployment:
                console.print(
                    f"SuperLink on 127.0.0.1:{deployment.port} "
                    f"({'TLS' if args.tls else 'insecure'}), {args.clients} SuperNodes started"
                )

                def on_line(line: str) -> None:
                    if "test accuracy" in line or "skipped" in line or "dropped" in line:
                        console.print(line.split(":", 1)[-1].strip())
                    if "[ROUND" in line:
                        status.update(f"deploy: {line.split('[', 1)[-1].rstrip(']')}")

                status.update("deploy: flwr run submitted")
                result = deployment.run(run_config, timeout=args.timeout, on_line=on_line)
        left = deployment.stop()
    console.print(
        f"final accuracy {100 * result['accuracy']:.2f}% on {result['corpus']}; "
        f"{'no' if not left else len(left)} Flower process(es) left running"
    )
    return {
        "accuracy": result["accuracy"],
        "corpus": result["corpus"],
        "clients": args.clients,
        "rounds": result["rounds"],
        "aggregation": args.aggregation,
        "tls": args.tls,
        "authenticated": args.authenticated,
        "processes_left": left,
        "wall_time_s": round(time.monotonic() - started, 1),
    }


def cmd_privacy_curve(args: argparse.Namespace) -> dict[str, Any]:
    """Accuracy against epsilon for a few noise levels (client-level DP)."""
    from .privacy_curve import plot_curve, privacy_curve

    with console.status("privacy curve") as status:
        result = privacy_curve(
            args.clients,
            args.rounds,
            args.clip,
            progress=lambda s: status.update(f"privacy curve: {s}"),
        )
    table = Table(
        title=(
            f"accuracy vs epsilon ({result['clients']} clients, {result['rounds']} rounds; "
            f"{result['corpus']})"
        )
    )
    for column in ("noise multiplier", "epsilon", "accuracy"):
        table.add_column(column, justify="right")
    table.add_row("none", "inf", f"{100 * result['non_private_accuracy']:.2f}%")
    for p in result["points"]:
        table.add_row(
            f"{p['noise_multiplier']:g}", f"{p['epsilon']:.2f}", f"{100 * p['accuracy']:.2f}%"
        )
    console.print(table)
    result["png"] = str(plot_curve(result, Path(args.png)))
    console.print(f"plot: {result['png']}", markup=False)
    return result


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fl-spam``."""
    parser = _Parser(prog="fl-spam", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    central = sub.add_parser(
        "centralized", help="plain, non-federated training: the reference for FedAvg"
    )
    _add_corpus_options(central)
    central.add_argument(
        "--preset",
        choices=tuple(PRESETS),
        default="default",
        help="training recipe: default, or the book's chapter-15 settings",
    )
    central.add_argument(
        "--epochs",
        type=int_at_least(1),
        default=None,
        help="default: the preset's rounds x local epochs",
    )
    central.add_argument("--lr", type=float, default=None, help="default: the preset's")
    central.add_argument("--batch-size", type=int, default=None, help="default: the preset's")
    central.add_argument("--loss", choices=LOSSES, default=None, help="default: the preset's")
    central.add_argument(
        "--save-model", default=None, metavar="FILE", help="save the trained filter for classify"
    )
    central.set_defaults(func=cmd_centralized)

    classify = sub.add_parser(
        "classify", help="spam probability of messages: .eml files, mbox, Maildir or stdin"
    )
    classify.add_argument(
        "--model", required=True, help="a model file from a run or centralized --save-model"
    )
    classify.add_argument(
        "--threshold",
        type=probability,
        default=0.5,
        help="spam above this probability (default 0.5)",
    )
    classify.add_argument(
        "paths", nargs="*", help=".eml file, folder of .eml, mbox or Maildir; - or none: stdin"
    )
    _add_output_options(classify)
    classify.set_defaults(func=cmd_classify)

    evaluate = sub.add_parser("evaluate", help="a saved model's spam-filter figures on a corpus")
    evaluate.add_argument(
        "--model", required=True, help="a model file from a run or centralized --save-model"
    )
    evaluate.add_argument(
        "--all", action="store_true", help="score every e-mail, not only the test split"
    )
    _add_corpus_options(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    attack = sub.add_parser(
        "attack", help="every attack on Bob's update: plain FedAvg vs the secure round"
    )
    attack.add_argument("--key-bits", type=int, default=2048)
    attack.add_argument(
        "--insecure-demo-key", action="store_true", help="allow keys below 2048 bits"
    )
    _add_output_options(attack)
    attack.set_defaults(func=cmd_attack)

    identity = sub.add_parser(
        "identity", help="a federation identity key for the authenticated roster"
    )
    identity.add_argument(
        "--member",
        required=True,
        type=member_name,
        help="this mail owner's name in the federation file (letters, digits, - and _)",
    )
    identity.add_argument(
        "--key-file", required=True, help="where to write the private key (never overwritten)"
    )
    _add_output_options(identity)
    identity.set_defaults(func=cmd_identity)

    bench = sub.add_parser(
        "bench", help="what secure aggregation costs, against its CPU floor and plain FedAvg"
    )
    bench.add_argument(
        "--quick",
        action="store_true",
        help="under a minute: 10k weights, 2048 bits, one 3-client round in process; "
        "no flwr run, no deployment",
    )
    _add_output_options(bench)
    bench.set_defaults(func=cmd_bench)

    deploy = sub.add_parser(
        "deploy", help="real SuperLink and SuperNodes on loopback, stopped afterwards"
    )
    deploy.add_argument("--clients", type=int, default=3)
    deploy.add_argument("--rounds", type=int, default=3)
    deploy.add_argument("--aggregation", choices=("plain", "paillier"), default="paillier")
    deploy.add_argument(
        "--min-clients",
        type=int,
        default=None,
        help="fewest clients a round needs (default 3; with --aggregation plain, "
        "min(3, clients)); secure aggregation goes below 3 only when this says so",
    )
    deploy.add_argument(
        "--tls", action="store_true", help="throwaway CA; every connection over TLS"
    )
    deploy.add_argument(
        "--authenticated",
        action="store_true",
        help="an identity per node and a federation file: the authenticated roster",
    )
    deploy.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    deploy.add_argument(
        "--round-timeout",
        type=positive_seconds,
        default=120.0,
        help="seconds to wait for nodes and each reply",
    )
    deploy.add_argument(
        "--timeout", type=positive_seconds, default=1800.0, help="seconds for the whole run"
    )
    deploy.add_argument("--results-dir", default="results")
    deploy.add_argument("--checkpoint-dir", default="checkpoints")
    deploy.add_argument(
        "--force",
        action="store_true",
        help="start even a federation larger than this machine can hold (by the "
        "memory and CPU measured per SuperNode and ClientApp)",
    )
    _add_output_options(deploy)
    deploy.set_defaults(func=cmd_deploy)

    curve = sub.add_parser("privacy-curve", help="accuracy against epsilon for a few noise levels")
    curve.add_argument("--clients", type=int_at_least(2), default=100)
    curve.add_argument("--rounds", type=int, default=3)
    curve.add_argument("--clip", type=float, default=0.5, help="L2 clip of each client's update")
    curve.add_argument("--png", type=png_path, default="results/privacy-curve.png")
    _add_output_options(curve)
    curve.set_defaults(func=cmd_privacy_curve)

    data = sub.add_parser("data", help="corpus tools").add_subparsers(
        dest="data_command", required=True
    )
    stats = data.add_parser("stats", help="sizes, vocabulary and class balance of a corpus")
    _add_corpus_options(stats)
    stats.set_defaults(func=cmd_data_stats)
    download = data.add_parser("download", help="fetch the Enron-Spam archives")
    download.add_argument(
        "--dest", default=None, help="cache folder (default: ~/.cache/fl-spam/enron-spam)"
    )
    download.add_argument("--base-url", default=ENRON_BASE_URL)
    download.add_argument("--sha256", default=None, help="file of known digests, sha256sum format")
    download.add_argument(
        "--timeout", type=positive_seconds, default=DOWNLOAD_TIMEOUT_S, help="seconds per step"
    )
    _add_output_options(download)
    download.set_defaults(func=cmd_data_download)
    return parser


class _Parser(argparse.ArgumentParser):
    """argparse, except that a usage mistake is one ``error:`` line like every other."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} — see {self.prog} --help\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fl-spam``; returns the exit code.

    0 on success; 2 on an error the user can fix, printed as one line
    ``error: <what> — <what to do>`` on stderr (and, with ``--json``, as
    ``{"error": ...}`` on stdout); 130 when interrupted. Anything else is a
    bug: it propagates with its traceback (exit code 1) so that it is reported.
    """
    args = build_parser().parse_args(argv)
    # Flower logs every step at INFO, and its own warnings about its defaults: the
    # commands print their own summary, and -v shows all of it.
    route_package_logs()  # our warnings (e.g. e-mails without words) in Flower's format
    set_log_level(args.verbose)
    try:
        with signal_guard():  # SIGTERM and SIGHUP unwind like Ctrl-C: what it started is stopped
            payload = args.func(args)
            if args.json:
                print(json.dumps(payload), flush=True)
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]: every process this command started was stopped")
        return 130
    except CLI_ERRORS as exc:
        if isinstance(exc, BrokenPipeError):  # stdout's reader is gone: nothing more to it
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if args.verbose:  # where it was raised, should the user report it anyway
            traceback.print_exc()
        print(f"error: {error_line(exc)}", file=sys.stderr, flush=True)
        if args.json and not isinstance(exc, BrokenPipeError):
            print(json.dumps({"error": error_line(exc)}), flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
