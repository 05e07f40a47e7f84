"""``sectune data cmdline``: labelled benign / obfuscated command lines, grouped by the line they came from.

Each benign seed line (from the templates of ``benign.py`` and/or the user's own ``--from`` file) becomes one
label-0 record, and, at the requested obfuscated share, label-1 variants of it made by the obfuscation engine.
A seed and its variants share ``orig``, so a split by ``orig`` (``sectune train --split group:orig``) never puts
a line on one side and its obfuscated twin on the other.

A quarter of the template PowerShell records, benign and obfuscated alike, are written as a process-creation log
shows them, started by ``powershell.exe [-NoProfile -ExecutionPolicy Bypass ...] -Command "..."``: a launcher
then says nothing about the label, and a model learns to read the command it passes.

Record fields: ``text``, ``label`` (0/1), ``shell``, ``technique`` (``benign``, or the technique names applied,
in order, joined with ``>``), ``intensity`` (null for benign), ``orig``, ``seed_id``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import random
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

from sectune.errors import SectuneError
from sectune.outputs import check_output_file
from sectune.tasks.cmdline.benign import SHELLS, BenignLine, check_shells, generate_benign
from sectune.tasks.cmdline.normalize.guess import guess_shell

INTENSITIES = ("light", "medium", "heavy")
FIELDS = ("text", "label", "shell", "technique", "intensity", "orig", "seed_id")
_FORMATS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonl.gz": "jsonl.gz",
    ".ndjson.gz": "jsonl.gz",
    ".csv": "csv",
    ".csv.gz": "csv.gz",
    ".parquet": "parquet",
}
_ATTEMPTS_PER_VARIANT = 4  # a technique can fail on a line, or give a text already made: try again


# --- the engine --------------------------------------------------------------------------------------------


def _engine():
    try:
        from sectune.tasks.cmdline import obfuscate as engine
    except ImportError as e:  # pragma: no cover - only while the engine is being written
        raise SectuneError(
            f"the obfuscation engine (sectune.tasks.cmdline.obfuscate) cannot be imported: {e}"
        ) from None
    return engine


def list_techniques() -> str:
    """One line per technique of the engine: name, family, description (``--list-techniques``)."""
    engine = _engine()
    rows = [(t.name, t.family, t.description) for t in engine.techniques()]
    width = max(len(r[0]) for r in rows)
    family = max(len(r[1]) for r in rows)
    return "\n".join(f"{name:<{width}}  {fam:<{family}}  {desc}" for name, fam, desc in rows) + "\n"


# --- seeds -------------------------------------------------------------------------------------------------


@dataclass
class _Seed:
    text: str
    shell: str
    seed_id: str
    source: str  # "templates" or the --from file


def _user_seeds(path: str, field: str | None, from_shell: str | None, shells: list[str]) -> tuple[list[_Seed], Counter]:
    """The user's benign lines (plain text, or the ``field`` column of JSONL/CSV/Parquet), deduplicated."""
    from sectune.io import detect_format, read_texts

    fmt = detect_format(path)
    if fmt == "text" and field:
        raise SectuneError(
            f"--field {field} is for JSONL/CSV/Parquet files; a plain text file holds one line per line", path=path
        )
    table = read_texts(path, text_column=field or "text")
    seeds: list[_Seed] = []
    left_out: Counter = Counter()
    seen: set[str] = set()
    name = Path(path).name
    for text, row in zip(table.texts, table.rows):
        text = text.strip()
        if not text or text in seen:
            continue
        seen.add(text)
        shell = from_shell or guess_shell(text)
        if shell not in shells:
            left_out[shell] += 1
            continue
        seeds.append(_Seed(text, shell, f"{name}:{row}", path))
    if not seeds:
        shown = ", ".join(f"{n} {s}" for s, n in sorted(left_out.items()))
        raise SectuneError(
            f"no usable lines (shells guessed: {shown}; --shells is {','.join(shells)})"
            if left_out
            else "no usable lines",
            path=path,
        )
    return seeds, left_out


