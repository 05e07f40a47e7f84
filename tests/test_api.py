"""The README's Python API, run as written in one fresh interpreter (the order of imports matters:
a submodule once shadowed ``sectune.evaluate``), and what a run records about its base model."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import make_texts

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python_block() -> str:
    """The block under '## The Python API', without its last line (a 500-step encoder fine-tune)."""
    section = README.read_text(encoding="utf-8").split("## The Python API", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    lines = code.rstrip().splitlines()
    assert lines[-1].startswith("EncoderClassifier("), "the block's last line changed: update this test"
    return "\n".join(lines[:-1]) + "\n"


def write(path: Path, n: int, seed: int) -> None:
    texts, labels = make_texts(n, seed=seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["message", "verdict"])
        writer.writerows(zip(texts, labels))


def test_readme_python_api_runs_in_one_process(tmp_path):
    write(tmp_path / "alerts.csv", 12, seed=0)
    write(tmp_path / "holdout.csv", 4, seed=1)
    script = readme_python_block() + "print('EVALUATE', type(sectune.evaluate).__name__)\n"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout.splitlines()
    assert "EVALUATE function" in out
    macro_f1 = float(out[1])  # evaluate's macro-F1 on the holdout: words that give the class away
    assert macro_f1 > 0.5
    predictions = out[2]
    assert "'label'" in predictions and "'score'" in predictions


def test_each_method_records_its_own_default_base_model(tmp_path):
    from sectune.methods.causal_llm import CausalLLMClassifier
    from sectune.methods.embed import EmbedLogreg
    from sectune.methods.encoder import EncoderClassifier
    from sectune.methods.tfidf import TfidfLogreg
    from sectune.models import DEFAULT_CAUSAL_LM_LABEL, DEFAULT_ENCODER_LABEL

    assert CausalLLMClassifier.tags.default_base_model == DEFAULT_CAUSAL_LM_LABEL
    assert EncoderClassifier.tags.default_base_model == EmbedLogreg.tags.default_base_model == DEFAULT_ENCODER_LABEL
    assert TfidfLogreg.tags.default_base_model is None

    import sectune

    data = tmp_path / "d.csv"
    write(data, 10, seed=0)
    result = sectune.train(
        data,
        output=tmp_path / "llm",
        method="causal-llm",
        zero_shot=True,
        text_column="message",
        label_column="verdict",
    )
    info = json.loads((result.output / "sectune.json").read_text())
    assert info["run"]["base_model"] == DEFAULT_CAUSAL_LM_LABEL
    assert "MiniLM" not in (result.output / "README.md").read_text()
