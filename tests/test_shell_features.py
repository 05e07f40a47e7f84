"""shell-features: the method contract, explanations, scan's normalised alerts, and a leave-one-family-out
comparison with features-logreg on generated data (numbers printed with ``-s``; run this file as a script for
the full table: ``.venv/bin/python tests/test_shell_features.py 3000``)."""

from __future__ import annotations

import json
import sys
import zlib

import numpy as np

from sectune.errors import SectuneError
from sectune.methods.features import FeaturesLogreg, extract_features
from sectune.methods.shell_features import (
    ALL_SHELL_FEATURES,
    SHELL_FEATURE_NAMES,
    ShellFeaturesLogreg,
    obscured_names,
    program_cased_oddly,
    shell_features,
    unnatural_case,
    unreadable_commands,
)
from sectune.tasks.cmdline.normalize import normalize
from sectune.testing import check_method

BENIGN = ["net user", "whoami /all", "ipconfig /all", "cat /etc/passwd", "ls -la /tmp", "Get-Process", "echo hi"]
OBFUSCATED = [
    "n^e^t u^s^e^r",
    'w"h"o"a"mi /all',
    "%COMSPEC:~-7,1%md /c whoami",
    "c''at /e\\tc/pa\\sswd",
    "echo bHMgLWxhIC90bXA= | base64 -d | bash",
    "powershell -ec RwBlAHQALQBQAHIAbwBjAGUAcwBzAA==",
    "&('Get-Pr'+'ocess')",
]


def _fit(cls=ShellFeaturesLogreg, **params):
    return cls(verbose=False, **params).fit(BENIGN + OBFUSCATED, ["benign"] * len(BENIGN) + ["obf"] * len(OBFUSCATED))


def test_contract_of_the_method_and_of_the_stacked_option():
    check_method(ShellFeaturesLogreg)
    check_method(FeaturesLogreg, shell_features=True)


def test_features_have_names_descriptions_and_shape():
    assert len(SHELL_FEATURE_NAMES) == len(set(SHELL_FEATURE_NAMES)) and all(d for _, d in ALL_SHELL_FEATURES)
    rows = shell_features(["n^e^t user", "net user", ""])
    assert rows.shape == (3, len(ALL_SHELL_FEATURES)) and np.isfinite(rows).all()
    col = {n: i for i, n in enumerate(SHELL_FEATURE_NAMES)}
    assert rows[0, col["step:caret"]] > 0 and rows[1, col["step:caret"]] == 0
    assert rows[0, col["changed"]] == 1 and rows[1, col["changed"]] == 0
    enc = shell_features(["powershell -ec RwBlAHQALQBQAHIAbwBjAGUAcwBzAA=="])[0]
    assert enc[col["encoded_payload"]] == 1 and enc[col["layers"]] >= 1


def test_case_no_one_types_by_hand_is_told_from_the_case_people_use():
    typed = ["net", "NET", "Get-ChildItem", "IPConfig", "GetADUser", "CertUtil", "PSExec", "MpCmdRun", "URLs", "AsJob"]
    typed += ["hToken", "appId", "dQUIET"]
    random_case = ["reN", "coMpacT", "ROUTe", "sQLCMd", "PrOceSs", "WrITe", "ReSOlVe"]
    assert not any(map(unnatural_case, typed)) and all(map(unnatural_case, random_case))


def test_a_program_name_in_a_case_its_users_do_not_type_is_told_apart():
    """Random case of a command name that unnatural_case's shapes let through (PiNG has WinRM's shape)."""
    typed = ["ping", "PING", "Ping", "IPConfig", "CertUtil", "WinRM", "PsExec", "Restart-Service", "restart-service"]
    typed += ["Get-ADUser", "git", "Pwsh", "C:\\Tools\\x.exe", "./run.sh", "logoutAndReboot", "npmInstall"]
    odd = ["PiNG", "ecHo", "xcoPY", "sC", "reStArt-serVice", "sort-Object", "myScRIPt"]
    assert not any(map(program_cased_oddly, typed)) and all(map(program_cased_oddly, odd))
    col = SHELL_FEATURE_NAMES.index("case_unnatural")
    rows = shell_features(["reStArt-serVice -Name wuauserv", "Restart-Service -Name wuauserv", "PiNG SQL-01"])
    assert rows[0, col] > 0 and rows[1, col] == 0 and rows[2, col] > 0
    assert obscured_names(normalize("reStArt-serVice -Name wuauserv")) == ["restart-service"]
    assert program_cased_oddly("RESTaRt-Service") and not program_cased_oddly("RESTART-SERVICE")  # verb's spelling
    blob = "Set-Content -Path C:\\certs\\ca.b64 -Value 'MIJK3DqQXRD8uSpLCufDh3dMg8NLDVXguuvhlYnn1NrbegPK'"
    assert shell_features([blob])[0, col] == 0  # base64 data has no case to type
    # a short option's case is its meaning: flag bundles and documented abbreviations are typed so
    bundles = [
        "curl -fsSL https://get.example.org | sh",
        "grep -aHn listen src",
        "repadmin /syncall /AdeP",
        "pwsh -NoP",
    ]
    assert not shell_features(bundles)[:, col].any()
    assert all(obscured_names(normalize(line)) == [] for line in bundles)
    assert shell_features(["netstat -aNo & Get-PrOceSs"])[0, col] > 0  # a long word's random case still counts


