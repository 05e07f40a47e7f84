"""bash: what a line runs, computed statically (nothing is executed).

A small expander: statements split at ``; && || | &`` and newlines, words de-quoted (``'..'``, ``".."``, ``\\x``),
``$'..'`` ANSI-C escapes decoded, null expansions (``$@``, ``${*,,}``, ``${@/d/B}``...) slipped into a word removed
and ``$IFS``/``${IFS}`` inside one turned into a space (standing alone, ``"$@"`` and ``"$IFS"`` are a script's
arguments and separator, kept), ``{a,b}`` brace words split, variables assigned earlier on the line substituted (with ``,,``
``^^`` ``:a:b`` modifiers), globs in paths matched against a fixed list of standard files, and static pipelines
decoded: ``echo``/``printf``/here-strings through ``base64 -d``, ``xxd -r -p``, ``rev``, ``tr``, ``gunzip``,
``bunzip2``. What such a pipeline feeds to ``bash``, ``sh``, ``eval``, ``bash -c`` or ``$(...)`` is normalised in
turn. Anything not static (a real command's output, an unknown variable) is kept as written.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import fnmatch
import re
import zlib

from sectune.tasks.cmdline.normalize._budget import MAX_PAYLOAD, NotStatic, check_size, deeper, note, payload, tick
from sectune.tasks.cmdline.obfuscate.bash import GLOB_COMMANDS, GLOB_PATHS

_SEPARATORS = ("&&", "||", "|&", ";;", ";", "|", "&", "\n")
_SHELLS = {"bash", "sh", "/bin/bash", "/bin/sh", "dash", "zsh", "/usr/bin/bash"}
_KEYWORDS = frozenset("if then else elif while until do ! time".split())  # words before a compound's command
_KNOWN_PATHS = sorted(set(GLOB_COMMANDS.values()) | set(GLOB_PATHS) | {"/usr" + p for p in GLOB_COMMANDS.values()})
_ANSI = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "v": "\v"}
_ANSI.update({"\\": "\\", "'": "'", '"': '"', "?": "?"})
_NAME = re.compile(r"[A-Za-z_]\w*")
_ASSIGN = re.compile(r"([A-Za-z_]\w*)=")


class _Word:
    """An expanded word: its text and whether it held unquoted glob characters."""

    __slots__ = ("text", "glob", "quoted", "lead", "frozen")

    def __init__(self) -> None:
        self.text, self.glob, self.quoted = "", False, False
        self.lead, self.frozen = "", False  # the unquoted literal start, until a quote or expansion


def _matching(s: str, i: int, open_: str, close: str) -> int:
    """Index just past the ``close`` that matches ``s[i] == open_`` (quotes respected)."""
    depth, j = 0, i
    while j < len(s):
        tick()
        c = s[j]
        if c == "\\":
            j += 2
            continue
        if c == "'" and open_ != "{":
            k = s.find("'", j + 1)
            j = len(s) if k < 0 else k + 1
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise NotStatic("unbalanced")


def ansi_c(body: str) -> str:
    """The text of ``$'body'``: \\xHH, \\NNN (octal), \\uHHHH and the letter escapes decoded."""
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\" or i + 1 >= len(body):
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n == "x" and (m := re.match(r"[0-9a-fA-F]{1,2}", body[i + 2 :])):
            out.append(chr(int(m.group(), 16)))
            i += 2 + m.end()
        elif n in "uU" and (m := re.match(r"[0-9a-fA-F]{1,8}", body[i + 2 :])):
            out.append(chr(min(int(m.group(), 16), 0x10FFFF)))
            i += 2 + m.end()
        elif n in "01234567" and (m := re.match(r"[0-7]{1,3}", body[i + 1 :])):
            out.append(chr(int(m.group(), 8) & 0xFF))
            i += 1 + m.end()
        else:
            out.append(_ANSI.get(n, "\\" + n))
            i += 2
    return "".join(out)


def _printf(args: list[str]) -> str:
    if not args:
        raise NotStatic("printf without a format")
    fmt, rest = args[0], args[1:]
    if "%" not in fmt.replace("%%", ""):
        return ansi_c(fmt).replace("%%", "%")
    if re.fullmatch(r"(?:[^%]|%%|%s|%b)*", fmt) is None:
        raise NotStatic("printf format")
    count = fmt.replace("%%", "").count("%")
    out, rest = [], rest or [""]
    for k in range(0, max(len(rest), 1), count):
        chunk = rest[k : k + count] + [""] * count
        it = iter(chunk)
        out.append(ansi_c(re.sub(r"%%|%[sb]", lambda m, it=it: "%" if m.group() == "%%" else next(it), fmt)))
    return "".join(out)


def _tr_set(spec: str) -> str:
    spec = ansi_c(spec)
    out, i = [], 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            a, b = ord(spec[i]), ord(spec[i + 2])
            if b - a > 256:
                raise NotStatic("tr range")
            out.extend(chr(c) for c in range(a, b + 1))
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)


def _stage(argv: list[str], data: bytes | None) -> bytes:
    """One static pipeline stage: its output, given its input."""
    tick()
    name, args = argv[0].rsplit("/", 1)[-1], argv[1:]
    if name == "echo":
        flags = []
        while args and re.fullmatch(r"-[neE]+", args[0]):
            flags.append(args.pop(0))
        text = " ".join(args)
        if any("e" in f for f in flags):
            text = ansi_c(text)
        return (text + ("" if any("n" in f for f in flags) else "\n")).encode("utf-8", "surrogatepass")
    if name == "printf":
        return _printf(args).encode("utf-8", "surrogatepass")
    if data is None:
        raise NotStatic(f"{name} without a static input")
    if name == "cat" and not args:
        return data
    if name == "base64" and args and set(args) <= {"-d", "--decode", "-D", "-di", "-id", "-i"}:
        try:
            out = base64.b64decode(b"".join(data.split()) + b"=" * (-len(b"".join(data.split())) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise NotStatic("base64") from exc
        note("base64 payload decoded")
        return out
    if name == "base32" and args and set(args) <= {"-d", "--decode", "-di", "-id", "-i"}:
        compact = b"".join(data.split())
        try:
            out = base64.b32decode(compact + b"=" * (-len(compact) % 8), casefold=True)
        except (binascii.Error, ValueError) as exc:
            raise NotStatic("base32") from exc
        note("base32 payload decoded")
        return out
    if name == "xxd" and set(args) <= {"-r", "-p", "-ps", "-rp", "-pr"} and "-r" in "".join(args) + "-r":
        hexdigits = re.sub(rb"\s", b"", data)
        try:
            out = binascii.unhexlify(hexdigits)
        except (binascii.Error, ValueError) as exc:
            raise NotStatic("hex") from exc
        note("hex payload decoded")
        return out
    if name == "rev" and not args:
        note("reversed text restored")
        lines = data.decode("utf-8", "replace").split("\n")
        return "\n".join(line[::-1] for line in lines).encode("utf-8")
    if name == "tr" and len(args) == 2 and not args[0].startswith("-"):
        a, b = _tr_set(args[0]), _tr_set(args[1])
        if not b:
            raise NotStatic("tr")
        b = b + b[-1] * max(0, len(a) - len(b))
        note("tr translation applied" + (" (rot13)" if a.startswith("a") and b.startswith("n") else ""))
        return data.decode("utf-8", "replace").translate(str.maketrans(a, b[: len(a)])).encode("utf-8")
    if (name in ("gunzip", "zcat") and not args) or (name == "gzip" and args in (["-d"], ["-dc"], ["-cd"])):
        try:
            out = zlib.decompressobj(31).decompress(data, MAX_PAYLOAD)
        except zlib.error as exc:
            raise NotStatic("gzip") from exc
        note("gzip payload inflated")
        return out
    if (name in ("bunzip2", "bzcat") and not args) or (name == "bzip2" and args in (["-d"], ["-dc"], ["-cd"])):
        try:
            out = bz2.BZ2Decompressor().decompress(data, MAX_PAYLOAD)
        except (OSError, ValueError) as exc:
            raise NotStatic("bzip2") from exc
        note("bzip2 payload inflated")
        return out
    raise NotStatic(f"{name} is not a static decoder")


def _split(text: str) -> list[tuple[str, str]]:
    """``(statement, separator after it)`` at the top level (quotes, $( ), ${ }, backticks, braces respected)."""
    out, start, i = [], 0, 0
    while i < len(text):
        tick()
        c = text[i]
        if c == "\\":
            i += 2
        elif c == "'":
            k = text.find("'", i + 1)
            i = len(text) if k < 0 else k + 1
        elif c == '"':
            i = _skip_double(text, i)
        elif c == "$" and text.startswith("$(", i):
            i = _matching(text, i + 1, "(", ")")
        elif c == "$" and text.startswith("${", i):
            i = _matching(text, i + 1, "{", "}")
        elif c == "$" and text.startswith("$'", i):
            k = i + 2
            while k < len(text) and text[k] != "'":
                k += 2 if text[k] == "\\" else 1
            i = k + 1
        elif c == "`":
            k = text.find("`", i + 1)
            i = len(text) if k < 0 else k + 1
        elif c == "<" and text.startswith("<<<", i):
            i += 3
        else:
            sep = next((s for s in _SEPARATORS if text.startswith(s, i)), None)
            if sep is None or (sep == "&" and text[i - 1 : i] in "<>") or (sep in "|&" and text[i + 1 : i + 2] == ">"):
                i += 1
                continue
            out.append((text[start:i], sep))
            i += len(sep)
            start = i
    out.append((text[start:], ""))
    return out


def _skip_double(text: str, i: int) -> int:
    j = i + 1
    while j < len(text) and text[j] != '"':
        tick()
        if text[j] == "\\":
            j += 2
        elif text.startswith("$(", j):
            j = _matching(text, j + 1, "(", ")")
        elif text.startswith("${", j):
            j = _matching(text, j + 1, "{", "}")
        else:
            j += 1
    return j + 1


_IFS = re.compile(r"IFS|IFS:0:1|IFS::1|IFS%??|IFS:0:1}")
_NULL = re.compile(r"[@*](?:[,^~]{1,2}|/[^}]*|#.*|%.*|:.*)?|#|!\*?")
# \ls, \cp -f: one backslash before a plain command name skips the user's alias of it, a habit, not a disguise
_ALIAS_SKIP = re.compile(r"\\[A-Za-z][\w.+-]*(?=[\s;|&)]|$)")
_WORD_EDGE_BEFORE = set(" \t\n=({[|;&<>")
_WORD_EDGE_AFTER = set(" \t\n)}]|;&<>")


def _whole_word(s: str, start: int, end: int) -> bool:
    """``s[start:end]`` stands alone, quoted or not (``"$@"``, ``${@:2}``, ``"$IFS"``, ``=$IFS``): arguments passed
    on or a separator in use, as scripts write them; inside a word (``c$@at``, ``c"$@"at``, ``cat${IFS}x``) it is
    slipped in."""
    while start and s[start - 1] in "\"'":
        start -= 1
    while end < len(s) and s[end] in "\"'":
        end += 1
    before = s[start - 1] if start else " "
    after = s[end] if end < len(s) else " "
    return before in _WORD_EDGE_BEFORE and after in _WORD_EDGE_AFTER


def _splits_word(text: str, i: int, before: str) -> bool:
    """The quote at ``text[i]`` splits a word (``c''at``, ``pa""st""e``, ``c"at"``): letters before it, a closing
    quote, letters inside or after; an option's quoted value (``-p"secret"``), ``echo_"text"`` and an apostrophe in
    prose (``Let's go``) do not."""
    close = text.find(text[i], i + 1)
    if not before[-1:].isalnum() or close < 0 or not re.match(r"['\"]*\w", text[i + 1 : i + 4]):
        return False
    resumes = close + 1 < len(text) and (text[close + 1].isalnum() or text[close + 1] in "'\"")
    return resumes or not before.startswith(("-", "/"))


class _Expander:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.unknown = 0  # expansions left as written (known only at run time): a decoder fed one is not static

    def _kept(self, text: str, end: int) -> tuple[str, int]:
        """An expansion whose value only the running shell knows, kept as written."""
        self.unknown += 1
        return text, end

    # --- parameter expansion -------------------------------------------------------------
    def param(self, body: str) -> str:
        """``${body}`` (or ``$body``): the value, or NotStatic."""
        if _IFS.fullmatch(body):
            note("${IFS} -> space")
            return " "
        if _NULL.fullmatch(body):
            note("null expansion $@/$* removed")
            return ""
        m = re.fullmatch(r"([A-Za-z_]\w*)(.*)", body, re.S)
        if not m or m.group(1) not in self.env:
            raise NotStatic(f"unknown variable {body[:20]}")
        value, mod = self.env[m.group(1)], m.group(2)
        note("variable substituted")
        if mod == "":
            return value
        if mod == ",,":
            return value.lower()
        if mod == "^^":
            return value.upper()
        if mod == ",":
            return value[:1].lower() + value[1:]
        if mod == "^":
            return value[:1].upper() + value[1:]
        if mm := re.fullmatch(r":(-?\d+)(?::(-?\d+))?", mod.replace(": -", ":-")):
            start = int(mm.group(1))
            start = max(0, len(value) + start) if start < 0 else start
            if mm.group(2) is None:
                return value[start:]
            length = int(mm.group(2))
            return value[start : len(value) + length if length < 0 else start + length]
        raise NotStatic(f"modifier {mod[:10]}")

    def dollar(self, s: str, i: int, in_word: bool = False) -> tuple[str, int]:
        """The expansion starting at ``s[i] == "$"``: ``(text, end)``; ``in_word``: ``s`` is part of a longer word."""

        def alone(end: int) -> bool:
            return not in_word and _whole_word(s, i, end)

        if s.startswith("$'", i):
            k = i + 2
            while k < len(s) and s[k] != "'":
                k += 2 if s[k] == "\\" else 1
            note("$'..' ANSI-C escapes decoded")
            return ansi_c(s[i + 2 : k]), k + 1
        if s.startswith("$((", i):
            end = _matching(s, i + 1, "(", ")")
            return self._kept(s[i:end], end)
        if s.startswith("$(", i):
            end = _matching(s, i + 1, "(", ")")
            return self.substitute(s[i + 2 : end - 1], s[i:end]), end
        if s.startswith("${", i):
            end = _matching(s, i + 1, "{", "}")
            if alone(end) and (_IFS.fullmatch(s[i + 2 : end - 1]) or _NULL.fullmatch(s[i + 2 : end - 1])):
                return self._kept(s[i:end], end)
            try:
                return self.param(s[i + 2 : end - 1]), end
            except NotStatic:
                return self._kept(s[i:end], end)
        if i + 1 < len(s) and s[i + 1] in "@*":
            if alone(i + 2):
                return self._kept(s[i : i + 2], i + 2)
            note("null expansion $@/$* removed")
            return "", i + 2
        if (m := _NAME.match(s, i + 1)) and m.group() == "IFS" and alone(m.end()):
            return self._kept(s[i : m.end()], m.end())
        if m:
            try:
                return self.param(m.group()), m.end()
            except NotStatic:
                return self._kept(s[i : m.end()], m.end())
        if i + 1 < len(s) and (s[i + 1].isdigit() or s[i + 1] in "#?!$-"):  # $1, $#, $?: the script's own state
            return self._kept(s[i : i + 2], i + 2)
        return "$", i + 1

    def substitute(self, inner: str, literal: str) -> str:
        """``$(inner)``: its static output (trailing newlines stripped); else what it runs, normalised (its globs,
        escapes and decoders are the shell's to resolve even when its output is not static), in ``literal``'s
        brackets; else ``literal``."""
        try:
            with deeper():
                out = self.output(inner)
        except NotStatic:
            self.unknown += 1
            try:
                with deeper():
                    runs = _Expander(dict(self.env)).line(inner)
            except NotStatic:
                return literal
            return f"`{runs}`" if literal.startswith("`") else f"$({runs})"
        note("command substitution computed")
        return out.rstrip("\n")

    # --- words -------------------------------------------------------------------------------
    def words(self, text: str) -> list[_Word]:
        words, cur, i = [], None, 0
        while i < len(text):
            tick()
            c = text[i]
            if c in " \t\n":
                if cur is not None:
                    words.append(cur)
                    cur = None
                i += 1
                continue
            if cur is None:
                cur = _Word()
            if c in "'\"" and _splits_word(text, i, cur.text):
                note("quotes inside a word removed")
            if c in "\\'\"$`":
                cur.frozen = True
            elif not cur.frozen:
                cur.lead += c
            if c == "\\":
                if i + 1 < len(text):
                    if text[i + 1].isalnum() and not (not words and not cur.text and _ALIAS_SKIP.match(text, i)):
                        note("backslash escape removed")
                    cur.text += text[i + 1]
                i += 2
            elif c == "'":
                k = text.find("'", i + 1)
                k = len(text) if k < 0 else k
                cur.text += text[i + 1 : k]
                cur.quoted = True
                i = k + 1
            elif c == '"':
                end = _skip_double(text, i)
                in_word = bool(cur.text) or (end < len(text) and text[end] not in " \t\n|;&)<>")
                cur.text += self.double(text[i + 1 : end - 1], in_word)
                cur.quoted = True
                i = end
            elif c == "$":
                value, i = self.dollar(text, i)
                cur.text += value
            elif c == "`":
                k = text.find("`", i + 1)
                k = len(text) if k < 0 else k
                cur.text += self.substitute(text[i + 1 : k], text[i : k + 1])
                i = k + 1
            elif c == "<" and text.startswith("<<<", i):
                if cur.text:
                    words.append(cur)
                w = _Word()
                w.text = "<<<"
                words.append(w)
                cur = None
                i += 3
            else:
                if c in "*?[":
                    cur.glob = True
                cur.text += c
                i += 1
            check_size(cur.text if cur is not None else "")
        if cur is not None:
            words.append(cur)
        return words

    def double(self, body: str, in_word: bool = False) -> str:
        """A double-quoted string's value; ``in_word``: it is part of a longer word (``c"$@"at``)."""
        out, i = [], 0
        while i < len(body):
            c = body[i]
            if c == "\\" and i + 1 < len(body) and body[i + 1] in '$`"\\\n':
                out.append(body[i + 1])
                i += 2
            elif c == "$" and not body.startswith("$'", i):
                value, i = self.dollar(body, i, in_word)
                out.append(value)
            elif c == "`":
                k = body.find("`", i + 1)
                k = len(body) if k < 0 else k
                out.append(self.substitute(body[i + 1 : k], body[i : k + 1]))
                i = k + 1
            else:
                out.append(c)
                i += 1
        return "".join(out)

    # --- statements ----------------------------------------------------------------------
    def argv(self, statement: str) -> tuple[list[str], str | None]:
        """The words of one simple command (assignments recorded and dropped) and its here-string."""
        words = self.words(statement)
        here = None
        if "<<<" in [w.text for w in words if not w.quoted]:
            k = next(k for k, w in enumerate(words) if w.text == "<<<" and not w.quoted)
            if k + 1 < len(words):
                here = words[k + 1].text
                words = words[:k] + words[k + 2 :]
        while words and (m := _ASSIGN.match(words[0].lead)):
            self.env[m.group(1)] = words[0].text[m.end() :]
            note("variable assignment folded")
            words = words[1:]
        out = []
        command = next((k for k, w in enumerate(words) if w.quoted or w.text not in _KEYWORDS), 0)
        for k, w in enumerate(words):
            text = w.text
            if k == command and w.lead.startswith("{") and re.fullmatch(r"\{[^{}\s]*,[^{}\s]*\}", text):
                note("brace word split")
                out.extend(text[1:-1].split(","))
                continue
            if w.glob and "/" in text:
                hits = [p for p in _KNOWN_PATHS if fnmatch.fnmatchcase(p, text)]
                if len(hits) >= 1:
                    note(f"glob {text[:30]} -> {hits[0]}")
                    text = hits[0].rsplit("/", 1)[-1] if k == 0 else hits[0]
            out.append(text)
        return out, here

    def output(self, text: str) -> str:
        """The static output of a pipeline ``text`` (NotStatic if any stage is not a static decoder)."""
        data = None
        for statement, sep in _split(text):
            if sep not in ("|", ""):
                raise NotStatic("not a pipeline")
            known = self.unknown
            argv, here = self.argv(statement)
            if not argv:
                raise NotStatic("empty stage")
            if self.unknown > known:
                raise NotStatic("a stage reads a value known only at run time")
            if here is not None:
                data = (here + "\n").encode("utf-8", "surrogatepass")
            data = _stage(argv, data)
            if len(data) > MAX_PAYLOAD:
                raise NotStatic("too large")
        if data is None:
            raise NotStatic("no output")
        return data.decode("utf-8", "replace")

    def line(self, text: str) -> str:
        parts: list[str] = []
        pending: list[str] = []  # statements of the current pipeline, for "... | bash"
        for statement, sep in _split(text):
            tick()
            if not statement.strip():
                if sep and parts:
                    parts.append(sep.strip() or ";")
                continue
            argv, here = self.argv(statement)
            if not argv and here is None:  # only assignments
                pending = []
                continue
            name = argv[0].rsplit("/", 1)[-1] if argv else ""
            run = None
            if name in {s.rsplit("/", 1)[-1] for s in _SHELLS} and len(argv) == 1 and here is not None:
                run, why = here, f"here-string fed to {name} normalised"
            elif name in ("bash", "sh", "dash", "zsh") and len(argv) >= 3 and argv[1] == "-c":
                run, why = argv[2], f"{name} -c argument normalised"
            elif name == "eval" and len(argv) > 1:
                run, why = " ".join(argv[1:]), "eval argument normalised"
            elif name in ("bash", "sh", "dash", "zsh") and len(argv) == 1 and pending:
                try:
                    run, why = self.output(" | ".join(pending)), f"static pipeline fed to {name} decoded"
                    parts = parts[: -2 * len(pending)]
                except NotStatic:
                    run = None
            if run is not None:
                note(why)
                payload(run)
                with deeper():
                    inner = _Expander(self.env).line(run)
                parts.append(inner)
            else:
                words = argv + ([] if here is None else ["<<<", here])
                parts.append(" ".join(words))
            pending = pending + [statement] if sep == "|" else []
            if sep:
                parts.append(sep.strip() or ";")
        while parts and parts[-1] in (";", "&", "\n"):
            parts.pop()
        return " ".join(" ".join(parts).split())


def normalize_bash(line: str) -> str:
    """What ``line`` runs under bash (see the module docstring)."""
    return _Expander({}).line(line)
