"""PowerShell: what a line runs, computed statically (nothing is executed).

``Evaluator`` is a parser for the string-building constructs obfuscators use ('a'+'b', "{1}{0}" -f ..., [char]N,
[char[]](...), -join, 'abc'[-1..-3], -replace with a literal pattern, .Replace(), [string]::Join,
[array]::Reverse) with PowerShell's precedence (casts and unary -join > comma > -f > + > -join/-replace);
``reassemble`` unwraps ``iex (...)``, ``&(...)``/``.(...)`` and ``$v = ...`` statements into the code they run.
The evaluator also reads arithmetic, ``$( )``, ``[int]`` and ``(codes) | %{ [char][int] $_ }``, so that the parts a
line builds in place (Invoke-PSObfuscation's "layer 0": ``& (("<alphabet>")[8,13] -join '')``,
``$([char](9+84-9)+...)``) fold where they stand; ``Get-Command``/``Get-Alias`` wildcards (Invoke-CradleCrafter's
``&(gcm *w-O*)``) resolve against the known cmdlets, and ``[ScriptBlock]::Create``/``InvokeScript`` unwrap.
:func:`normalize_powershell` adds ``-EncodedCommand`` (and its abbreviations) decoding, Deflate/Gzip payloads,
plain-text SecureStrings, backtick removal, aliases -> cmdlets and case folding of code (strings keep their case).
tests/test_obfuscate_powershell.py checks the engine's PowerShell techniques against this module.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import functools
import re
import zlib

from sectune.tasks.cmdline.normalize._budget import (
    MAX_PAYLOAD,
    NotStatic,
    TooComplex,
    check_size,
    note,
    payload,
    tick,
)
from sectune.tasks.cmdline.obfuscate.cmd import ENV
from sectune.tasks.cmdline.obfuscate.powershell import ALIASES, _code_mask

# automatic variables whose characters obfuscators index ($PSHome[4]+$PSHome[30]+'x' is iex), with a default install's
# environment ($env:Public[13])
VARIABLES = {
    **{f"$env:{name.lower()}": value for name, value in ENV.items()},
    "$env:comspec": "C:\\WINDOWS\\system32\\cmd.exe",
    "$shellid": "Microsoft.PowerShell",
    "$pshome": "C:\\Windows\\System32\\WindowsPowerShell\\v1.0",
    "$verbosepreference": "SilentlyContinue",
}
_SAFE_PATTERN = re.compile(r"[\w#@!~%&=:;,<> '\"/-]{0,64}")  # a -replace pattern without regex operators


def _need(condition, problem: str) -> None:
    if not condition:
        raise NotStatic(problem)


class Char(str):
    """A [char]: PowerShell concatenates it with + like a string."""


_TOKEN = re.compile(
    r"""(?P<ws>\s+|<\#.*?\#>)|(?P<sq>'(?:[^']|'')*')|(?P<dq>"[^"$`]*")|(?P<num>0x[0-9a-fA-F]+|\d+)
    |(?P<type>\[(?:string|char\[\]|char|array|int|(?:system\.)?convert)\])|(?P<static>::)
    |(?P<op>-join|-f|-replace|-creplace|-split|-isplit|-csplit)\b
    |(?P<range>\.\.)|(?P<sub>\$\()|(?P<var>\$env:\w+|\$\w+)|(?P<method>\.[A-Za-z]\w*)
    |(?P<each>%|foreach-object\b|foreach\b)|(?P<name>[A-Za-z]\w*)|(?P<punct>[()\[\],+@*/|{};-])""",
    re.X | re.I | re.S,
)


def to_str(v) -> str:
    if isinstance(v, list):
        return " ".join(map(to_str, v))
    return str(v)


class Evaluator:
    def __init__(self, text: str, start: int = 0, variables: dict | None = None):
        self.tokens, pos = [], start
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            _need(m, f"cannot tokenise {text[pos : pos + 30]!r}")
            tick()
            if m.lastgroup != "ws":
                self.tokens.append((m.lastgroup, m.group(), m.end()))
            pos = m.end()
        self.i, self.vars = 0, variables if variables is not None else {}

    def peek(self, kind=None, value=None):
        if self.i >= len(self.tokens):
            return None
        k, v, _ = self.tokens[self.i]
        if (kind is None or k == kind) and (value is None or v.lower() == value):
            return self.tokens[self.i]
        return None

    def take(self, kind=None, value=None):
        tok = self.peek(kind, value)
        _need(tok, f"expected {kind} {value} at {self.tokens[self.i : self.i + 3]}")
        self.i += 1
        return tok[1]

    def end(self) -> int:
        return self.tokens[self.i - 1][2]

    def expr(self):
        left = self.additive()
        while self.peek("op") and self.peek("op")[1].lower() != "-f":
            op = self.take("op").lower()
            right = self.additive()
            if op == "-join":
                left = to_str(right).join(map(to_str, left if isinstance(left, list) else [left]))
            elif op.endswith("split"):  # '4e~65~77' -split '~' (literal separators, | between alternatives)
                pieces = to_str(right).split("|")
                _need(all(_SAFE_PATTERN.fullmatch(p) and p for p in pieces), "a -split pattern with regex operators")
                pattern = "|".join(map(re.escape, pieces))
                parts = [re.split(pattern, to_str(v), flags=0 if op == "-csplit" else re.I) for v in _items(left)]
                left = [p for part in parts for p in part]
            else:
                pattern, repl = right
                _need(_SAFE_PATTERN.fullmatch(pattern), "a -replace pattern with regex operators")
                left = re.sub(pattern, repl, to_str(left), flags=0 if op == "-creplace" else re.I)
        while self.peek("punct", "|"):
            self.take()
            left = self.for_each(left)
        return left

    def for_each(self, items):
        """``| % { expression of $_ }``: the expression for each item (``%{$_}``, ``%{;$_;}`` pass items on)."""
        self.take("each")
        self.take("punct", "{")
        start, depth = self.i, 1
        while depth:
            _need(self.i < len(self.tokens), "unclosed script block")
            kind, value, _ = self.tokens[self.i]
            depth += (value == "{") - (value == "}") if kind == "punct" else 0
            self.i += 1
        body = list(self.tokens[start : self.i - 1])
        while body and body[0][1] == ";":
            body.pop(0)
        while body and body[-1][1] == ";":
            body.pop()
        _need(body, "empty script block")
        out = []
        for item in items if isinstance(items, list) else [items]:
            tick()
            inner = Evaluator("", variables={**self.vars, "$_": item})
            inner.tokens = body
            out.append(inner.expr())
            _need(inner.i == len(body), "a script block that is not one expression")
        return out if len(out) != 1 else out[0]

    def additive(self):
        left = self.multiplicative()
        while self.peek("punct", "+") or self.peek("punct", "-"):
            if self.take() == "-":
                right = self.multiplicative()
                _need(_number(left) and _number(right), "- of non-numbers")
                left = left - right
                continue
            right = self.multiplicative()
            if isinstance(left, list):
                left = left + (right if isinstance(right, list) else [right])
            elif isinstance(left, str):
                left = left + to_str(right)
                check_size(left)
            else:
                left = left + right
        return left

    def multiplicative(self):
        left = self.format()
        while self.peek("punct", "*") or self.peek("punct", "/"):
            op = self.take()
            right = self.format()
            _need(_number(left) and _number(right), f"{op} of non-numbers")
            if op == "*":
                left = left * right
                _need(abs(left) < 1 << 32, "number too large")
            else:
                _need(right != 0, "division by zero")
                left = left // right if left % right == 0 else left / right
        return left

    def format(self):
        left = self.comma()
        while self.peek("op", "-f"):
            self.take()
            args = self.comma()
            args = args if isinstance(args, list) else [args]
            left = re.sub(r"\{(\d+)\}", lambda m, args=args: to_str(args[int(m.group(1))]), left)
        return left

    def comma(self):
        items = [self.range_()]
        while self.peek("punct", ","):
            self.take()
            items.append(self.range_())
        return items if len(items) > 1 else items[0]

    def range_(self):
        left = self.unary()
        if self.peek("range"):
            self.take()
            right = self.unary()
            _need(isinstance(left, int) and isinstance(right, int), "range of non-integers")
            step = 1 if right >= left else -1
            if abs(right - left) > 10_000:
                raise TooComplex("range too long")
            return list(range(left, right + step, step))
        return left

    def unary(self):
        if self.peek("op", "-join"):
            self.take()
            v = self.unary()
            return "".join(map(to_str, v if isinstance(v, list) else [v]))
        if self.peek("punct", "-"):
            self.take()
            return -self.unary()
        if self.peek("type"):
            kind = self.take().lower()
            if self.peek("static"):
                self.take()
                method = self.take("name").lower()
                args = self.call_args()
                if (kind, method) == ("[string]", "join"):
                    return to_str(args[0]).join(map(to_str, args[1]))
                if (kind, method) == ("[array]", "reverse"):
                    return args
                if kind.endswith("convert]") and method in ("toint16", "toint32", "toint64", "tobyte", "tochar"):
                    value = int(to_str(args[0]).strip(), int(args[1]) if len(args) > 1 else 10)  # hex, octal, binary
                    return Char(chr(value)) if method == "tochar" else value
                raise NotStatic(f"unmodelled {kind}::{method}")
            return self.cast(kind, self.unary())
        return self.postfix()

    def cast(self, kind: str, v):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if kind == "[char]":
            return Char(chr(v)) if isinstance(v, int) else Char(v)
        if kind == "[int]":
            return ord(v) if isinstance(v, Char) and len(v) == 1 else int(v)
        if kind == "[string]":
            return to_str(v)
        if kind == "[char[]]":
            return [Char(chr(x)) if isinstance(x, int) else Char(x) for x in (v if isinstance(v, list) else list(v))]
        raise NotStatic(kind)

    def call_args(self):
        self.take("punct", "(")
        args = self.expr()
        self.take("punct", ")")
        return args if isinstance(args, list) else [args]

    def postfix(self):
        v = self.primary()
        while True:
            if self.peek("punct", "["):
                self.take()
                index = self.expr()
                self.take("punct", "]")
                v = [Char(v[k]) for k in index] if isinstance(index, list) else Char(v[index])
            elif self.peek("method"):
                method = self.take().lower()
                if method == ".replace":
                    old, new = self.call_args()
                    v = to_str(v).replace(old, new)
                elif method == ".tostring":
                    self.take("punct", "(")
                    self.take("punct", ")")
                    v = to_str(v)
                elif method == ".tochararray":
                    self.take("punct", "(")
                    self.take("punct", ")")
                    v = [Char(c) for c in v]
                else:
                    raise NotStatic(method)
            else:
                return v

    def primary(self):
        kind, value, _ = self.tokens[self.i]
        self.i += 1
        if kind == "sq":
            return value[1:-1].replace("''", "'")
        if kind == "dq":
            return value[1:-1]
        if kind == "num":
            return int(value, 0)
        if kind == "var":
            _need(value.lower() in self.vars or value.lower() in VARIABLES, f"unknown variable {value}")
            return self.vars[value.lower()] if value.lower() in self.vars else VARIABLES[value.lower()]
        if value == "@":
            self.take("punct", "(")
            v = self.expr()
            self.take("punct", ")")
            return v if isinstance(v, list) else [v]
        _need(value == "(" or kind == "sub", f"unexpected {value!r}")
        v = self.expr()
        self.take("punct", ")")
        return v


def _items(v) -> list:
    return v if isinstance(v, list) else [v]


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def evaluate(text: str, variables: dict | None = None):
    e = Evaluator(text, variables=variables)
    v = e.expr()
    _need(e.i == len(e.tokens), f"left over: {e.tokens[e.i :]}")
    return v


def statements(text: str) -> list[str]:
    mask = _code_mask(text)
    out, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if mask[i] and c in "({":
            depth += 1
        elif mask[i] and c in ")}":
            depth -= 1
        elif mask[i] and c == ";" and depth == 0:
            out.append(text[start:i])
            start = i + 1
    return out + [text[start:]]


def reassemble(text: str) -> str:
    """The code an obfuscated line runs: wrappers unwrapped, string expressions evaluated."""
    variables: dict = {}
    for st in map(str.strip, statements(text)):
        if m := re.fullmatch(r"(?i)\[array\]::reverse\(\$(\w+)\)", st):
            variables["$" + m.group(1).lower()].reverse()
            continue
        if m := re.match(r"(?i)(iex|invoke-expression)\s*(?=\()", st):
            return evaluate(st[m.end() :], variables)
        if m := re.search(r"(?i)\)\s*\|\s*(iex|invoke-expression)$", st):
            return evaluate(st[: m.start() + 1], variables)
        if st[:2] in ("&(", ".(") and (head := _group(st, 1, variables))[0].lower() == "iex":
            try:
                return evaluate(st[head[1] :], variables)
            except NotStatic:  # the seed's own IEX, rebuilt by a light variant
                break
        if m := re.match(r"\$(\w+)\s*=(?!=)", st):
            try:
                variables["$" + m.group(1).lower()] = evaluate(st[m.end() :], variables)
                continue
            except NotStatic:  # not a string expression: an ordinary statement of the seed
                pass
        break
    # a light variant: the first command name was rebuilt as &(...) or .(...)
    found = [k for k in (text.find("&("), text.find(".(")) if k >= 0]
    _need(found, "no string expression to fold")
    i = min(found)
    name, end = _group(text, i + 1, {})
    return text[:i] + name + text[end:]


def _group(text: str, start: int, variables: dict) -> tuple[str, int]:
    """Evaluate the parenthesised expression starting at ``start``; its value and where it ends."""
    e = Evaluator(text[: _close(text, start) + 1], start, variables)
    value = e.primary()
    return value, e.end()


def _close(text: str, start: int) -> int:
    mask, depth = _code_mask(text), 0
    for i in range(start, len(text)):
        if mask[i] and text[i] == "(":
            depth += 1
        elif mask[i] and text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise NotStatic("unbalanced")


ALIAS_TO_CMDLET = {alias.lower(): cmdlet for cmdlet, names in ALIASES.items() for alias in names}
ALIAS_TO_CMDLET.update({"iex": "Invoke-Expression", "iwr": "Invoke-WebRequest", "irm": "Invoke-RestMethod"})
_ENCODED = re.compile(
    r"(?i)(?:^|(?<=\s))[-/](?:e|ec|en|enc|enco|encod|encode|encoded|encodedc|encodedco|encodedcom|encodedcomm"
    r"|encodedcomma|encodedcomman|encodedcommand)[\s:]+['\"]?([A-Za-z0-9+/]{4,}={0,2})['\"]?"
)
_FROM_B64 = re.compile(r"(?i)frombase64string\s*\(")
_SECURE_PLAIN = re.compile(r"(?i)convertto-securestring\s+('(?:[^']|'')*')\s+-asplaintext")
_BACKTICK = re.compile(r"`(?=[A-Za-z])")
_ESCAPE_LETTERS = set("0abefnrtuvABEFNRTUV")
_COMMAND_POSITION = re.compile(r"(^|[|;({&]\s*|^\s*\.\s+)([A-Za-z%?][\w?-]*|[%?])(?=\s|$|\))")


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _inflate(data: bytes) -> str | None:
    for wbits in (-15, 31, 15):
        try:
            d = zlib.decompressobj(wbits)
            out = d.decompress(data, MAX_PAYLOAD)
        except zlib.error:
            continue
        for encoding in ("utf-8", "utf-16-le"):
            try:
                return out.decode(encoding)
            except UnicodeDecodeError:
                continue
    return None


def decode_encoded_command(line: str) -> tuple[str, str] | None:
    """``(payload, switch)`` of a ``-EncodedCommand`` (any abbreviation) in ``line``: base64 of UTF-16LE text."""
    m = _ENCODED.search(line)
    if not m:
        return None
    check_size(m.group(1))
    data = _b64(m.group(1))
    if data is None or len(data) % 2:
        return None
    try:
        text = data.decode("utf-16-le")
    except UnicodeDecodeError:
        return None
    if not text.isprintable() and not all(c.isprintable() or c in "\r\n\t" for c in text):
        return None
    return text, m.group(0).split()[0]


_INLINE_B64 = re.compile(
    r"(?i)\[(?:system\.)?text\.encoding\]::(utf8|unicode|ascii|default)\.getstring\(\s*"
    r"\[(?:system\.)?convert\]::frombase64string\(\s*(?:'([A-Za-z0-9+/=\s]*)'|\"([A-Za-z0-9+/=\s]*)\")\s*\)\s*\)"
)
_NUM = r"(?:0x[0-9a-fA-F]+|\d+)"
_BXOR = re.compile(
    rf"(?i)\(\s*({_NUM}(?:\s*,\s*{_NUM})*)\s*\)\s*\|\s*(?:foreach-object|foreach|%)\s*\{{\s*\[char\]\s*\(\s*"
    rf"\$_\s*-bxor\s*({_NUM})\s*\)\s*\}}"
)


def _inline_decoded(text: str) -> str | None:
    """``[Text.Encoding]::X.GetString([Convert]::FromBase64String('..'))`` -> a string literal; ``(codes) |
    % {[char]($_ -bxor k)}`` -> ``[char[]](decoded codes)``; None when there is neither."""

    def b64(m: re.Match) -> str:
        data = _b64("".join((m.group(2) or m.group(3) or "").split()))
        if data is None:
            return m.group()
        decoded = data.decode("utf-16-le" if m.group(1).lower() == "unicode" else "utf-8", "replace")
        payload(decoded)
        note("inline base64 string decoded")
        return "'" + decoded.replace("'", "''") + "'"

    def bxor(m: re.Match) -> str:
        key = int(m.group(2), 0)
        codes = [int(c, 0) ^ key for c in re.split(r"\s*,\s*", m.group(1).strip())]
        note(f"-bxor {key} character codes decoded")
        return "[char[]](" + ",".join(str(c) for c in codes) + ")"

    out = _BXOR.sub(bxor, _INLINE_B64.sub(b64, text))
    return out if out != text else None


def _strings_folded(text: str) -> str | None:
    """One layer of string building folded (``reassemble``), or None when there is none."""
    if not re.search(r"(?i)&\s*\(|\.\(|\biex\b|invoke-expression|^\s*\$\w+\s*=", text):
        return None
    try:
        out = reassemble(text)
    except (NotStatic, IndexError, KeyError, TypeError, ValueError, AttributeError, OverflowError, re.error):
        return None
    return out if isinstance(out, str) and out != text else None


def _base64_payload(text: str) -> str | None:
    """The inflated payload of ``[Convert]::FromBase64String(<static string>)`` (Deflate or Gzip)."""
    m = _FROM_B64.search(text)
    if not m:
        return None
    start = m.end() - 1
    try:
        arg = evaluate(text[start : _close(text, start) + 1])
    except (NotStatic, IndexError, KeyError, TypeError, ValueError, AttributeError, OverflowError, re.error):
        return None
    data = _b64(to_str(arg))
    return None if data is None else _inflate(data)


def _fold_code(text: str) -> str:
    """Backticks before letters removed, aliases -> cmdlets, code (not strings) lower-cased."""
    mask = _code_mask(text)
    out = []
    for i, c in enumerate(text):
        if mask[i] and c == "`" and i + 1 < len(text) and text[i + 1].isalpha() and text[i + 1] not in _ESCAPE_LETTERS:
            continue
        out.append(c.lower() if mask[i] else c)
    folded = "".join(out)
    if "`" in text and "`" not in folded:
        note("backticks removed")

    def alias(m: re.Match) -> str:
        name = m.group(2).lower()
        cmdlet = ALIAS_TO_CMDLET.get(name)
        if cmdlet is None or (name in ("%", "?", "where", "foreach") and not m.group(1).strip().startswith("|")):
            return m.group()
        note(f"alias {name} -> {cmdlet.lower()}")
        return m.group(1) + cmdlet.lower()

    mask = _code_mask(folded)
    result, last = [], 0
    for m in _COMMAND_POSITION.finditer(folded):
        if mask[m.start(2)]:
            result.append(folded[last : m.start()])
            result.append(alias(m))
            last = m.end()
    result.append(folded[last:])
    return " ".join("".join(result).split())


# --- parts of a line built at run time (Invoke-PSObfuscation's "layer 0", Invoke-CradleCrafter's lookups) ---------
_ERRORS = (NotStatic, IndexError, KeyError, TypeError, ValueError, AttributeError, OverflowError, re.error)
_FOLDABLE = re.compile(
    # & (...), . (...), &$x: a command name computed (also first after powershell -c, as a launcher passes it)
    r"(?P<call>(?:^|(?<=[;|{(=])|(?i:(?<=\s-c\s)|(?<=\s-command\s)))\s*[&.]\s*(?=\(|\$\w+(?:\s|$|[;|\"])))"
    r"|(?P<sub>\$(?=\())"  # $( ... ): a value computed
    r"|(?P<member>(?<=[\w)\]])\.(?=[('\"]))"  # $wc.('Down'+'loadString'), $wc."DownloadString": a member name
)
_LOOKUP = re.compile(
    r"""(?ix)^\(\s*(?:
        (?:get-command|gcm|get-alias|gal)\s+(?:-name\s+)?(?P<q1>['"]?)(?P<p1>[\w*?\[\]-]+)(?P=q1)
            (?:\s+-commandtype\s+\w+)?
      | \$executioncontext\.invokecommand\.(?:getcmdlets?|getcommand|getcommandname)
            \(\s*(?P<q2>['"])(?P<p2>[\w*?\[\]-]+)(?P=q2)[^()]*\)(?:\[\d+\])?
    )\s*\)$"""
)
_CONTEXT_LOOKUP = re.compile(
    r"(?i)(?<=[&.])(\s*)\$executioncontext\.invokecommand\.(?:getcmdlet|getcommand)\(\s*(['\"])([\w-]+)\2[^()]*\)"
)
_SCRIPT_BLOCK = re.compile(
    r"(?i)\[scriptblock\]::create\s*(?=\()|\$executioncontext\.invokecommand\.(?:newscriptblock|invokescript)\s*(?=\()"
)
_ONLY_WRAPPER = re.compile(
    r"(?i)\s*(?:(?:invoke-command|icm)\s+(?:-scriptblock\s+)?|[&.]\s*)?(\(\s*)?\x00(?(1)\s*\))"
    r"\s*(?:\.invoke(?:returnasis)?\(\s*\))?\s*"
)
_NO_OP_STAGE = re.compile(r"\|\s*%\s*\{\s*;?\s*\$_\s*;?\s*\}\s*(?=\|)")


@functools.cache
def known_commands() -> tuple[str, ...]:
    """The cmdlets and aliases a wildcard lookup is resolved against, lower-cased: the engine's aliases and every
    Verb-Noun of the benign PowerShell templates (a pattern resolves only when exactly one of them matches)."""
    from sectune.tasks.cmdline.normalize.guess import CMDLET_VERBS
    from sectune.tasks.cmdline.templates_windows import POWERSHELL

    names = set(ALIASES) | {alias for aliases in ALIASES.values() for alias in aliases}
    text = "\n".join(f"{program} {' '.join(lines)}" for program, lines in POWERSHELL.items())
    for word in re.findall(r"(?<![\w-])[A-Za-z]+-[A-Za-z]+(?![\w-])", text):
        if word.split("-")[0].lower() in CMDLET_VERBS:
            names.add(word)
    return tuple(sorted({name.lower() for name in names}))


def _looked_up(pattern: str) -> str | None:
    """The one known command ``pattern`` names (a wildcard lookup resolved), noted; None if none or several."""
    if not re.search(r"[*?\[]", pattern):
        note(f"command looked up by name -> {pattern.lower()}")
        return pattern
    hits = {name for name in known_commands() if fnmatch.fnmatchcase(name, pattern.lower())}
    if len(hits) != 1:
        note(f"glob {pattern} for a command: {len(hits)} known commands match")
        return None
    name = hits.pop()
    note(f"glob {pattern} -> {name} (a command found by wildcard)")
    return name


def _in_code(text: str, pos: int) -> bool:
    """Whether a comment opening at ``pos`` is outside strings (the mask marks the comment itself as not code)."""
    return _code_mask(text[:pos] + "x")[-1]


def _comments_removed(text: str) -> str:
    """Inline ``<# ... #>`` comments (Invoke-PSObfuscation's ``<##>$_``) read as the space they are."""
    out, last = [], 0
    for m in re.finditer(r"<#.*?#>", text, re.S):
        if m.start() >= last and _in_code(text, m.start()):
            out += [text[last : m.start()], " "]
            last = m.end()
    if not out:
        return text
    note("inline <# #> comments removed")
    return "".join(out) + text[last:]


def _script_block_unwrapped(text: str) -> str | None:
    """``[ScriptBlock]::Create('code').Invoke()``, ``$ExecutionContext.InvokeCommand.InvokeScript('code')``,
    ``Invoke-Command ([scriptblock]::Create(...))``: the code, when it is a static string."""
    mask = _code_mask(text)
    for m in _SCRIPT_BLOCK.finditer(text):
        if not mask[m.start()]:
            continue
        try:
            code, end = _group(text, m.end(), {})
        except _ERRORS:
            continue
        if not isinstance(code, str):
            continue
        note(f"script block unwrapped ({m.group().strip().lower()})")
        payload(code)
        if _ONLY_WRAPPER.fullmatch(text[: m.start()] + "\x00" + text[end:]):
            return code
        return text[: m.start()] + "{" + code + "}" + text[end:]
    return None


def _static_variables(text: str) -> tuple[dict, set[str]]:
    """The values of the line's ``$x = <static expression>`` statements (after ``powershell -c`` too), and which of
    them were computed rather than written as one literal: ``&$x`` runs a name an obfuscator built in a variable
    (Invoke-Obfuscation's VAR launchers), while ``$exe = 'C:\\Tools\\a.exe'; & $exe`` is how scripts are written."""
    variables: dict = {}
    computed = set()
    for statement in statements(text):
        m = re.match(r"(?i)(?:[^$]*?\s-c(?:ommand)?\s+)?\s*\$(\w+)\s*=(?!=)\s*", statement)
        if not m:
            continue
        name, expression = "$" + m.group(1).lower(), statement[m.end() :].strip().rstrip('"')
        try:
            variables[name] = evaluate(expression, variables)
        except _ERRORS:
            continue
        if not re.fullmatch(r"'(?:[^']|'')*'|\"[^\"$`]*\"|\d+", expression):
            computed.add(name)
    return variables, computed


def _parts_folded(text: str) -> str | None:
    """Every part of the line computed from static strings, folded in place: ``& ((..)[29,51] -join '')`` and
    ``&(gcm I*e-W*t)`` -> the command's name, ``$([char](0+84-0)+...)`` -> its string, ``.('Down'+'load')`` and
    ``."DownloadString"`` -> the member's name, ``| %{$_} |`` dropped; None when nothing folds."""
    out, last, folded = [], 0, []
    variables, computed = _static_variables(text)
    mask = _code_mask(text)  # once per text: every match below starts on a character the mask describes
    for m in _FOLDABLE.finditer(text):
        if m.start() < last or not mask[m.start()]:
            continue
        start = m.end()
        try:
            if m.group("call") and text[start] == "$":  # $x='who'+'ami'; &$x
                name = re.match(r"\$\w+", text[start:]).group().lower()
                _need(name in computed, "a variable written as one literal")
                value, end = variables[name], start + len(name)
            elif m.group("member") and text[start] in "'\"":
                close = text.index(text[start], start + 1)
                value, end = text[start + 1 : close], close + 1
                if text[start] == '"':  # $wc."Downl`oadString": a backtick before a plain letter is dropped
                    value = re.sub(r"`(?=[A-Za-z])", "", value)
            else:
                end = _close(text, start) + 1
                lookup = _LOOKUP.match(text[start:end]) if m.group("call") else None
                if lookup and not re.search(r"[*?\[]", lookup.group("p1") or "*"):
                    continue  # & (Get-Command python): an exact name, as scripts find a program
                if lookup:
                    value = _looked_up(lookup.group("p1") or lookup.group("p2"))
                    if value is None:
                        continue
                else:
                    value, end = _group(text, start, variables)
        except _ERRORS:
            continue
        if m.group("call") and not re.match(r"\s|$|[;|)}]", text[end : end + 1]):
            continue  # & (Get-Command python).Source: a member of the value is called, not the value
        if isinstance(value, (int, float)) and m.group("sub"):
            replacement = str(value)
        elif not isinstance(value, str) or isinstance(value, list):
            continue
        elif m.group("sub"):
            replacement = "'" + value.replace("'", "''") + "'"
        elif m.group("call") and re.fullmatch(r"[\w.\\:/-]+", value):
            replacement = m.group()[: len(m.group()) - len(m.group().lstrip())] + value
        elif m.group("member") and re.fullmatch(r"\w+", value):
            replacement = "." + value
            if invoke := re.match(r"(?i)\.invoke(?=\()", text[end:]):  # $wc.('Down'+'loadString').Invoke(url)
                end += invoke.end()
        else:
            continue
        folded.append(m.lastgroup)
        out += [text[last : m.start()], replacement]
        last = end
    stages = _NO_OP_STAGE.sub("", "".join(out) + text[last:])
    if not folded and stages == text:
        return None
    for kind in dict.fromkeys(folded):
        what = {"call": "command name", "sub": "subexpression", "member": "member name"}[kind]
        note(f"string expression folded ({what})")
    if "".join(out) + text[last:] != stages:
        note("no-op pipeline stage %{$_} removed")
    return stages


# powershell.exe and its options up to the command it runs (-c/-Command or the first word that is no option);
# -EncodedCommand and -File lines are read whole (the payload decoder finds -enc anywhere)
_LAUNCHER = re.compile(
    r"(?i)^\s*(?:\S*[\\/])?(?:powershell|pwsh)(?:\.exe)?"
    r"(?:\s+[-/](?!(?:c|command|e|ec|en|enc\w*|encodedcommand|f|file)\b)\w+"
    r"(?:[\s:]+(?:bypass|unrestricted|remotesigned|allsigned|hidden|normal|minimized|maximized|[1-7](?:\.\d)?)\b)?)*"
    r"\s+(?:[-/](?:c|command)\s+)?(?=[^\s/-])"
)


def normalize_powershell(line: str) -> str:
    """What ``line`` runs under PowerShell, folded to lower-case code (see the module docstring)."""
    launcher = _LAUNCHER.match(line)
    if launcher and not _ENCODED.search(line):  # powershell -nop -c "iex (...)": the command is read on its own
        body = line[launcher.end() :].strip()
        if len(body) > 1 and body[0] == body[-1] == '"' and '"' not in body[1:-1]:  # quotes kept (start /b ...)
            body = body[1:-1]
        return " ".join(launcher.group().lower().split() + [normalize_powershell(body)])
    text = _CONTEXT_LOOKUP.sub(lambda m: m.group(1) + (_looked_up(m.group(3)) or m.group(3)), _comments_removed(line))
    for _ in range(8):
        tick()
        check_size(text)
        if decoded := decode_encoded_command(text):
            body, switch = decoded
            note(f"{switch} payload decoded (UTF-16LE base64)")
            payload(body)
            text = body
            continue
        if (inflated := _base64_payload(text)) is not None:
            note("compressed base64 payload inflated")
            payload(inflated)
            text = inflated
            continue
        if m := _SECURE_PLAIN.search(text):
            try:
                plain = evaluate(m.group(1))
            except NotStatic:
                break
            note("plain-text SecureString payload read")
            payload(plain)
            text = plain
            continue
        if "76492d1116743f0423413b16050a5345" in text:
            note("AES SecureString payload (not decrypted)")
            break
        if (inline := _inline_decoded(text)) is not None:
            text = inline
            continue
        folded = _strings_folded(text)
        if folded is not None:
            note("string expression folded (concatenation, -f, [char], -join, reversal, -replace)")
            text = folded
            continue
        if (unwrapped := _script_block_unwrapped(text)) is not None:
            text = unwrapped
            continue
        if (parts := _parts_folded(text)) is not None:
            text = parts
            continue
        break
    else:
        raise TooComplex("too many layers")
    return _fold_code(text)