def test_shell_features_are_penalised_apart_from_the_normal_forms_statistics():
    """shell_C sets the L2 strength of the shell features, C that of the normal form's character statistics:
    with shell_C = C the model is the one-C model; a larger shell_C lets the shell features weigh more."""
    texts, labels = BENIGN + OBFUSCATED, ["benign"] * len(BENIGN) + ["obf"] * len(OBFUSCATED)
    one_c = ShellFeaturesLogreg(verbose=False, C=0.01, shell_C=0.01).fit(texts, labels)
    two_c = ShellFeaturesLogreg(verbose=False, C=0.01, shell_C=1.0).fit(texts, labels)
    shell = np.array([not n.startswith("normal:") for n in SHELL_FEATURE_NAMES])
    raw = shell_features(texts)
    assert np.allclose(one_c.scale_, np.where(raw.std(axis=0) > 1e-12, raw.std(axis=0), 1.0))
    assert np.allclose(two_c.scale_[shell] * 10, one_c.scale_[shell]) and np.allclose(
        two_c.scale_[~shell], one_c.scale_[~shell]
    )
    weight = {m: np.abs(m.head_.coef_.ravel() / m.scale_)[shell].sum() for m in (one_c, two_c)}
    assert weight[two_c] > weight[one_c]
    assert "shell_C" in ShellFeaturesLogreg.param_names()


def test_names_obscured_is_one_feature_for_every_disguise_of_a_name():
    """A program or option the shell runs but the line does not write plainly, whatever the technique: the
    family-independent signal that carries to techniques training never saw."""
    disguised = {
        'g""rep -rl listen .': ["grep"],
        'tas"k"kil""l /im w3wp.exe': ["taskkill"],
        "ROUTe print": ["route"],
        "t=TERRAFORM;${t,,} apply": ["terraform"],
        "Stop-PrOceSs -Name explorer": ["stop-process"],
        "netstat \u2014ano": ["-ano"],
        'certutil /u"p"dateIns""talled': ["/updateinstalled"],
        "d\\ig @10.0.0.53 corp.example.com MX": ["dig"],
    }
    for line, names in disguised.items():
        assert obscured_names(normalize(line)) == names, line
    plain = [
        "grep -rl listen .",
        "Stop-Process -Name explorer -Force",
        "Get-Process | where {$_.CPU -gt 1} | select Name",
        '"C:\\Program Files\\Foo\\bar.exe" /x',
        "cut -d' ' -f1 log | sort | uniq -c",
        'cmd /c "dir & echo hi"',
        "cd \\Windows\\Temp",
        "\\dig @10.0.0.53 corp.example.com MX",  # one backslash before a name skips its alias: a habit
    ]
    plain.append('"C:\\Apps\\Zoom.exe" "--url=zoommtg://zoom.us/join"')  # an option quoted whole
    assert all(obscured_names(normalize(line)) == [] for line in plain)
    col = SHELL_FEATURE_NAMES.index("names_obscured")
    assert shell_features(['g""rep x'])[0, col] > 0 and shell_features(["grep x"])[0, col] == 0
    padding = SHELL_FEATURE_NAMES.index("step:null")  # leading , ; pad a cmd line as ${IFS} pads a bash one
    assert (
        shell_features([";;netsh interface show"])[0, padding]
        > 0
        == shell_features(["netsh interface show"])[0, padding]
    )


def test_each_kind_of_disguise_sums_its_families_so_a_new_family_shares_its_weight():
    """kind:dropped fires for carets, quotes and backslashes alike; kind:respelt for a path detour; a plain line
    has none; and explain names the steps behind a kind."""
    kinds = [SHELL_FEATURE_NAMES.index(f"kind:{kind}") for kind in ("dropped", "computed", "respelt")]
    rows = shell_features(["n^e^t us^er", 'g""rep x', "c\\at a", "a=ca;b=t;$a$b x", "type C:\\a\\..\\win.ini", "ls -l"])
    assert (rows[:3, kinds[0]] > 0).all() and (rows[3:, kinds[0]] == 0).all()
    assert rows[3, kinds[1]] > 0 and rows[4, kinds[2]] > 0
    assert not rows[5, kinds].any()
    disguises = rows[:, SHELL_FEATURE_NAMES.index("disguises")]
    assert disguises[5] == 0 and (disguises[:5] >= 1).all()
    case_only = shell_features(["PiNG x", "Ping x"])[:, SHELL_FEATURE_NAMES.index("disguises")]
    assert case_only[0] >= 1 and case_only[1] == 0  # case alone counts, as people type it not
    step = SHELL_FEATURE_NAMES.index("step:caret")
    assert rows[0, kinds[0]] == rows[0, step]  # one family: the kind is its count
    model = _fit()
    said = {name: value for name, value, _ in model.explain("w^in^word /q", top=len(SHELL_FEATURE_NAMES))}
    assert said["kind:dropped"] == "caret inside w^in^word removed -> winword"