def _template_seeds(k: int, shells: list[str], rng: random.Random, avoid: set[str]) -> list[_Seed]:
    if k <= 0:
        return []
    lines: list[BenignLine] = generate_benign(k + len(avoid), shells, rng)
    return [_Seed(line.text, line.shell, line.seed_id, "templates") for line in lines if line.text not in avoid][:k]


# --- output ------------------------------------------------------------------------------------------------


def output_format(path: str | Path) -> str:
    """jsonl, jsonl.gz, csv, csv.gz or parquet from the file name, so a bad name fails before any work."""
    name = Path(path).name.lower()
    for suffix in sorted(_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return _FORMATS[suffix]
    raise SectuneError("unknown output format (expected .jsonl, .jsonl.gz, .csv, .csv.gz or .parquet)", path=path)


def write_records(records: list[dict], path: str | Path) -> None:
    """Write the records atomically; the format follows the file name."""
    import orjson

    from sectune.io import atomic_write

    fmt = output_format(path)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema(
            [
                ("text", pa.string()),
                ("label", pa.int8()),
                ("shell", pa.string()),
                ("technique", pa.string()),
                ("intensity", pa.string()),
                ("orig", pa.string()),
                ("seed_id", pa.string()),
            ]
        )
        table = pa.Table.from_pylist(records, schema=schema)
        with atomic_write(path, "wb") as fh:
            pq.write_table(table, fh, compression="zstd")
        return
    with atomic_write(path, "wb") as fh:
        sink = gzip.GzipFile(filename="", mode="wb", fileobj=fh, mtime=0) if fmt.endswith(".gz") else fh
        try:
            if fmt.startswith("jsonl"):
                for start in range(0, len(records), 5000):
                    sink.write(
                        b"".join(
                            orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in records[start : start + 5000]
                        )
                    )
            else:
                import csv

                text = io.TextIOWrapper(sink, encoding="utf-8", newline="")
                writer = csv.DictWriter(text, fieldnames=FIELDS, lineterminator="\n")
                writer.writeheader()
                writer.writerows(records)
                text.flush()
                text.detach()
        finally:
            if sink is not fh:
                sink.close()


# --- building ----------------------------------------------------------------------------------------------


@dataclass
class CmdlineDataset:
    """What ``build_cmdline_dataset`` made: the records (also when written), counts and the printed summary."""

    records: list[dict]
    output: str | None
    seeds_from_templates: int
    seeds_from_file: int
    counts: Counter = dataclass_field(default_factory=Counter)  # (shell, technique) -> records
    notes: list[str] = dataclass_field(default_factory=list)
    text: str = ""

    def __str__(self) -> str:
        return self.text


def _check_args(n: int, obfuscated_share: float, intensities: Sequence[str]) -> list[str]:
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise SectuneError(f"--n must be a positive number of records, got {n!r}")
    if not isinstance(obfuscated_share, (int, float)) or not 0.0 <= obfuscated_share < 1.0:
        raise SectuneError(f"--obfuscated must be a share in [0, 1), got {obfuscated_share!r}")
    chosen = list(dict.fromkeys(i.strip().lower() for i in intensities if i.strip()))
    bad = [i for i in chosen if i not in INTENSITIES]
    if bad or not chosen:
        raise SectuneError(f"unknown intensity {(bad or [''])[0]!r}; valid: {', '.join(INTENSITIES)}")
    return chosen


MAX_LENGTH = 4096  # longer variants are redrawn: process-creation logs truncate (and detectors read) about this much


LAUNCHED_SHARE = 0.25  # of template PowerShell records, benign and obfuscated alike
_LAUNCHERS = ("powershell.exe", "powershell", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe", "pwsh")
_LAUNCH_OPTIONS = (
    ("-NoProfile", "-NoP", "-nop"),
    ("-NonInteractive", "-NonI"),
    ("-ExecutionPolicy Bypass", "-ep bypass", "-Exec Bypass", "-ExecutionPolicy RemoteSigned"),
    ("-WindowStyle Hidden", "-w hidden"),
    ("-NoLogo",),
)


def _launcher(seed: "_Seed", rng: random.Random) -> str | None:
    """For :data:`LAUNCHED_SHARE` of the template PowerShell seeds, how powershell.exe is started for the seed and
    all its variants: some of the usual options, then ``-Command``; else None."""
    if seed.shell != "powershell" or seed.source != "templates" or rng.random() >= LAUNCHED_SHARE:
        return None
    options = [rng.choice(group) for group in _LAUNCH_OPTIONS if rng.random() < 0.5]
    return " ".join([rng.choice(_LAUNCHERS), *options, rng.choice(["-Command", "-command", "-c"])])


def _launched(record: dict, launcher: str | None) -> dict:
    """The record as a process-creation log shows it, ``launcher "<text>"`` (inner quotes as ``\\"``), and its
    group's ``orig`` the launched seed; a line that starts PowerShell itself is left as it is."""
    if launcher is None:
        return record

    def launch(text: str) -> str:
        if text.lstrip().lower().startswith(("powershell", "pwsh")):
            return text
        return launcher + ' "' + text.replace('"', '\\"') + '"'

    return {**record, "text": launch(record["text"]), "orig": launch(record["orig"])}


def _variants(
    seed: _Seed, k: int, intensities: list[str], rng: random.Random, obfuscator: Callable, seen: set[str]
) -> list[dict]:
    """Up to ``k`` distinct obfuscated records of one seed (a technique may not fit the line: then fewer)."""
    out: list[dict] = []
    for _ in range(_ATTEMPTS_PER_VARIANT * k):
        if len(out) == k:
            break
        intensity = rng.choice(intensities)
        try:
            result = obfuscator(seed.text, seed.shell, intensity=intensity, rng=random.Random(rng.getrandbits(64)))
        except SectuneError:
            continue
        if result.text == seed.text or result.text in seen or len(result.text) > MAX_LENGTH:
            continue
        seen.add(result.text)
        out.append(
            {
                "text": result.text,
                "label": 1,
                "shell": seed.shell,
                "technique": ">".join(result.techniques),
                "intensity": intensity,
                "orig": seed.text,
                "seed_id": seed.seed_id,
            }
        )
    return out


def build_cmdline_dataset(
    shells: Sequence[str] = SHELLS,
    n: int = 20000,
    obfuscated_share: float = 0.5,
    seed: int = 0,
    output: str | Path | None = None,
    from_file: str | Path | None = None,
    field: str | None = None,
    intensities: Sequence[str] = INTENSITIES,
    progress: bool = True,
    *,
    from_only: bool = False,
    from_shell: str | None = None,
    obfuscator: Callable | None = None,
) -> CmdlineDataset:
    """About ``n`` records, ``obfuscated_share`` of them obfuscated, grouped by their benign seed line.

    Seeds come from the templates, from ``from_file`` beside them (used first, up to the number of benign
    records), or only from ``from_file`` (``from_only``; with fewer lines than benign records wanted, the total
    shrinks to keep the share). Each seed gives one benign record and ``share / (1 - share)`` obfuscated variants
    on average (e.g. 1 at 0.5, 3 at 0.75), each at an intensity drawn from ``intensities`` with random
    techniques. ``obfuscator`` replaces the engine's ``obfuscate`` (tests). The same arguments give the same file.
    """
    shells = check_shells(list(shells))
    intensities = _check_args(n, obfuscated_share, intensities)
    if output is not None:
        output_format(output)
        check_output_file(output, inputs=[from_file])
    if from_shell is not None:
        from_shell = from_shell.strip().lower()
        check_shells([from_shell])
        if from_shell not in shells:
            raise SectuneError(f"--from-shell {from_shell} is not one of --shells {','.join(shells)}")
    if from_file is None and (from_only or field or from_shell):
        raise SectuneError("--from-only, --field and --from-shell need --from FILE")
    if obfuscator is None and obfuscated_share > 0:
        obfuscator = _engine().obfuscate
    rng = random.Random(f"sectune-cmdline:{seed}")
    launch_rng = random.Random(f"sectune-cmdline-launch:{seed}")  # its own stream: the lines drawn stay the same
    launchers: dict[str, str | None] = {}  # seed_id -> how that seed's group is started (None: as written)
    notes: list[str] = []

    benign_wanted = max(1, round(n * (1 - obfuscated_share)))
    user: list[_Seed] = []
    if from_file is not None:
        user, left_out = _user_seeds(str(from_file), field, from_shell, shells)
        if left_out:
            notes.append(
                f"{sum(left_out.values()):,} lines of {from_file} left out: their shell "
                f"({', '.join(f'{s} {c:,}' for s, c in sorted(left_out.items()))}) is not in --shells"
            )
        if len(user) > benign_wanted:
            notes.append(f"{benign_wanted:,} of the {len(user):,} lines of {from_file} used (--n {n:,})")
            user = rng.sample(user, benign_wanted)
    if from_only:
        if len(user) < benign_wanted:
            notes.append(
                f"only {len(user):,} usable lines in {from_file}: {len(user):,} benign records instead of {benign_wanted:,}"
            )
        seeds = user
        obfuscated_wanted = round(len(seeds) * obfuscated_share / (1 - obfuscated_share))
    else:
        seeds = user + _template_seeds(benign_wanted - len(user), shells, rng, {s.text for s in user})
        obfuscated_wanted = n - len(seeds)
    rng.shuffle(seeds)

    per_seed = [obfuscated_wanted // len(seeds)] * len(seeds)
    for i in rng.sample(range(len(seeds)), obfuscated_wanted % len(seeds)):
        per_seed[i] += 1
    records: list[dict] = []
    seen = {s.text for s in seeds}
    owed = 0  # variants a seed could not give, asked of the next ones
    from tqdm import tqdm

    with tqdm(
        total=len(seeds),
        desc="cmdline",
        unit="seed",
        file=sys.stderr,
        disable=not progress,
        leave=False,
        mininterval=0.5,
    ) as bar:
        for s, k in zip(seeds, per_seed):
            benign = {
                "text": s.text,
                "label": 0,
                "shell": s.shell,
                "technique": "benign",
                "intensity": None,
                "orig": s.text,
                "seed_id": s.seed_id,
            }
            launchers[s.seed_id] = _launcher(s, launch_rng)
            records.append(_launched(benign, launchers[s.seed_id]))
            want = k + owed
            made = _variants(s, want, intensities, rng, obfuscator, seen) if want else []
            owed = want - len(made)
            records.extend(_launched(r, launchers[s.seed_id]) for r in made)
            bar.update(1)
    while owed:  # what the last seeds could not give: one more variant from each seed in turn, while any can
        before = owed
        for s in seeds:
            if owed:
                made = _variants(s, 1, intensities, rng, obfuscator, seen)
                owed -= len(made)
                records.extend(_launched(r, launchers[s.seed_id]) for r in made)
        if owed == before:
            break
    if owed:
        notes.append(f"{owed:,} obfuscated variants fewer than asked: no technique fitted some lines")
    rng.shuffle(records)

    if output is not None:
        write_records(records, output)
    result = CmdlineDataset(
        records,
        None if output is None else str(output),
        sum(s.source == "templates" for s in seeds),
        sum(s.source != "templates" for s in seeds),
        notes=notes,
    )
    result.counts = Counter((r["shell"], r["technique"]) for r in records)
    result.text = _summary(result, from_file)
    return result


def _summary(result: CmdlineDataset, from_file: str | Path | None) -> str:
    records = result.records
    obfuscated = sum(r["label"] for r in records)
    source = f"{result.seeds_from_templates:,} from the templates"
    if from_file is not None:
        source += f", {result.seeds_from_file:,} from {from_file}"
    lines = [
        f"{len(records):,} records: {len(records) - obfuscated:,} benign, {obfuscated:,} obfuscated "
        f"({obfuscated / max(1, len(records)):.1%}); seed lines: {source}"
    ]
    lines += [f"note: {note}" for note in result.notes]
    if result.output:
        lines.append(f"written to {result.output}")

    shells = [s for s in SHELLS if any(r["shell"] == s for r in records)]
    by_intensity = Counter((r["shell"], r["intensity"] or "benign") for r in records)
    columns = ["benign", *INTENSITIES]
    lines += ["", "| shell | " + " | ".join(columns) + " | total |", "|---|" + "---:|" * (len(columns) + 1)]
    for shell in shells:
        cells = [by_intensity[(shell, c)] for c in columns]
        lines.append(f"| {shell} | " + " | ".join(f"{c:,}" for c in cells) + f" | {sum(cells):,} |")

    alone: Counter = Counter()
    chained: Counter = Counter()
    depth: Counter = Counter()
    for (shell, technique), count in result.counts.items():
        names = technique.split(">")
        if technique != "benign":
            depth[(shell, len(names))] += count
        for name in names:
            (alone if len(names) == 1 else chained)[(shell, name)] += count
    lines += ["", "| shell | technique | alone | in a chain |", "|---|---|---:|---:|"]
    for shell in shells:
        names = sorted({name for (s, name) in alone | chained if s == shell}, key=lambda x: (x != "benign", x))
        for name in names:
            lines.append(f"| {shell} | {name} | {alone[(shell, name)]:,} | {chained[(shell, name)]:,} |")
    chains = [
        f"{shell} " + ", ".join(f"{depth[(shell, k)]:,} x {k}" for k in sorted(k for (s, k) in depth if s == shell))
        for shell in shells
        if any(s == shell for (s, _) in depth)
    ]
    if chains:
        lines += ["", "obfuscated records by number of techniques: " + "; ".join(chains)]
    return "\n".join(lines) + "\n"


# --- command line ------------------------------------------------------------------------------------------


def add_cmdline_parser(data_subparsers) -> argparse.ArgumentParser:
    """``sectune data cmdline``: add the sub-command to ``sectune data``'s sub-parsers."""
    p = data_subparsers.add_parser(
        "cmdline",
        help="benign and obfuscated command lines (bash, cmd, PowerShell) grouped by their seed line",
        description="Generate benign command lines from templates (and/or your own --from lines) and obfuscated "
        "variants of them. Records: text, label (1 = obfuscated), shell, technique, intensity, orig, seed_id; "
        "split by orig (--split group:orig) so a line and its variants stay on one side.",
    )
    p.add_argument(
        "--shells", default=",".join(SHELLS), help="comma-separated: bash,cmd,powershell (default: all three)"
    )
    p.add_argument("--n", type=int, default=20000, help="number of records (default 20000)")
    p.add_argument(
        "--obfuscated",
        type=float,
        default=0.5,
        metavar="SHARE",
        help="share of obfuscated records, in [0, 1) (default 0.5)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0): the same seed gives the same file")
    p.add_argument(
        "--output", "-o", help="file to write: .jsonl, .jsonl.gz, .csv, .csv.gz or .parquet (written atomically)"
    )
    p.add_argument(
        "--from",
        dest="from_file",
        metavar="FILE",
        help="your own benign lines: one a line, or JSONL/CSV/Parquet with --field",
    )
    p.add_argument("--field", help="the column of --from that holds the command line (default: text)")
    p.add_argument("--from-only", action="store_true", help="seed only from --from, not from the templates")
    p.add_argument(
        "--from-shell",
        choices=SHELLS,
        metavar="SHELL",
        help="the shell of every --from line (default: guessed per line)",
    )
    p.add_argument(
        "--intensities", default=",".join(INTENSITIES), help="comma-separated: light,medium,heavy (default: all three)"
    )
    p.add_argument(
        "--list-techniques",
        action="store_true",
        help="print the obfuscation techniques (name, family, description) and exit",
    )
    return p


def run_cmdline_command(args: argparse.Namespace) -> int:
    """Run ``sectune data cmdline`` from parsed arguments; prints the summary (or the technique list)."""
    if args.list_techniques:
        sys.stdout.write(list_techniques())
        return 0
    if not args.output:
        raise SectuneError("data cmdline needs --output FILE (.jsonl, .jsonl.gz, .csv, .csv.gz or .parquet)")
    result = build_cmdline_dataset(
        shells=args.shells.split(","),
        n=args.n,
        obfuscated_share=args.obfuscated,
        seed=args.seed,
        output=args.output,
        from_file=args.from_file,
        field=args.field,
        intensities=args.intensities.split(","),
        progress=not getattr(args, "quiet", False),
        from_only=args.from_only,
        from_shell=args.from_shell,
    )
    sys.stdout.write(result.text)
    return 0
