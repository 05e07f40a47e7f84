"""``shell-features``: features of the difference between a line and what the shell will run, + a logistic regression.

Character statistics (``features-logreg``) learn what the generating tools' output looks like; these features
ask instead "is this line not what the shell will execute?". Each line is normalised by
:func:`sectune.tasks.cmdline.normalize.normalize` (shell guessed from the line; static and bounded, nothing is run),
and described by :data:`SHELL_FEATURES`:

* how much normalisation changed: ``removed_share`` (characters removed / literal length), ``log_length_ratio``
  (log of normal/literal length: decoding grows a line), ``changed`` (the normal form differs beyond case and
  whitespace), ``log_steps`` (steps applied), ``layers`` (decoding layers undone: payloads decoded, string
  expressions folded, wrappers unwrapped), ``encoded_payload`` (a payload was decoded at all),
  ``log_payload_length``, ``not_parsed`` / ``truncated`` (the normaliser gave up or hit a bound);
* one count per family of step (``step:caret``, ``step:quotes``, ``step:variables``, ``step:decoded``...);
* one count per kind of disguise, the sum of its families (``kind:dropped``: carets, quotes, backslashes...;
  ``kind:computed``; ``kind:respelt``), so a family the model never saw is weighed by its kind;
* ``disguises``: how many kinds of disguise the line shows (the three kinds, case, names obscured, commands
  unreadable, an encoded payload), one feature every family teaches;
* what normalisation exposed: ``hidden_known_names`` (known executables, cmdlets and options found only in the
  normal form), ``known_names_normal``, ``hidden_risky`` (risky names such as iex, downloadstring, certutil,
  base64, /dev/tcp found only after normalisation), ``risky_normal``;
* case inside command names and options: ``name_case_switches`` (case switches per letter in names and
  options of the literal line), ``name_case_entropy`` (entropy of the upper/lower mix in them, bits);
* the shell (``shell:bash``, ``shell:cmd``, ``shell:powershell``);
* the normal form scored by the ``features-logreg`` character statistics (``normal:<feature>``), so a decoded
  payload is judged by the same features as a literal line.

``ShellFeaturesLogreg.explain`` names the steps behind a feature (``caret inside w^inword removed -> winword``).
``features-logreg --shell-features`` stacks this group onto the literal character statistics.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from typing import Annotated, Iterator, Sequence

import numpy as np
from pydantic import Field, PositiveFloat

from sectune.methods.base import Seed  # noqa: F401  (the inherited fields' annotations resolve here)
from sectune.methods.features import (  # noqa: F401
    FEATURE_NAMES,
    FEATURES,
    FeatureLogregBase,
    LogregC,
    LogregClassWeight,
    LogregMaxIter,
    extract_features,
)
from sectune.methods.tags import MethodTags
from sectune.tasks.cmdline.normalize import SHELLS, Normalized, normalize, same
from sectune.tasks.cmdline.normalize.guess import CMDLET_VERBS, WINDOWS_PROGRAMS

# families of normalisation steps: (feature suffix, description, substrings of the step text)
STEP_FAMILIES = [
    ("caret", "carets removed (cmd)", ("caret",)),
    ("quotes", "quotes inside words removed", ("quotes inside",)),
    ("escapes", "backslash/backtick escapes removed", ("backslash", "backticks")),
    (
        "variables",
        "variables expanded or substituted, command substitutions computed",
        ("expanded", "variable", "substitution computed"),
    ),
    (
        "wrappers",
        "cmd /c, call, eval, bash -c, here-strings, script blocks unwrapped",
        ("unwrapped", "re-expanded", "argument normalised", "fed to"),
    ),
    ("loops", "for loops unrolled", ("for loop",)),
    (
        "decoded",
        "payloads decoded or encrypted (base64, hex, gzip, bzip2, -enc, ANSI-C, tr, rev, SecureString)",
        ("decoded", "inflated", "restored", "translation", "securestring"),
    ),
    ("folded", "PowerShell string expressions folded", ("folded",)),
    ("aliases", "aliases mapped to cmdlets, commands looked up by name", ("alias", "looked up")),
    (
        "null",
        "null expansions, ${IFS}, leading , ; delimiters, inline <# #> comments and no-op pipeline stages removed",
        ("null expansion", "ifs", "delimiters", "comments", "no-op"),
    ),
    ("globs", "globs and brace words resolved, commands found by wildcard", ("glob", "brace")),
    ("characters", "invisible characters or Unicode dashes removed", ("invisible", "unicode dash", "url slashes")),
    (
        "paths",
        "paths and URL hosts respelt (\\.\\, x\\..\\, / separators, numeric hosts, \\ in URLs)",
        ("path ", "url host"),
    ),
]
# kinds of disguise, each the sum of its families' steps: a family never seen in training shares its kind's weight
# (held out in bench/cmdline.py setup (4), carets are weighed by what quotes and backslashes taught)
STEP_KINDS = [
    ("dropped", "characters the shell drops inside words", ("caret", "quotes", "escapes", "null", "characters")),
    ("computed", "text the shell computes at run time", ("variables", "loops", "decoded", "folded")),
    ("respelt", "names the shell resolves from another spelling", ("aliases", "globs", "paths")),
]
_WINDOWS = (
    "cmd powershell pwsh net net1 reg certutil bitsadmin whoami tasklist taskkill ipconfig schtasks netstat findstr "
    "wmic rundll32 regsvr32 mshta cscript wscript msiexec vssadmin bcdedit sc attrib icacls systeminfo nltest "
    "echo set call start copy del type dir ping curl"
).split()
_CMDLETS = (
    "invoke-expression invoke-webrequest invoke-restmethod new-object start-process set-mppreference "
    "add-mppreference get-process get-childitem get-content set-content write-host write-output out-file "
    "downloadstring downloadfile frombase64string convertto-securestring iex iwr irm"
).split()
_UNIX = (
    "bash sh dash zsh cat ls id uname curl wget nc ncat netcat python python3 perl ruby php chmod chown rm mv cp "
    "base64 xxd openssl echo printf eval exec grep awk sed crontab sudo su ssh scp socat telnet whoami"
).split()
KNOWN_NAMES = frozenset(_WINDOWS + _CMDLETS + _UNIX)
# how Microsoft's documentation spells some programs: mixed case that people copy
CANONICAL_CASE = frozenset(
    "BitsAdmin CertUtil CScript DiskPart GPResult GPUpdate IPConfig MSBuild MsiExec NetSh NetStat NsLookup NuGet "
    "PowerShell PsExec RoboCopy SchTasks SetX SystemInfo TaskKill TaskList WhoAmI WinGet WinRM WScript XCopy".split()
)
RISKY = frozenset(
    "iex invoke-expression downloadstring downloadfile invoke-webrequest iwr net.webclient frombase64string "
    "certutil bitsadmin mshta regsvr32 rundll32 -urlcache -encodedcommand -enc bypass hidden base64 /dev/tcp nc "
    "ncat netcat socat wget curl eval exec python perl set-mppreference -disablerealtimemonitoring vssadmin "
    "shadowcopy /etc/passwd /etc/shadow chmod mimikatz".split()
)
_TOKEN = re.compile(r"[A-Za-z/\-][\w./:\-]*")
_NAME_TOKEN = re.compile(r"(?:(?<=^)|(?<=[\s|&;(]))[-/]?[A-Za-z][\w-]*")
_SEGMENTS = re.compile(r"[|;&\n]+")
_OPTION = re.compile(r"(?:(?<=^)|(?<=\s))[-/\u2010-\u2015\u2212]{1,2}[A-Za-z][\w-]*(?=[\s:='\"|;&)]|$)")
_COMMAND = re.compile(r"[a-z][\w.+-]{1,40}")
_BLOB = re.compile(r"[A-Za-z0-9+/=_-]{24,}")  # base64, tokens, keys: data whose case means nothing
# a short option's case is its meaning (curl -fsSL, grep -aHn, repadmin /AdeP, powershell -NoP), not a disguise
_SHORT_OPTION = re.compile(r"(?:(?<=^)|(?<=[\s\"']))[-/][A-Za-z]{2,5}(?=[\s=:'\"]|$)")
_LETTER_RUNS = re.compile(r"(?<![\dA-Za-z])[A-Za-z]{2,}(?![\dA-Za-z])")  # whole words: no base64 or IPv4 pieces

SHELL_FEATURES: list[tuple[str, str]] = [
    ("removed_share", "share of the literal line's characters removed by normalisation"),
    ("log_length_ratio", "log((1 + normal length) / (1 + literal length)): decoding grows a line"),
    ("changed", "1 if the normal form differs from the line beyond case and whitespace"),
    ("log_steps", "log(1 + normalisation steps applied)"),
    ("layers", "decoding layers undone (payloads decoded, string expressions folded, wrappers unwrapped)"),
    ("encoded_payload", "1 if an encoded or compressed payload was decoded"),
    ("log_payload_length", "log(1 + length of the decoded payloads)"),
    ("not_parsed", "1 if the normaliser could not parse the line"),
    ("truncated", "1 if a bound (time, depth, size) stopped the normaliser"),
    *[(f"step:{name}", f"steps of this family: {desc}") for name, desc, _ in STEP_FAMILIES],
    *[(f"kind:{kind}", f"log(1 + steps of {', '.join(fams)}): {desc}") for kind, desc, fams in STEP_KINDS],
    ("hidden_known_names", "log(1 + known executables/cmdlets/options found only after normalisation)"),
    ("known_names_normal", "log(1 + known executables/cmdlets/options in the normal form)"),
    ("hidden_risky", "log(1 + risky names (iex, downloadstring, certutil, base64...) found only after normalisation)"),
    ("risky_normal", "log(1 + risky names in the normal form)"),
    ("name_case_switches", "case switches per letter inside command names and options of the literal line"),
    ("name_case_entropy", "entropy (bits) of upper vs lower letters inside command names and options"),
    ("case_unnatural", "log(1 + words whose case no writer types: reN, coMpacT, PrOceSs, PiNG, ecHo, reStArt-serVice)"),
    ("names_obscured", "log(1 + commands and options of the normal form not written plainly in the line)"),
    ("commands_unreadable", "log(1 + commands of the normal form with no readable name: /???/??n/???n?f, $__, `...`)"),
    (
        "disguises",
        "how many kinds of disguise the line shows (characters dropped, text computed, names respelt, case, "
        "names obscured, commands unreadable, a payload encoded): one disguise of a kind never seen still counts",
    ),
    *[(f"shell:{s}", f"1 if the line was read as {s}") for s in SHELLS],
]
ALL_SHELL_FEATURES: list[tuple[str, str]] = SHELL_FEATURES + [
    (f"normal:{name}", f"of the normal form: {desc}") for name, desc in FEATURES
]
SHELL_FEATURE_NAMES = [name for name, _ in ALL_SHELL_FEATURES]


def _names(text: str) -> set[str]:
    return {t.lower().strip("./:") for t in _TOKEN.findall(text)} | {t.lower() for t in text.split()}


def _case_stats(line: str) -> tuple[float, float]:
    switches = upper = letters = 0
    for m in _NAME_TOKEN.finditer(_BLOB.sub(" ", line[:4000])):
        word = [c for c in m.group() if c.isalpha()]
        letters += len(word)
        upper += sum(c.isupper() for c in word)
        # a capital after a hyphen or at the start is ordinary (Get-ChildItem); count the others
        switches += sum(a.islower() and b.isupper() for a, b in zip(word, word[1:]))
        switches += sum(a.isupper() and b.isupper() for a, b in zip(word, word[1:])) if 0 < upper < len(word) else 0
    if not letters:
        return 0.0, 0.0
    p = upper / letters
    entropy = 0.0 if p in (0.0, 1.0) else -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
    return switches / letters, entropy


def unnatural_case(word: str) -> bool:
    """Case no one types by hand: a capital ending a lower-case run (reN, coMpacT), one small letter ending a
    capital run (ROUTe, WrITe), a small letter opening capitals that do not start a word (sQLCMd), or case
    flipping on most letters (PrOceSs). lower, UPPER, Title, camelCase, PascalCase with acronyms (IPConfig,
    GetADUser, URLs) and Hungarian prefixes (hToken, appId) pass, and so, at that price, do attrIb and tRee."""
    if len(word) < 3 or word.islower() or word.isupper() or word[1:].islower():
        return False
    if word[-1].isupper() and word[-2].islower():
        return True
    if word[-1].islower() and word[-1] != "s" and word[-2].isupper() and not word[-3].islower():  # not URLs
        return True
    if word[0].islower() and word[1].isupper() and not word[1:].isupper() and not word[2:].islower():
        return True
    return sum(a.isupper() != b.isupper() for a, b in zip(word, word[1:])) / len(word) > 0.65


def program_cased_oddly(name: str) -> bool:
    """A program or cmdlet name, as written at a command position, in a case its users do not type: a known
    program other than lower, UPPER, Title or its documented spelling (``PiNG``, ``ecHo``, ``xcoPY``, ``sC``;
    ``IPConfig`` passes), a Verb-Noun cmdlet whose noun does not start with a capital or whose approved verb is not
    spelt as PowerShell spells it (``reStArt-serVice``, ``RESTaRt-Service``; ``Restart-Service``,
    ``restart-service`` and ``Get-ADUser`` pass), or another name in a case no one types (camelCase script names
    such as ``logoutAndReboot`` pass). A name this test lets through can still be caught by :func:`unnatural_case`
    (``Stop-PrOceSs``)."""
    name = name[:-4] if name.lower().endswith(".exe") else name
    if not re.fullmatch(r"[A-Za-z][A-Za-z]*(?:-[A-Za-z]+)?", name) or name.islower() or name.isupper():
        return False
    if "-" in name:
        verb, noun = name.split("-")
        canonical = CMDLET_VERBS.get(verb.lower())
        return not noun[0].isupper() or (canonical is not None and verb != canonical)
    if name.lower() in KNOWN_NAMES or name.lower() in WINDOWS_PROGRAMS:
        return not name[1:].islower() and name not in CANONICAL_CASE
    return unnatural_case(name)  # a name of its own: camelCase (logoutAndReboot) is how scripts are named


def _typed_naturally(token: str, program: str | None = None) -> bool:
    """``token`` in a case people type: a short option in any case (its case is its meaning), else no word of it in
    a case no one types and, for a ``program`` name, not cased oddly for it."""
    if _SHORT_OPTION.fullmatch(token):
        return True
    if any(map(unnatural_case, _LETTER_RUNS.findall(token))):
        return False
    return program is None or not program_cased_oddly(program)


@functools.cache
def _alias_cmdlets() -> dict[str, str]:
    """PowerShell alias -> its cmdlet, lower-cased (built once, not per line)."""
    from sectune.tasks.cmdline.obfuscate.powershell import ALIASES

    return {alias: cmdlet.lower() for cmdlet, aliases in ALIASES.items() for alias in aliases}


def _unnatural_words(line: str) -> set[str]:
    """Words whose case no writer types: by their shape anywhere, or as a program name at a command position.
    Base64 and other long encoded tokens are data, not words: their letters are left out."""
    text = _SHORT_OPTION.sub(" ", _BLOB.sub(" ", line[:4000]))
    words = {w for w in _LETTER_RUNS.findall(text) if unnatural_case(w)}
    for head in _segment_heads(line[:4000], "\"'`@"):
        name = re.split(r"[\\/]", head)[-1]
        if program_cased_oddly(name):
            words.add(name)
    return words


def _segment_heads(text: str, quotes: str) -> Iterator[str]:
    """The first word of each command of ``text`` (split at | ; & and newlines), ``quotes`` stripped; "" if none."""
    for segment in _SEGMENTS.split(text):
        words = segment.split(maxsplit=1)
        yield words[0].strip(quotes) if words else ""


def _command_words(text: str) -> list[str]:
    """The program or cmdlet of each command of ``text``: the first word of each segment, path and .exe cut."""
    words = []
    for first in _segment_heads(text[:4000], "\"'`@"):
        word = re.split(r"[\\/]", first)[-1].lower().removesuffix(".exe")
        if _COMMAND.fullmatch(word):
            words.append(word)
    return words


def _options(text: str, natural_only: bool = False) -> set[str]:
    """The options of ``text`` (-Name, /c, --force), lower-cased; with ``natural_only``, those typed in natural case."""
    return {o.lower() for o in _OPTION.findall(text[:4000]) if not natural_only or _typed_naturally(o)}


_UNREADABLE = re.compile(r"[?*`$]|\[.")  # a glob, a variable, a substitution: not [ or [[ (test)
_NESTED = re.compile(r"\$\(|`|(?:^|(?<=[\s;|&]))[({](?=\s|\w)")  # $( ), ` `, ( subshell ), { group; }


def unreadable_commands(n: Normalized) -> list[str]:
    """Commands whose name is still not a word once normalised (globs, variables, substitutions): what the shell
    runs cannot be read from the line at all. Assignments (``x=1``) and punctuation are not commands; PowerShell
    is left out (``$x.Method()`` and ``$x = ...`` are how it is written)."""
    if n.shell == "powershell":
        return []
    found = []
    for first in _segment_heads(_NESTED.sub(" ; ", n.normal[:4000]), "\"'"):
        if re.search(r"\w", first) and not re.match(r"[A-Za-z_]\w*\+?=", first) and _UNREADABLE.search(first):
            found.append(first)
    return found


def _plain_words(line: str) -> set[str]:
    """Words written plainly in the literal line: natural case, lower-cased, with path and .exe cut, plus the
    cmdlets of PowerShell aliases written there (an alias is a habit, not a disguise)."""
    plain = set()
    for token in re.split(r"[\s|;&]+", line[:4000]):
        token = token.strip("\"'`@,;()|&{}")
        name = re.split(r"[\\/]", token)[-1]
        if _typed_naturally(token, program=name):
            plain.add(name.lower().removesuffix(".exe"))
    alias_of = _alias_cmdlets()
    return plain | {alias_of[w] for w in plain if w in alias_of}


def obscured_names(n: Normalized) -> list[str]:
    """Commands and options the shell will see that the line does not write plainly (caret, quotes, escapes,
    variables, random case, Unicode dashes, encodings: any disguise of a name, the same feature for all)."""
    plain = _plain_words(n.line)
    commands = {w for w in _command_words(n.normal) if w not in plain}
    written = _options(n.line, natural_only=True) | _options(re.sub("[\"']", " ", n.line), natural_only=True)
    return sorted(commands | (_options(n.normal) - written))  # "--url=x" quoted whole is written plainly


def shell_row(n: Normalized) -> list[float]:
    """The :data:`SHELL_FEATURES` of one normalised line."""
    line, normal = n.line, n.normal
    literal = " ".join(line.split())
    steps = [s.lower() for s in n.steps]
    literal_names, normal_names = _names(line), _names(normal)
    for p in n.payloads:
        normal_names |= _names(p)
    hidden = normal_names - literal_names
    case_switches, case_entropy = _case_stats(line)
    payload_len = sum(len(p) for p in n.payloads)
    row = [
        max(0.0, (len(literal) - len(normal)) / max(len(literal), 1)),
        math.log((1 + len(normal)) / (1 + len(literal))),
        0.0 if same(normal, literal) else 1.0,
        math.log1p(len(steps)),
        float(min(n.layers, 16)),
        1.0 if n.payloads else 0.0,
        math.log1p(payload_len),
        1.0 if any("not parsed" in s or "could not parse" in s for s in steps) else 0.0,
        1.0 if n.truncated else 0.0,
    ]
    per_family = {name: sum(any(k in s for k in keys) for s in steps) for name, _desc, keys in STEP_FAMILIES}
    kinds = [sum(per_family[f] for f in fams) for _kind, _desc, fams in STEP_KINDS]
    unnatural, obscured, unreadable = len(_unnatural_words(line)), len(obscured_names(n)), len(unreadable_commands(n))
    row += [math.log1p(count) for count in [*per_family.values(), *kinds]]
    row += [
        math.log1p(len(hidden & KNOWN_NAMES)),
        math.log1p(len(normal_names & KNOWN_NAMES)),
        math.log1p(len(hidden & RISKY)),
        math.log1p(len(normal_names & RISKY)),
        case_switches,
        case_entropy,
        math.log1p(unnatural),
        math.log1p(obscured),
        math.log1p(unreadable),
        float(sum(count > 0 for count in [*kinds, unnatural, obscured, unreadable, len(n.payloads)])),
    ]
    row += [1.0 if n.shell == s else 0.0 for s in SHELLS]
    return row


def shell_features(texts: Sequence[str]) -> np.ndarray:
    """The (n, len(SHELL_FEATURE_NAMES)) matrix: the shell features, then the normal form's character statistics."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, len(ALL_SHELL_FEATURES)), dtype=np.float64)
    normalised = [normalize(t) for t in texts]
    rows = np.array([shell_row(n) for n in normalised], dtype=np.float64)
    return np.hstack([rows, extract_features([n.normal for n in normalised])])


