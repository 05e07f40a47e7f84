"""What ``sectune explain`` says about one line of each obfuscation technique family (issue 16).

Trains ``shell-features`` on generated command lines (``sectune data cmdline``, seed 0), then for every
technique family takes the first light test line of that family and prints ``sectune explain``'s output:
the score, the verdict at the stored threshold and the reasons, in words. The point is what an analyst
reads, not a score: a rung that says "caret inside w^inword removed -> winword" instead of "odd characters".

    python bench/explain_families.py --markdown BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_line, update_markdown, versions  # noqa: E402

SECTION = "## What explain says per technique family (bench/explain_families.py)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="generated lines to train on")
    parser.add_argument("--method", default="shell-features")
    parser.add_argument("--markdown", help="write the block into this file")
    args = parser.parse_args(argv)

    from sectune.api import train
    from sectune.cli import main as sectune_main
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset, write_records
    from sectune.tasks.cmdline.families import technique_families

    machine, started = machine_line(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "train.jsonl"
        write_records(build_cmdline_dataset(n=args.n, seed=0, progress=False).records, data)
        result = train(data, output=work / "model", method=args.method, task="cmdline", verbose=False)
        test = build_cmdline_dataset(n=1500, seed=1, intensities=["light"], progress=False).records
        first: dict[str, str] = {}
        for record in test:
            if record["label"] == 1 and ">" not in record["technique"] and len(record["text"]) < 200:
                for family in technique_families(record["technique"]):
                    first.setdefault(family, record["text"])
        blocks = []
        for family, line in sorted(first.items()):
            captured = io.StringIO()
            with contextlib.redirect_stdout(captured):
                sectune_main(["--quiet", "explain", str(work / "model"), line, "--top", "4"])
            blocks.append(f"**{family}**: `{line}`\n\n```\n{captured.getvalue().rstrip()}\n```\n")
    block = "\n".join(
        [
            f"- command: `python bench/explain_families.py --n {args.n} --method {args.method}`; date: {started}",
            f"- machine: {machine}; {versions()}",
            f"- model: `{args.method}` trained on {args.n:,} generated lines (seed 0), task cmdline, threshold "
            f"{result.model.threshold_:.4g}; lines: the first light, single-technique test line under 200 characters "
            "of each family (seed 1)",
            "",
            *blocks,
        ]
    )
    print(block)
    if args.markdown:
        update_markdown(Path(args.markdown), SECTION, "bench/explain_families.py", block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
