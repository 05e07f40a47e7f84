"""Bash obfuscation techniques: the rewrites attackers use to slip a command past string-matching rules.

Each technique is ``fn(line, intensity, rng) -> line``; the result runs the same commands under bash (the tests
run every technique on harmless seeds and compare the output). Decoders pipe into ``bash``, never ``sh``: the
seeds are bash lines. Light variants touch one word or wrap the line in one short decoder, so they stay short;
heavy variants rewrite most of the line. A technique with nothing to rewrite in a line raises SectuneError.

Word-level rewrites go through a small lexer (``_lex``) so that quoting, expansions, keywords, assignment
names, redirection targets and ``[[ ]]``/``(( ))`` operands are never touched: a quote inside ``for``,
``x=1`` or ``-eq`` changes what bash parses.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import random
import re
import shlex
from dataclasses import dataclass

from sectune.errors import SectuneError

_RESERVED = frozenset(
    "if then else elif fi case esac for select while until do done in function time coproc { } ! [[ ]]".split()
)
_BEFORE_COMMAND = frozenset("if then else elif while until do ! { time".split())  # the next word is a command again
_BEFORE_NAME = frozenset("for select case function".split())  # the next word is a name: never rewritten
_OPS = (";;&", "&&", "||", ";;", ";&", "|&", "&", "|", ";", "(", ")", "\n")
_REDIRS = ("<<<", "<<-", "<<", "&>>", "&>", ">>", ">&", "<&", "<>", ">|", "<", ">")
_ASSIGN = re.compile(r"[A-Za-z_]\w*(\[[^]]*\])?\+?=")
_PLAIN_COMMAND = re.compile(r"[\w./+-]+")


@dataclass
class _Tok:
    kind: str  # word | space | op | redir | opaque
    text: str
    lit: tuple[bool, ...] = ()  # per character of a word: an unquoted literal character
    cmd: bool = False  # a word in command position
    assign: bool = False  # an assignment word (name=value) in command position
    safe: bool = False  # may be rewritten: not a keyword, a name, a redirection target or a [[ ]] operand


def _skip_single(s: str, i: int) -> int:
    j = s.find("'", i + 1)
    return len(s) if j < 0 else j + 1


def _skip_ansi(s: str, i: int) -> int:  # s[i:i+2] == "$'"
    j = i + 2
    while j < len(s) and s[j] != "'":
        j += 2 if s[j] == "\\" else 1
    return min(j + 1, len(s))


def _skip_double(s: str, i: int) -> int:
    j = i + 1
    while j < len(s) and s[j] != '"':
        if s[j] == "\\":
            j += 2
        elif s[j] == "$":
            j = _skip_dollar(s, j)
        elif s[j] == "`":
            j = _skip_backtick(s, j)
        else:
            j += 1
    return min(j + 1, len(s))


def _skip_backtick(s: str, i: int) -> int:
    j = i + 1
    while j < len(s) and s[j] != "`":
        j += 2 if s[j] == "\\" else 1
    return min(j + 1, len(s))


def _skip_group(s: str, i: int, open_: str, close: str) -> int:
    """Index after the bracket matching s[i], skipping quotes and escapes inside."""
    depth, j = 0, i
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "'":
            j = _skip_single(s, j)
            continue
        if c == '"':
            j = _skip_double(s, j)
            continue
        if c == "`":
            j = _skip_backtick(s, j)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return len(s)


def _skip_dollar(s: str, i: int) -> int:
    nxt = s[i + 1] if i + 1 < len(s) else ""
    if nxt == "(":
        return _skip_group(s, i + 1, "(", ")")
    if nxt == "{":
        return _skip_group(s, i + 1, "{", "}")
    if nxt == "'":
        return _skip_ansi(s, i)
    if nxt == '"':
        return _skip_double(s, i + 1)
    if nxt == "_" or nxt.isalpha():
        j = i + 1
        while j < len(s) and (s[j] == "_" or s[j].isalnum()):
            j += 1
        return j
    if nxt and (nxt.isdigit() or nxt in "@*#?$!-"):
        return i + 2
    return i + 1


def _scan_word(s: str, i: int) -> tuple[int, list[bool]]:
    lit: list[bool] = []
    while i < len(s):
        c = s[i]
        if c in "<>" and i + 1 < len(s) and s[i + 1] == "(":  # process substitution
            j = _skip_group(s, i + 1, "(", ")")
        elif c in " \t\n|&;()<>":
            break
        elif c == "\\":
            j = min(i + 2, len(s))
        elif c == "'":
            j = _skip_single(s, i)
        elif c == '"':
            j = _skip_double(s, i)
        elif c == "`":
            j = _skip_backtick(s, i)
        elif c == "$":
            j = _skip_dollar(s, i)
        else:
            lit.append(True)
            i += 1
            continue
        lit += [False] * (j - i)
        i = j
    return i, lit


def _lex(line: str) -> list[_Tok]:
    """Split a bash line into tokens whose texts join back to the line, marking which words may be rewritten."""
    toks: list[_Tok] = []
    i, expect_cmd, name_next, target_next, in_test = 0, True, False, False, False
    while i < len(line):
        c = line[i]
        if c in " \t":
            j = i
            while j < len(line) and line[j] in " \t":
                j += 1
            toks.append(_Tok("space", line[i:j]))
            i = j
            continue
        if c == "#" and (i == 0 or line[i - 1] in " \t\n;|&()"):
            j = line.find("\n", i)
            j = len(line) if j < 0 else j
            toks.append(_Tok("opaque", line[i:j]))
            i = j
            continue
        if expect_cmd and line.startswith("((", i):  # arithmetic command
            j = _skip_group(line, i, "(", ")")
            toks.append(_Tok("opaque", line[i:j]))
            i, expect_cmd = j, False
            continue
        redir = next((r for r in _REDIRS if line.startswith(r, i) and not line.startswith(r + "(", i)), None)
        if redir:
            if redir in ("<<", "<<-"):  # here-document: leave it and everything after alone
                toks.append(_Tok("opaque", line[i:]))
                break
            toks.append(_Tok("redir", redir))
            i += len(redir)
            target_next = True
            continue
        op = next((o for o in _OPS if line.startswith(o, i)), None)
        if op:
            prev = next((t for t in reversed(toks) if t.kind != "space"), None)
            if op == "(" and prev is not None and prev.kind == "word" and prev.cmd:  # f() { ...; }: a function name
                prev.safe = prev.cmd = False
            toks.append(_Tok("op", op))
            i += len(op)
            expect_cmd = True
            continue
        j, lit = _scan_word(line, i)
        if j == i:  # a stray character the lexer does not know: keep it, touch nothing
            toks.append(_Tok("opaque", c))
            i += 1
            continue
        text = line[i:j]
        if text.isdigit() and j < len(line) and line[j] in "<>":  # 2>&1: the digits belong to the redirection
            redir = next(r for r in _REDIRS if line.startswith(r, j))
            toks.append(_Tok("redir", text + redir))
            i = j + len(redir)
            target_next = True
            continue
        tok = _Tok("word", text, tuple(lit))
        if target_next:
            target_next = False
        elif in_test:
            in_test = text != "]]"
        elif name_next:
            name_next = False
        elif text in _RESERVED and expect_cmd or text in ("in", "do", "done", "esac", "then", "fi"):
            if text == "[[":
                in_test = True
            name_next = text in _BEFORE_NAME
            expect_cmd = text in _BEFORE_COMMAND
        else:
            tok.cmd = expect_cmd
            m = _ASSIGN.match(text)
            tok.assign = bool(expect_cmd and m and all(lit[: m.end()]))
            expect_cmd = tok.assign
            tok.safe = not text.startswith("~") and text not in _RESERVED
        toks.append(tok)
        i = j
    return toks


def _join(toks: list[_Tok]) -> str:
    return "".join(t.text for t in toks)


def _inner_positions(tok: _Tok) -> list[int]:
    """Positions between two literal alphanumerics where a quote or escape may go (in the value of an assignment)."""
    start = tok.text.index("=") + 1 if tok.assign else 1
    return [
        p
        for p in range(max(start, 1), len(tok.text))
        if tok.lit[p - 1] and tok.lit[p] and tok.text[p - 1].isalnum() and tok.text[p].isalnum()
    ]


def _command_words(toks: list[_Tok]) -> list[_Tok]:
    """Plain command names (``ls``, ``/usr/bin/id``) that can be replaced by anything expanding to them."""
    return [
        t
        for t in toks
        if t.kind == "word"
        and t.cmd
        and t.safe
        and not t.assign
        and all(t.lit)
        and _PLAIN_COMMAND.fullmatch(t.text)
        and not t.text.startswith("-")
    ]


def _words(toks: list[_Tok]) -> list[_Tok]:
    return [t for t in toks if t.kind == "word" and t.safe and _inner_positions(t)]


def _n(intensity: str, light: int, medium: int, heavy: int) -> int:
    return {"light": light, "medium": medium, "heavy": heavy}[intensity]


def _var(rng: random.Random, line: str, taken: set[str]) -> str:
    """A short variable name that the line does not already use."""
    while True:
        name = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 3)))
        if name not in taken and not re.search(rf"\b{name}\b", line):
            taken.add(name)
            return name


def _split(text: str, parts: int, rng: random.Random) -> list[str]:
    parts = max(1, min(parts, len(text)))
    cuts = sorted(rng.sample(range(1, len(text)), parts - 1)) if parts > 1 else []
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def _run_decoded(decoder: str, rng: random.Random) -> str:
    """Run what ``decoder`` prints: the shapes seen in the wild (pipe to bash, eval, bash -c, here-string)."""
    return rng.choice(
        [
            f"{decoder}|bash",
            f"{decoder} | bash",
            f'eval "$({decoder})"',
            f'bash -c "$({decoder})"',
            f'bash<<<"$({decoder})"',
        ]
    )


def _require_ascii(line: str, name: str) -> None:
    if not line.isascii():
        raise SectuneError(f"bash/{name} needs an ASCII line (its decoder is locale-dependent)")


def _on_command_word(line: str, rewrite, whole) -> str:
    """Replace the first command name by ``rewrite(word)`` (light variants obfuscate just the word detectors key on);
    a line without a plain command name (already obfuscated, say) gets ``whole(line)`` instead."""
    toks = _lex(line)
    words = _command_words(toks)
    if not words:
        return whole(line)
    words[0].text = rewrite(words[0].text)
    return _join(toks)


# --- encodings -------------------------------------------------------------------------------------------------


def b64(line: str, intensity: str, rng: random.Random) -> str:
    """Base64 payload decoded and run: ``echo <b64> | base64 -d | bash`` or ``eval "$(...)"``."""
    data = line.encode()
    rounds = _n(intensity, 1, 1, 2)
    for _ in range(rounds):
        data = base64.b64encode(data)
    flag = rng.choice(["-d", "--decode"] if intensity != "light" else ["-d"])
    source = (
        rng.choice([f"echo {data.decode()}", f"printf %s {data.decode()}"])
        if intensity != "light"
        else f"echo {data.decode()}"
    )
    decoder = source + f"|base64 {flag}" * rounds
    if intensity == "heavy":
        decoder = f"base64 {flag}<<<{data.decode()}" + f"|base64 {flag}" * (rounds - 1)
    return _run_decoded(decoder, rng)


def _compressed_b64(payload: str, unzips: list[str], intensity: str, rng: random.Random) -> str:
    """``echo <b64>|base64 -d|<unzip>`` run; heavy splits the base64 into quoted pieces."""
    unzip = rng.choice(unzips if intensity != "light" else unzips[:1])
    decoder = f"echo {payload}|base64 -d|{unzip}"
    if intensity == "heavy":
        parts = _split(payload, rng.randint(2, 4), rng)
        decoder = (
            "echo " + "".join(shlex.quote(p) if rng.random() < 0.5 else f'"{p}"' for p in parts) + f"|base64 -d|{unzip}"
        )
    return _run_decoded(decoder, rng)


def gzip_b64(line: str, intensity: str, rng: random.Random) -> str:
    """Gzip-compressed, base64-encoded payload: ``echo <b64> | base64 -d | gunzip | bash``."""
    payload = base64.b64encode(gzip.compress(line.encode(), compresslevel=9, mtime=0)).decode()
    return _compressed_b64(payload, ["gunzip", "gzip -d", "zcat"], intensity, rng)


def bzip2_b64(line: str, intensity: str, rng: random.Random) -> str:
    """Bzip2-compressed, base64-encoded payload (``QlpoOTFBWSZTW...``): ``echo <b64> | base64 -d | bunzip2 | bash``."""
    payload = base64.b64encode(bz2.compress(line.encode(), compresslevel=9)).decode()
    return _compressed_b64(payload, ["bunzip2", "bzip2 -d", "bzcat", "bunzip2 -c"], intensity, rng)


def hex_xxd(line: str, intensity: str, rng: random.Random) -> str:
    """Hex text turned back into bytes by ``xxd -r -p`` (light: only the command name)."""
    if intensity == "light":
        return _on_command_word(
            line, lambda w: f"$(xxd -r -p<<<{w.encode().hex()})", lambda t: hex_xxd(t, "medium", rng)
        )
    hexed = line.encode().hex()
    if intensity == "heavy":
        hexed = " ".join(hexed[i : i + 4] for i in range(0, len(hexed), 4))
        return _run_decoded(f"echo '{hexed}'|xxd -r -p", rng)
    return _run_decoded(rng.choice([f"echo {hexed}|xxd -r -p", f"xxd -r -p<<<{hexed}"]), rng)


def _escape_bytes(text: str, fmt: str, fraction: float, rng: random.Random, force: str = "") -> str:
    """Bytes as ``\\xHH``/``\\NNN`` escapes (a ``fraction`` of them, always the ones in ``force``), for ANSI-C quoting or printf."""
    out = []
    for byte in text.encode():
        ch = chr(byte)
        if ch in force or byte > 126 or byte < 32 or rng.random() < fraction:
            out.append(fmt.format(byte))
        else:
            out.append(ch)
    return "".join(out)


def _ansi_c(line: str, intensity: str, rng: random.Random, fmt: str, name: str) -> str:
    if intensity == "light":

        def rewrite(word: str) -> str:
            k = rng.randrange(len(word))
            return word[:k] + "$'" + fmt.format(ord(word[k])) + "'" + word[k + 1 :]

        return _on_command_word(line, rewrite, lambda t: _ansi_c(t, "heavy", rng, fmt, name))
    if intensity == "medium":
        return _on_command_word(
            line,
            lambda w: "$'" + "".join(fmt.format(b) for b in w.encode()) + "'",
            lambda t: _ansi_c(t, "heavy", rng, fmt, name),
        )
    return "eval $'" + "".join(fmt.format(b) for b in line.encode()) + "'"


def octal(line: str, intensity: str, rng: random.Random) -> str:
    """Octal ANSI-C quoting ``$'\\143\\141\\164'`` (light: one letter of the command, heavy: ``eval`` of the whole line)."""
    return _ansi_c(line, intensity, rng, "\\{:03o}", "octal")


def ansi_hex(line: str, intensity: str, rng: random.Random) -> str:
    """Hex ANSI-C quoting ``$'\\x63\\x61\\x74'`` (light: one letter of the command, heavy: ``eval`` of the whole line)."""
    return _ansi_c(line, intensity, rng, "\\x{:02x}", "ansi-c-hex")


def printf_escapes(line: str, intensity: str, rng: random.Random) -> str:
    """``printf`` with mixed ``\\xHH``/``\\NNN`` escapes rebuilding the command (light) or the whole line for eval."""

    def escaped(text: str, fraction: float) -> str:
        fmt = rng.choice(["\\x{:02x}", "\\{:03o}"])
        return _escape_bytes(text, fmt, fraction, rng, force="%\\'")

    if intensity == "light":
        return _on_command_word(
            line,
            lambda w: f"$(printf '{escaped(w, 0.4) if len(w) > 2 else escaped(w, 1.0)}')",
            lambda t: printf_escapes(t, "medium", rng),
        )
    body = escaped(line, _n(intensity, 0, 0.5, 1.0))
    return rng.choice([f"eval \"$(printf '{body}')\"", f"printf '{body}'|bash"])


def rot13(line: str, intensity: str, rng: random.Random) -> str:
    """ROT13 text decoded by ``tr`` and run (light: only the command name)."""
    table = str.maketrans(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "nopqrstuvwxyzabcdefghijklmNOPQRSTUVWXYZABCDEFGHIJKLM"
    )
    tr = rng.choice(["tr a-zA-Z n-za-mN-ZA-M", "tr 'A-Za-z' 'N-ZA-Mn-za-m'"])
    if intensity == "light":
        return _on_command_word(line, lambda w: f"$({tr}<<<{w.translate(table)})", lambda t: rot13(t, "medium", rng))
    decoder = f"echo {shlex.quote(line.translate(table))}|{tr}"
    if intensity == "heavy":
        decoder = f"{tr}<<<{shlex.quote(line.translate(table))}"
    return _run_decoded(decoder, rng)


# --- quoting, escaping, whitespace ----------------------------------------------------------------------------------


def _insert(line: str, intensity: str, rng: random.Random, name: str, make) -> str:
    """Insert ``make(rng)`` between letters of rewritable words: light only in the command name, 1-2 times."""
    toks = _lex(line)
    words = _words(toks)
    if not words:
        raise SectuneError(f"bash/{name}: no word to rewrite in {line[:60]!r}")
    if intensity == "light":
        targets = [next((w for w in words if w.cmd and not w.assign), words[0])]
    else:
        targets = words
    for tok in targets:
        positions = _inner_positions(tok)
        k = {
            "light": rng.randint(1, min(2, len(positions))),
            "medium": max(1, len(positions) // 3),
            "heavy": max(1, (2 * len(positions)) // 3),
        }[intensity]
        for p in sorted(rng.sample(positions, k), reverse=True):
            tok.text = tok.text[:p] + make(rng) + tok.text[p:]
    return _join(toks)


def quotes(line: str, intensity: str, rng: random.Random) -> str:
    """Empty quotes inside words: ``c''at``, ``w""hoami`` (bash removes them before running)."""
    return _insert(line, intensity, rng, "quotes", lambda r: r.choice(["''", '""']))


_NULL_EXPANSIONS = (
    "$@",
    "$*",
    "${@}",
    "${*}",
    '"$@"',
    '"${*}"',
    "${*,,}",
    "${@^^}",
    "${@,}",
    "${*~}",
    "${*%x}",
    "${@#?}",
)


def null_expansion(line: str, intensity: str, rng: random.Random) -> str:
    """Empty expansions inside words: ``c$@at /e${*,,}tc/passwd`` (no positional parameters: they expand to nothing).

    Bashfuscator's filler: ``$@``/``$*`` with case or pattern operators (``${*/x/y}``, ``${@^^}``) that still
    give nothing, so the word detectors look for is never written out.
    """

    def make(r: random.Random) -> str:
        pick = r.choice(_NULL_EXPANSIONS + ("${*/pat/rep}",))
        if pick == "${*/pat/rep}":
            a, b = r.choice("abcdefxyz"), r.choice("ABCDEFXYZ")
            pick = "${" + r.choice("*@") + f"/{a}/{b}" + "}"
        return pick

    return _insert(line, intensity, rng, "null-expansion", make)


def backslash(line: str, intensity: str, rng: random.Random) -> str:
    """Backslashes before ordinary letters: ``c\\at /e\\tc/passwd`` (an escaped letter is the letter)."""
    toks = _lex(line)
    words = [t for t in toks if t.kind == "word" and t.safe and _inner_positions(t)]
    if not words:
        raise SectuneError(f"bash/backslash: no word to rewrite in {line[:60]!r}")
    targets = [next((w for w in words if w.cmd and not w.assign), words[0])] if intensity == "light" else words
    for tok in targets:
        positions = _inner_positions(tok)
        k = {"light": 1, "medium": max(1, len(positions) // 3), "heavy": len(positions)}[intensity]
        chosen = rng.sample(positions, min(k, len(positions)))
        if intensity != "light" and tok.cmd and not tok.assign and tok.lit[0] and tok.text[0].isalpha():
            # \ls alone skips an alias, a habit the benign side holds; beside inner escapes it hides the name too
            chosen += [0] if rng.random() < 0.5 else []
        for p in sorted(chosen, reverse=True):
            tok.text = tok.text[:p] + "\\" + tok.text[p:]
    return _join(toks)


def ifs(line: str, intensity: str, rng: random.Random) -> str:
    """``$IFS``/``${IFS}`` instead of spaces between words: ``cat${IFS}/etc/passwd``."""
    toks = _lex(line)
    spots = [
        i
        for i in range(1, len(toks) - 1)
        if toks[i].kind == "space"
        and toks[i - 1].kind == "word"
        and toks[i + 1].kind == "word"
        and toks[i - 1].safe
        and toks[i + 1].safe
        and not toks[i - 1].assign
        and "=" not in toks[i - 1].text
        and (i < 2 or toks[i - 2].kind != "redir")
    ]
    if not spots:  # a single word (or none left): ${IFS}true still runs true
        first = next((t for t in toks if t.kind == "word" and t.cmd and t.safe and not t.assign), None)
        if first is None:
            raise SectuneError(f"bash/ifs: no space between two plain words and no command in {line[:60]!r}")
        first.text = "${IFS}" + first.text
        return _join(toks)
    chosen = spots[:1] if intensity == "light" else spots
    for i in chosen:
        nxt = toks[i + 1].text[0]
        forms = ["${IFS}"] if nxt.isalnum() or nxt == "_" else ["$IFS", "${IFS}"]
        if intensity == "heavy":
            forms += ["${IFS%??}", "${IFS:0:1}"]
        toks[i].text = rng.choice(forms)
    return _join(toks)


def brace(line: str, intensity: str, rng: random.Random) -> str:
    """Brace expansion instead of spaces: ``{cat,/etc/passwd}`` (heavy also quotes inside the elements)."""
    toks = _lex(line)
    groups: list[tuple[int, int]] = []  # [start, end) token ranges of simple commands made of plain words
    i = 0
    while i < len(toks):
        if toks[i].kind == "word" and toks[i].cmd and not toks[i].assign:
            j = i
            while j < len(toks) and toks[j].kind in ("word", "space"):
                j += 1
            while toks[j - 1].kind == "space":
                j -= 1
            words = [t for t in toks[i:j] if t.kind == "word"]
            if all(t.safe and not t.assign and not set(t.text) & set("{},") for t in words) and (
                j == len(toks) or toks[j].kind == "op" or toks[j].kind == "space"
            ):
                groups.append((i, j))
            i = j
        else:
            i += 1
    if not groups:  # nothing plain left (already obfuscated): brace a bash -c of the whole line
        return "{bash,-c," + shlex.quote(line) + "}"
    chosen = groups[:1] if intensity == "light" else groups
    for start, end in reversed(chosen):
        words = [t for t in toks[start:end] if t.kind == "word"]
        if intensity == "heavy":
            for t in words:
                positions = _inner_positions(t)
                if positions:
                    p = rng.choice(positions)
                    t.text = t.text[:p] + rng.choice(["''", '""']) + t.text[p:]
        texts = [t.text for t in words] + ([""] if len(words) == 1 else [])
        toks[start:end] = [_Tok("word", "{" + ",".join(texts) + "}")]
    return _join(toks)


# --- globbing -----------------------------------------------------------------------------------------------------

# Commands present at these paths on any current Linux (the /bin ones also on systems without merged /usr).
GLOB_COMMANDS = {
    **{
        c: "/bin/" + c
        for c in "bash cat chmod cp date echo false grep gunzip gzip hostname ln ls mkdir mv pwd rm sed "
        "sh sleep tar touch true uname".split()
    },
    **{
        c: "/usr/bin/" + c
        for c in "base64 basename cut dirname env expr find head id printf seq sort stat tail tee tr "
        "uniq wc whoami xargs".split()
    },
}
# Files present on any Linux, which a glob may stand for when they are arguments.
GLOB_PATHS = (
    "/etc/passwd",
    "/etc/group",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/shadow",
    "/etc/os-release",
    "/bin/sh",
    "/bin/bash",
    "/dev/null",
    "/etc/resolv.conf",
)
# Siblings of the directories a path goes through, on a standard (FHS) layout: a "?" may go where no sibling matches.
_SIBLINGS = {
    "/": "bin boot dev etc home lib lib32 lib64 libx32 media mnt opt proc root run sbin srv sys tmp usr var snap".split(),
    "/usr": "bin games include lib lib32 lib64 libexec libx32 local sbin share src".split(),
}


def _glob_component(name: str, siblings: list[str] | None, rng: random.Random, k: int) -> str:
    """``name`` with ``k`` characters globbed: ``?`` where no known sibling would match too, else a one-letter class."""
    chars = list(name)
    for p in rng.sample(range(len(name)), min(k, len(name))):
        trial = chars.copy()
        trial[p] = "?"
        pattern = re.compile("".join("." if c == "?" else re.escape(c) for c in trial))
        if siblings is not None and not any(pattern.fullmatch(s) for s in siblings if s != name):
            chars = trial
        elif name[p].isalnum():
            chars[p] = f"[{name[p]}]"
    return "".join(chars)


def _glob_path(path: str, rng: random.Random, k: int) -> str:
    parts = path.strip("/").split("/")
    out, parent = [], "/"
    for i, part in enumerate(parts):
        out.append(_glob_component(part, _SIBLINGS.get(parent), rng, k if i < len(parts) - 1 else max(1, k - 1)))
        parent = "/" + "/".join(parts[: i + 1])
    return "/" + "/".join(out)


def glob(line: str, intensity: str, rng: random.Random) -> str:
    """Wildcard paths for the command and for well-known files: ``/u?r/b?n/c[a]t /e?c/p[a]sswd``.

    Globs only names whose full path is known on every Linux, and uses ``?`` only where no standard sibling
    directory matches, so each pattern expands to exactly one file (tests check each one here).
    """
    toks = _lex(line)
    k = _n(intensity, 1, 1, 2)
    done = 0
    for tok in _command_words(toks):
        if tok.text in GLOB_COMMANDS or tok.text in GLOB_COMMANDS.values():
            tok.text = _glob_path(GLOB_COMMANDS.get(tok.text, tok.text), rng, k)
            done += 1
            if intensity == "light":
                return _join(toks)
    if intensity != "light" or not done:
        for tok in toks:
            if tok.kind == "word" and tok.safe and all(tok.lit) and tok.text in GLOB_PATHS:
                tok.text = _glob_path(tok.text, rng, k)
                done += 1
                if intensity == "light":
                    break
    if not done:  # nothing known to glob: hand the line to a globbed bash
        return f"{_glob_path('/bin/bash', rng, k)} -c {shlex.quote(line)}"
    return _join(toks)


# --- variables, reversal, case ---------------------------------------------------------------------------------------


def variables(line: str, intensity: str, rng: random.Random) -> str:
    """Words split into variables and glued back: ``a=ca;b=t;$a$b /etc/passwd`` (heavy: whole line, then eval)."""
    taken: set[str] = set()
    if intensity == "heavy" or not _command_words(_lex(line)):
        names = [_var(rng, line, taken) for _ in range(_n(intensity, 2, 3, max(3, len(line) // 6)))]
        parts = _split(line, len(names), rng)
        assigns = ";".join(f"{n}={shlex.quote(p)}" for n, p in zip(names, parts))
        return f'{assigns};eval "{"".join("$" + n for n in names[: len(parts)])}"'
    toks = _lex(line)
    targets = _command_words(toks)[:1]
    if intensity == "medium":
        targets = [
            t
            for t in toks
            if t.kind == "word"
            and t.safe
            and not t.assign
            and all(t.lit)
            and len(t.text) > 1
            and _PLAIN_COMMAND.fullmatch(t.text)
            and "=" not in t.text
        ]
    assigns = []
    for tok in targets:
        if len(tok.text) < 2:
            continue
        parts = _split(tok.text, 2 if intensity == "light" else rng.randint(2, 3), rng)
        names = [_var(rng, line, taken) for _ in parts]
        assigns += [f"{n}={p}" for n, p in zip(names, parts)]
        tok.text = "".join("${" + n + "}" if rng.random() < 0.3 else "$" + n for n in names)
    if not assigns:
        raise SectuneError(f"bash/variables: no word to split in {line[:60]!r}")
    return ";".join(assigns) + ";" + _join(toks)


def _rev_text(text: str) -> str:
    return "\n".join(part[::-1] for part in text.split("\n"))  # rev reverses each line


def rev(line: str, intensity: str, rng: random.Random) -> str:
    """Reversed text put back by ``rev``: ``$(rev<<<tac) /etc/passwd``, ``echo 'dlrow olleh ohce'|rev|bash``."""
    _require_ascii(line, "rev")
    if intensity == "light":
        return _on_command_word(line, lambda w: f"$(rev<<<{shlex.quote(w[::-1])})", lambda t: rev(t, "medium", rng))
    if intensity == "medium":
        return _run_decoded(
            rng.choice([f"echo {shlex.quote(_rev_text(line))}|rev", f"rev<<<{shlex.quote(_rev_text(line))}"]), rng
        )
    name = _var(rng, line, set())
    return f'{name}={shlex.quote(_rev_text(line))};$(rev<<<hsab)<<<"$(rev<<<"${name}")"'


def case(line: str, intensity: str, rng: random.Random) -> str:
    """Case modification on expansion: ``x=CAT;${x,,} /etc/passwd`` (upper-cased text, lowered back by bash)."""
    _require_ascii(line, "case")
    taken: set[str] = set()

    def encode(text: str, mixed: bool) -> tuple[str, str]:
        if not any(c.isupper() for c in text):
            if mixed:
                return "".join(c.upper() if rng.random() < 0.6 else c for c in text), ",,"
            return text.upper(), ",,"
        if not any(c.islower() for c in text):
            return text.lower(), "^^"
        return text.swapcase(), "~~"

    if intensity == "light":
        toks = _lex(line)
        words = _command_words(toks)
        if words:  # else: the whole line, as in medium
            name = _var(rng, line, taken)
            value, op = encode(words[0].text, False)
            words[0].text = "${" + name + op + "}"
            return f"{name}={value};{_join(toks)}"
    name = _var(rng, line, taken)
    value, op = encode(line, intensity == "heavy")
    return f'{name}={shlex.quote(value)};eval "${{{name}{op}}}"'


# --- more in-the-wild styles -------------------------------------------------------------------------------------


def b32(line: str, intensity: str, rng: random.Random) -> str:
    """Base32 payload decoded by coreutils ``base32 -d`` and run (light: only the command name, ``$(base32 -d<<<MNQXI===)``)."""

    def enc(text: str) -> str:
        return base64.b32encode(text.encode()).decode()

    if intensity == "light":
        return _on_command_word(line, lambda w: f"$(base32 -d<<<{enc(w)})", lambda t: b32(t, "medium", rng))
    decoder = f"echo {enc(line)}|base32 -d" if intensity == "medium" else f"base32 --decode<<<{enc(line)}"
    return _run_decoded(decoder, rng)


def _pad(rng: random.Random, k: int) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(k))


def slicing(line: str, intensity: str, rng: random.Random) -> str:
    """Text cut out of a padded variable by ``${v:offset:length}`` (bash substring expansion): ``v=xcatq;${v:1:3} /etc/passwd``."""
    taken: set[str] = set()
    name = _var(rng, line, taken)
    toks = _lex(line)
    words = _command_words(toks)
    if intensity == "heavy" or not words:
        head, tail = _pad(rng, rng.randint(1, 6)), _pad(rng, rng.randint(0, 6))
        value = shlex.quote(head + line + tail)
        return f'{name}={value};eval "${{{name}:{len(head)}:{len(line)}}}"'
    pool = _pad(rng, rng.randint(1, 4))
    for tok in words[:1] if intensity == "light" else words:
        start = len(pool)
        pool += tok.text + _pad(rng, rng.randint(0, 3))
        tok.text = f"${{{name}:{start}:{len(tok.text)}}}"
    return f"{name}={pool};{_join(toks)}"


# name, family, function, layerable
TECHNIQUES = (
    ("base64", "encoding", b64, True),
    ("gzip-base64", "compression", gzip_b64, True),
    ("bzip2-base64", "compression", bzip2_b64, True),
    ("hex", "encoding", hex_xxd, True),
    ("octal", "encoding", octal, True),
    ("ansi-c-hex", "encoding", ansi_hex, True),
    ("printf", "escaping", printf_escapes, True),
    ("rot13", "encoding", rot13, True),
    ("quotes", "quoting", quotes, True),
    ("backslash", "escaping", backslash, True),
    ("null-expansion", "variables", null_expansion, True),
    ("ifs", "whitespace", ifs, True),
    ("brace", "whitespace", brace, True),
    ("glob", "globbing", glob, True),
    ("variables", "variables", variables, True),
    ("rev", "reversal", rev, True),
    ("case", "case", case, True),
    ("base32", "encoding", b32, True),
    ("slice", "variables", slicing, True),
)