def reasons(text: str, feature: str) -> str | None:
    """The readable steps behind a shell feature of ``text`` ("caret inside w^inword removed -> winword"), or None."""
    if not (feature in {name for name, _ in SHELL_FEATURES} or feature.startswith("normal:")):
        return None
    n = normalize(text)
    if feature.startswith(("step:", "kind:")):
        families = next((fams for kind, _, fams in STEP_KINDS if f"kind:{kind}" == feature), (feature[5:],))
        keys = [k for name, _, ks in STEP_FAMILIES if name in families for k in ks]
        picked = [s for s in n.steps if any(k in s.lower() for k in keys)]
    elif feature in ("hidden_known_names", "hidden_risky"):
        names = sorted(_names(n.normal) - _names(text))
        wanted = KNOWN_NAMES if feature == "hidden_known_names" else RISKY
        picked = [f"{name} appears only after normalisation" for name in names if name in wanted]
    elif feature == "case_unnatural":
        picked = [f"case of {w} is not typed by hand" for w in sorted(_unnatural_words(text))]
    elif feature == "names_obscured":
        picked = [f"{w} is not written plainly" for w in obscured_names(n)]
    elif feature == "commands_unreadable":
        picked = [f"the command {w[:40]} has no readable name" for w in unreadable_commands(n)]
    elif feature in ("name_case_switches", "name_case_entropy"):
        return None
    else:
        picked = n.steps
    if not picked and feature.startswith("normal:") or feature in ("changed", "removed_share", "log_length_ratio"):
        picked = picked or [f"normal form: {n.normal[:80]}"]
    return "; ".join(picked[:3]) if picked else None