def test_powershell_parts_built_in_place_count_as_the_kinds_other_tools_taught():
    """Invoke-PSObfuscation's comments and no-op stages are dropped characters (as carets and ${IFS} are), a
    command found by wildcard is a respelt name (as a bash glob is), a name picked out of an alphabet is computed."""
    kinds = {kind: SHELL_FEATURE_NAMES.index(f"kind:{kind}") for kind in ("dropped", "computed", "respelt")}
    rows = shell_features(
        [
            "Get-Process <#x#> lsass |%{$_}| Stop-Process",
            "&(gcm I*e-W*t) -Uri http://x",
            "& ((\"Wxq-ohmabi\")[0,5,4,7,6,9] -join '') /all",
            "Get-Process lsass | Stop-Process",
        ]
    )
    assert rows[0, SHELL_FEATURE_NAMES.index("step:null")] > 0 and rows[0, kinds["dropped"]] > 0
    assert rows[1, SHELL_FEATURE_NAMES.index("step:globs")] > 0 and rows[1, kinds["respelt"]] > 0
    assert rows[2, SHELL_FEATURE_NAMES.index("step:folded")] > 0 and rows[2, kinds["computed"]] > 0
    assert not rows[3, list(kinds.values())].any()


def test_every_step_the_normaliser_reports_on_the_engine_belongs_to_a_family():
    """A step no family counts is invisible to the model but through log_steps (tr, rev and SecureString were)."""
    from sectune.methods.shell_features import STEP_FAMILIES
    from sectune.tasks.cmdline.obfuscate import INTENSITIES, obfuscate, techniques

    seeds = {"bash": "cat /etc/passwd", "cmd": "net user admin /add", "powershell": "Get-Process | Stop-Process"}
    keys = [key for _name, _desc, family_keys in STEP_FAMILIES for key in family_keys]
    unmapped = set()
    for technique in techniques():
        for intensity in INTENSITIES:
            try:
                text = obfuscate(seeds[technique.shell], technique.shell, [technique.name], intensity, rng=3).text
            except SectuneError:
                continue
            for step in normalize(text).steps:
                if not any(key in step.lower() for key in keys) and "parse" not in step and "bound" not in step:
                    unmapped.add((technique.name, step))
    assert not unmapped, sorted(unmapped)[:10]


def test_a_command_with_no_readable_name_is_counted_whatever_the_tool():
    unreadable = ["$__ -c id", "${_} x", "a=$1; $a /etc/passwd", "/???/?[a-z]??/[!x]* -l", "echo $($y)"]
    readable = ["[[ -f a ]] && cat a", "x=1; echo $x", "$(date +%F)", "find . -name '*.log' | xargs rm"]
    assert all(unreadable_commands(normalize(line, "bash")) for line in unreadable)
    assert not any(unreadable_commands(normalize(line, "bash")) for line in readable)
    assert (
        unreadable_commands(normalize("$x = Get-Date; $x.AddDays(1)", "powershell")) == []
    )  # how PowerShell is written


def test_explain_gives_readable_reasons():
    model = _fit()
    reasons = {name: value for name, value, _ in model.explain("w^in^word /q", top=len(SHELL_FEATURE_NAMES))}
    assert reasons["step:caret"] == "caret inside w^in^word removed -> winword"
    stacked = _fit(FeaturesLogreg, shell_features=True)
    names = [name for name, _, _ in stacked.explain("n^e^t user", top=500)]
    assert "log_caret_in_word" in names and "step:caret" in names


def test_stacked_flag_is_generated_and_the_model_round_trips(tmp_path):
    from sectune.methods.base import load

    assert "shell_features" in FeaturesLogreg.param_names()
    model = _fit(FeaturesLogreg, shell_features=True)
    model.save_pretrained(tmp_path / "m")
    again = load(tmp_path / "m", verbose=False)
    assert again.shell_features is True
    assert np.allclose(again.predict_proba(OBFUSCATED), model.predict_proba(OBFUSCATED))