@dataclasses.dataclass(kw_only=True, repr=False, eq=False)
class ShellFeaturesLogreg(FeatureLogregBase):
    """Shell-aware features (see the module docstring) + a standardised logistic regression; two classes.

    Two strengths of L2, one per group. ``C`` (0.01, not features-logreg's 1.0) holds the ~60 character
    statistics of the normal form (``normal:*``): they fit each known tool's fingerprint, and only strong L2 keeps
    them from outweighing what carries to tools never seen (bench/cmdline.py setup (4): bashsmash F1 0.00 -> 0.91,
    dosfuscation 0.78 -> 0.95 with C 1.0 -> 0.01). ``shell_C`` (1.0) holds the shell features themselves: one
    disguise of one name is a few features, and under C = 0.01 their weights stayed too small to lift a short,
    lightly obfuscated line over a threshold set on a site's benign lines."""

    C: LogregC = 0.01
    shell_C: Annotated[
        PositiveFloat,
        Field(
            description="inverse regularisation strength of the shell features (the normal form's character "
            "statistics keep C)"
        ),
    ] = 1.0

    name = "shell-features"
    tags = MethodTags(binary_only=True, explains=True, fast_test_params={"verbose": False})

    def _extract(self, texts: Sequence[str]) -> np.ndarray:
        return shell_features(texts)

    def _feature_list(self) -> list[tuple[str, str]]:
        return ALL_SHELL_FEATURES

    def _penalty_weights(self) -> np.ndarray:
        own = math.sqrt(self.shell_C / self.C)
        return np.array([1.0 if name.startswith("normal:") else own for name in SHELL_FEATURE_NAMES])

    def _readable(self, text: str, feature: str, value: float):
        return (reasons(text, feature) or value) if value else value


__all__ = [
    "ShellFeaturesLogreg",
    "shell_features",
    "obscured_names",
    "unnatural_case",
    "program_cased_oddly",
    "SHELL_FEATURES",
    "ALL_SHELL_FEATURES",
    "FEATURE_NAMES",
]