def test_scan_alerts_carry_the_normalized_line(tmp_path):
    from sectune.scan import scan

    model = _fit()
    log = tmp_path / "log.txt"
    log.write_text("\n".join(OBFUSCATED) + "\n", encoding="utf-8")
    out = tmp_path / "alerts.jsonl"
    scan(model, log, output=out, threshold=0.0)
    alerts = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(alerts) == len(OBFUSCATED)
    by_line = {a["command_line"]: a["normalized"] for a in alerts}
    assert by_line["n^e^t u^s^e^r"] == "net user"
    assert by_line["powershell -ec RwBlAHQALQBQAHIAbwBjAGUAcwBzAA=="] == "get-process"


def test_cli_trains_and_predicts_with_shell_features(tmp_path, capsys):
    from sectune.cli import main
    from sectune.settings import method_settings

    assert method_settings()["shell_features"].flag == "--shell-features"
    data = tmp_path / "train.jsonl"
    rows = [{"text": t, "label": "benign"} for t in BENIGN * 3] + [{"text": t, "label": "obf"} for t in OBFUSCATED * 3]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    model = tmp_path / "m"
    assert main(["train", str(data), "--method", "shell-features", "--output", str(model)]) == 0
    texts = tmp_path / "in.txt"
    texts.write_text("n^e^t user\nnet user\n", encoding="utf-8")
    assert main(["predict", str(model), str(texts), "--output", str(tmp_path / "p.jsonl")]) == 0
    assert len((tmp_path / "p.jsonl").read_text().splitlines()) == 2
    capsys.readouterr()


# --- leave one family out -------------------------------------------------------------------------------------
def leave_one_family_out(n: int = 3000, seed: int = 0) -> dict[str, dict[str, tuple[float, float, int]]]:
    """Per held-out family: {method: (recall at 0.5 on the family's obfuscated lines, FPR on held-out benign, n)}.

    Training sees benign lines of 70% of the seeds and the obfuscated lines of every other family; the test holds
    the family's obfuscated lines and the benign lines of the other 30% of the seeds.
    """
    from sectune.methods.linear import fit_logreg
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset
    from sectune.tasks.cmdline.families import technique_families

    records = build_cmdline_dataset(n=n, seed=seed, progress=False).records
    texts = [r["text"] for r in records]
    labels = np.array([r["label"] for r in records])
    fams = [technique_families(r["technique"]) if r["label"] else set() for r in records]
    test_seed = np.array([zlib.crc32(r["seed_id"].encode()) % 10 < 3 for r in records])
    literal = extract_features(texts)
    shell = shell_features(texts)
    matrices = {"features-logreg": literal, "shell-features": shell, "features+shell": np.hstack([literal, shell])}
    out: dict[str, dict[str, tuple[float, float, int]]] = {}
    for family in sorted(set().union(*fams)):
        held = np.array([family in f for f in fams])
        train = (~held) & ((labels == 1) | ~test_seed)
        benign_test = (labels == 0) & test_seed
        out[family] = {}
        for name, x in matrices.items():
            mean, scale = x[train].mean(0), x[train].std(0)
            scale = np.where(scale > 1e-12, scale, 1.0)
            head = fit_logreg(
                (x[train] - mean) / scale,
                labels[train].astype(str).tolist(),
                C=1.0,
                max_iter=2000,
                class_weight=None,
                seed=42,
            )
            p_held = head.predict_proba((x[held] - mean) / scale)[:, 1]
            p_benign = head.predict_proba((x[benign_test] - mean) / scale)[:, 1]
            out[family][name] = (float((p_held >= 0.5).mean()), float((p_benign >= 0.5).mean()), int(held.sum()))
    return out


def _table(results) -> str:
    names = list(next(iter(results.values())))
    lines = [f"{'held-out family':16s} {'n':>5s} " + " ".join(f"{m:>22s}" for m in names)]
    for family, row in results.items():
        cells = " ".join(f"{'recall %.2f fpr %.2f' % row[m][:2]:>22s}" for m in names)
        lines.append(f"{family:16s} {row[names[0]][2]:5d} {cells}")
    mean = {m: np.mean([r[m][0] for r in results.values()]) for m in names}
    lines.append("mean recall      " + "      " + " ".join(f"{mean[m]:22.3f}" for m in names))
    return "\n".join(lines)


def test_leave_one_family_out_shell_features_match_or_beat_character_statistics(capsys):
    results = leave_one_family_out(n=2000)
    with capsys.disabled():
        print("\n" + _table(results))
    recall = {m: np.mean([r[m][0] for r in results.values()]) for m in ("features-logreg", "shell-features")}
    # reported, not tuned: the shell-aware group must not be clearly worse than character statistics
    assert recall["shell-features"] >= recall["features-logreg"] - 0.05, recall


if __name__ == "__main__":
    print(_table(leave_one_family_out(n=int(sys.argv[1]) if len(sys.argv) > 1 else 3000)))
