"""Benign command lines as they appear on real hosts: admin scripts, developer tools, package managers.

Each program (``tar``, ``kubectl``, ``robocopy``, ``Get-WinEvent`` ...) has a few argument patterns in
``templates_bash`` / ``templates_windows``; placeholders such as ``{path}``, ``{url}``, ``{ip}`` are filled from
small vocabularies by a seeded ``random.Random``, so the same seed gives the same lines.

The lines are deliberately not all short and plain: kubectl with a JSON patch, ``curl -d '{...}'``, docker run
with many ``-e`` flags, certificates piped through ``base64 -d`` and msiexec with long property lists are what a
real host runs too, so "long" or "contains base64" must not be a shortcut to "obfuscated". For the same reason
PowerShell ``-EncodedCommand`` appears as management agents (SCCM, Intune) use it, with a benign payload
(``_encoded_command``), and Windows lines include mixed case, ``-``/``/`` options and 8.3 paths.

    >>> [line.text for line in generate_benign(3, ["bash", "powershell"], rng=3)]
    ['sudo modprobe -r old', 'vmstat 1 5', 'Install-Module ImportExcel -Repository PSGallery -AllowClobber']
"""

from __future__ import annotations

import base64
import json
import random
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sectune.errors import SectuneError

SHELLS = ("bash", "cmd", "powershell")
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")  # {path}, {b64}, or {path2}: a second, independent path
_MAX_DEPTH = 4  # vocabulary values may hold placeholders themselves ("/home/{user}/...")


@dataclass(frozen=True)
class BenignLine:
    """One generated line. ``seed_id`` names its template (``bash/tar/2``: shell, program, pattern index), so
    data can also be split by template; the line itself is unique within one ``generate_benign`` call."""

    text: str
    shell: str
    program: str
    seed_id: str


# --- generated values --------------------------------------------------------------------------------------


def _b64(rng: random.Random, low: int = 12, high: int = 48) -> str:
    return base64.b64encode(rng.randbytes(rng.randint(low, high))).decode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _cert(rng: random.Random) -> str:
    """The body of a PEM certificate or key on one line: long, legitimate base64."""
    body = b"\x30\x82" + rng.randbytes(rng.randint(420, 1100))
    return base64.b64encode(body).decode()


def _jwt(rng: random.Random) -> str:
    header = {"alg": rng.choice(["RS256", "HS256", "ES256"]), "typ": "JWT"}
    payload = {
        "sub": rng.choice(_VOCAB["user"]),
        "iss": f"https://auth.{rng.choice(_DOMAINS)}",
        "iat": 1700000000 + rng.randint(0, 30000000),
        "scope": rng.choice(["read", "read write", "deploy", "admin"]),
    }
    signature = rng.randbytes(rng.choice([32, 64, 256]))
    return ".".join(
        [
            _b64url(json.dumps(header, separators=(",", ":")).encode()),
            _b64url(json.dumps(payload, separators=(",", ":")).encode()),
            _b64url(signature),
        ]
    )


def _hex(rng: random.Random, n: int) -> str:
    return rng.randbytes(n).hex()


def _ip(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.45:
        return f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    if kind < 0.75:
        return f"192.168.{rng.randint(0, 10)}.{rng.randint(1, 254)}"
    if kind < 0.85:
        return f"172.{rng.randint(16, 31)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    return f"{rng.choice(['203.0.113', '198.51.100', '192.0.2'])}.{rng.randint(1, 254)}"


def _cidr(rng: random.Random) -> str:
    return rng.choice(
        [
            f"10.{rng.randint(0, 255)}.0.0/16",
            f"192.168.{rng.randint(0, 10)}.0/24",
            f"172.{rng.randint(16, 31)}.0.0/12",
            "0.0.0.0/0",
            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24",
        ]
    )


_MANAGEMENT_SCRIPTS = [  # what SCCM/Intune-style agents send as -EncodedCommand: inventory and compliance checks
    "Get-CimInstance Win32_OperatingSystem | Select-Object Caption, Version, LastBootUpTime",
    "(Get-ItemProperty 'HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion').DisplayVersion",
    "Get-Service -Name CcmExec, IntuneManagementExtension | Select-Object Name, Status",
    "if (Test-Path 'C:\\Program Files\\Contoso\\agent.exe') { exit 0 } else { exit 1 }",
    "Get-BitLockerVolume -MountPoint C: | Select-Object -ExpandProperty ProtectionStatus",
    "[Environment]::OSVersion.Version.ToString()",
    "Get-HotFix | Sort-Object InstalledOn -Descending | Select-Object -First 1 HotFixID",
]


def _encoded_command(rng: random.Random) -> str:
    """A benign script as ``-EncodedCommand`` takes it: base64 of UTF-16LE."""
    return base64.b64encode(rng.choice(_MANAGEMENT_SCRIPTS).encode("utf-16-le")).decode()


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(bytes=rng.randbytes(16), version=4))


def _word(rng: random.Random) -> str:
    return rng.choice(
        [
            "backup",
            "report",
            "deploy",
            "nightly",
            "staging",
            "invoice",
            "metrics",
            "archive",
            "cache",
            "build",
            "release",
            "audit",
            "export",
            "sync",
            "data",
            "test",
            "prod",
            "old",
            "tmp",
            "web",
        ]
    )


def _json_obj(rng: random.Random) -> str:
    """A small JSON body as an API call or a config tool would send it (single-quote safe)."""
    kind = rng.randrange(8)
    if kind == 0:
        obj = {"name": rng.choice(_VOCAB["app"]), "replicas": rng.randint(1, 6), "image": rng.choice(_IMAGES)}
    elif kind == 1:
        obj = {
            "username": rng.choice(_VOCAB["user"]),
            "email": f"{rng.choice(_VOCAB['user'])}@{rng.choice(_DOMAINS)}",
            "roles": rng.sample(["viewer", "editor", "admin", "ops", "billing"], rng.randint(1, 3)),
            "active": True,
        }
    elif kind == 2:
        obj = {"text": f"Deploy of {rng.choice(_VOCAB['app'])} {rng.choice(_VERSIONS)} finished", "channel": "#deploys"}
    elif kind == 3:
        obj = {
            "query": {
                "bool": {
                    "must": [
                        {"match": {"service": rng.choice(_VOCAB["app"])}},
                        {"range": {"@timestamp": {"gte": "now-15m"}}},
                    ]
                }
            },
            "size": rng.choice([10, 50, 100]),
        }
    elif kind == 4:
        obj = {
            "ref": rng.choice(["main", "develop", "release/2.4"]),
            "inputs": {"environment": rng.choice(["staging", "prod"]), "version": rng.choice(_VERSIONS)},
        }
    elif kind == 5:
        obj = {
            "spec": {
                "template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2024-05-17T09:12:44Z"}}}
            }
        }
    elif kind == 6:
        obj = {"auths": {f"registry.{rng.choice(_DOMAINS)}": {"auth": _b64(rng, 18, 30)}}}
    else:
        obj = {
            "id": _uuid(rng),
            "status": rng.choice(["open", "closed", "resolved"]),
            "priority": rng.randint(1, 4),
            "tags": rng.sample(["infra", "db", "network", "backup", "urgent", "ci"], 2),
        }
    return json.dumps(obj, separators=(",", ":") if rng.random() < 0.5 else (", ", ": "))


def _json_patch(rng: random.Random) -> str:
    ops = [
        {"op": "replace", "path": "/spec/replicas", "value": rng.randint(1, 8)},
        {"op": "add", "path": "/metadata/labels/team", "value": rng.choice(["payments", "platform", "search"])},
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/image",
            "value": f"{rng.choice(_IMAGES)}:{rng.choice(_VERSIONS)}",
        },
        {"op": "remove", "path": "/metadata/annotations/deprecated"},
    ]
    return json.dumps(rng.sample(ops, rng.randint(1, 3)), separators=(",", ":"))


def _env_flags(rng: random.Random) -> str:
    """Many ``-e KEY=value`` flags, as docker run lines in deploy scripts have."""
    pairs = [
        ("POSTGRES_HOST", "db01.internal"),
        ("POSTGRES_PORT", "5432"),
        ("REDIS_URL", "redis://cache.internal:6379/0"),
        ("LOG_LEVEL", rng.choice(["info", "debug", "warn"])),
        ("TZ", "Europe/Berlin"),
        ("NODE_ENV", "production"),
        ("APP_ENV", rng.choice(["staging", "prod"])),
        ("WORKERS", str(rng.randint(2, 16))),
        (
            "SENTRY_DSN",
            f"https://{_hex(rng, 16)}@o{rng.randint(10000, 99999)}.ingest.sentry.io/{rng.randint(100000, 999999)}",
        ),
        ("AWS_REGION", rng.choice(_REGIONS)),
        ("S3_BUCKET", rng.choice(_VOCAB["bucket"])),
        ("JAVA_OPTS", "'-Xms512m -Xmx2g'"),
        ("FEATURE_FLAGS", "new-checkout,fast-search"),
        ("HTTP_PROXY", "http://proxy.corp.example.com:3128"),
        ("API_TOKEN", _b64(rng, 24, 40)),
    ]
    return " ".join(f"-e {k}={v}" for k, v in rng.sample(pairs, rng.randint(3, 9)))


_DOMAINS = ["example.com", "corp.example.com", "example.org", "internal.example.net", "acme.io"]
_IMAGES = [
    "nginx",
    "redis",
    "postgres",
    "python",
    "node",
    "alpine",
    "ubuntu",
    "grafana/grafana",
    "prom/prometheus",
    "registry.example.com/platform/api",
    "ghcr.io/acme/worker",
    "mcr.microsoft.com/dotnet/aspnet",
    "bitnami/kafka",
]
_VERSIONS = ["1.4.2", "2.0.0", "v3.11.1", "1.27.3", "0.9.14", "5.2", "2024.05.1", "v1.8.0-rc.2", "16.3", "7.2.4"]
_REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "us-west-2"]

# name -> list of values (which may hold placeholders) or a function of the rng
_VOCAB: dict[str, list[str] | Callable[[random.Random], str]] = {}

# --- shared and Unix vocabularies ---------------------------------------------------------------------------
_VOCAB.update(
    {
        "sudo": ["", "", "sudo "],
        "user": [
            "alice",
            "bob",
            "deploy",
            "ubuntu",
            "ec2-user",
            "jenkins",
            "www-data",
            "postgres",
            "admin",
            "svc_backup",
            "git",
            "mkowalski",
            "jsmith",
            "ci-runner",
            "ansible",
            "priya",
            "root",
        ],
        "group": ["developers", "docker", "sudo", "wheel", "www-data", "adm", "ops", "backup"],
        "host": [
            "db01.internal",
            "web-02.prod.example.com",
            "bastion.corp.example.com",
            "build-agent-7",
            "nas.local",
            "gitlab.example.org",
            "cache-01.internal",
            "k8s-master-1",
            "monitoring.example.com",
            "{ip}",
        ],
        "ip": _ip,
        "psenc": _encoded_command,
        "cidr": _cidr,
        "port": [
            "22",
            "80",
            "443",
            "8080",
            "5432",
            "3306",
            "6379",
            "9200",
            "27017",
            "8443",
            "3000",
            "5000",
            "9090",
            "2222",
            "8000",
        ],
        "domain": _DOMAINS + ["github.com", "registry.npmjs.org", "pypi.org", "api.github.com"],
        "app": ["api", "web", "worker", "billing", "search", "auth", "frontend", "scheduler", "gateway", "reports"],
        "url": [
            "https://{domain}/downloads/{app}-{version}.tar.gz",
            "https://api.{domain}/v1/{app}/status",
            "https://{domain}/install.sh",
            "http://{host}:{port}/health",
            "https://github.com/acme/{app}/releases/download/{version}/{app}-linux-amd64",
            "https://raw.githubusercontent.com/acme/{app}/main/README.md",
            "https://{domain}/api/v2/items?page=2",
            "https://storage.{domain}/artifacts/{app}/{version}/checksums.txt",
            "http://localhost:{port}/metrics",
        ],
        "email": ["{user}@{domain}", "ops-team@corp.example.com", "noreply@example.org"],
        "dir": [
            "/var/log",
            "/etc/nginx",
            "/opt/{app}",
            "/srv/www/html",
            "/home/{user}",
            "/home/{user}/projects/{app}",
            "/var/lib/docker",
            "/tmp",
            "/data/backups",
            "/usr/local/bin",
            "/var/www",
            "/mnt/nfs/shared",
            "~/src/{app}",
            '"/home/{user}/My Documents"',
            "/etc/systemd/system",
            "/var/lib/postgresql/16/main",
            "/opt/{app}/releases/{version}",
        ],
        "path": [
            "/var/log/syslog",
            "/var/log/nginx/access.log",
            "/etc/nginx/nginx.conf",
            "/etc/hosts",
            "/etc/fstab",
            "/opt/{app}/config.yaml",
            "/home/{user}/.bashrc",
            "/home/{user}/.ssh/authorized_keys",
            "/var/log/auth.log",
            "/etc/ssh/sshd_config",
            "/srv/www/html/index.html",
            "/data/backups/{app}-2024-05-17.sql.gz",
            "/etc/crontab",
            '"/home/{user}/My Documents/report 2024.pdf"',
            "/var/log/{app}/{app}.log",
            "/etc/ssl/certs/ca-certificates.crt",
            "/opt/{app}/.env",
            "/etc/docker/daemon.json",
            "/var/lib/{app}/state.db",
            "'/mnt/share/Q3 figures/summary.xlsx'",
        ],
        "file": [
            "README.md",
            "config.yaml",
            "docker-compose.yml",
            "main.py",
            "app.log",
            "notes.txt",
            "data.csv",
            "package.json",
            "Makefile",
            "index.js",
            "setup.cfg",
            "requirements.txt",
            "output.json",
            "report.pdf",
            "'meeting notes.txt'",
            "src/server.ts",
            "build/output.bin",
            "values.yaml",
            ".env.example",
        ],
        "logfile": [
            "/var/log/syslog",
            "/var/log/nginx/error.log",
            "/var/log/{app}/{app}.log",
            "/var/log/auth.log",
            "/var/log/kern.log",
            "/var/log/postgresql/postgresql-16-main.log",
            "app.log",
        ],
        "ext": ["py", "js", "log", "conf", "yaml", "go", "java", "md", "sh", "tmp", "bak", "json"],
        "pattern": [
            "ERROR",
            "'connection refused'",
            "'Failed password'",
            "TODO",
            "'^[0-9]\\{4\\}-'",
            "-E 'warn|error'",
            "'timeout after [0-9]+ ms'",
            "'OutOfMemory'",
            "listen",
            "'user={user}'",
            "-i 'exception'",
        ],
        "word": _word,
        "pkg": [
            "nginx",
            "curl",
            "git",
            "htop",
            "jq",
            "postgresql-client",
            "python3-venv",
            "build-essential",
            "unzip",
            "ca-certificates",
            "openjdk-17-jre-headless",
            "tmux",
            "nfs-common",
            "fail2ban",
            "docker-ce",
            "net-tools",
        ],
        "pypkg": [
            "requests",
            "numpy",
            "pandas",
            "'django>=4.2,<5'",
            "flask",
            "pytest",
            "black",
            "boto3",
            "ansible-core",
            "'uvicorn[standard]'",
            "sqlalchemy==2.0.30",
            "scikit-learn",
            "httpx",
            "pyyaml",
        ],
        "npmpkg": [
            "express",
            "typescript",
            "eslint",
            "react",
            "lodash",
            "@types/node",
            "prettier",
            "jest",
            "axios",
            "vite",
            "pm2",
            "@angular/cli",
            "webpack@5",
        ],
        "chocopkg": [
            "git",
            "7zip",
            "nodejs-lts",
            "python3",
            "vscode",
            "notepadplusplus",
            "googlechrome",
            "putty",
            "winscp",
            "sysinternals",
            "jre8",
        ],
        "crate": ["ripgrep", "serde", "tokio --features full", "cargo-edit", "clap", "anyhow", "bat", "cargo-audit"],
        "gomod": [
            "github.com/spf13/cobra@latest",
            "golang.org/x/tools/gopls@latest",
            "github.com/stretchr/testify",
            "github.com/prometheus/client_golang@v1.19.0",
            "google.golang.org/grpc@v1.64.0",
        ],
        "image": _IMAGES,
        "version": _VERSIONS,
        "tag": ["latest", "{version}", "stable", "3.12-slim", "18-alpine", "1.25", "sha-{shortsha}"],
        "container": ["api", "web-1", "postgres", "redis", "{app}-worker", "nginx-proxy", "grafana", "{app}_{app}_1"],
        "ns": ["default", "kube-system", "monitoring", "payments", "staging", "prod", "ingress-nginx", "cert-manager"],
        "deploy": ["{app}", "{app}-api", "{app}-worker", "coredns", "ingress-nginx-controller", "grafana"],
        "pod": [
            "{app}-7d9f8c6b5-x2kqp",
            "{app}-worker-5b7d9c4f8-9hj2l",
            "coredns-5d78c9869d-4tq8w",
            "postgres-0",
            "redis-master-0",
        ],
        "chart": [
            "bitnami/postgresql",
            "ingress-nginx/ingress-nginx",
            "prometheus-community/kube-prometheus-stack",
            "jetstack/cert-manager",
            "./charts/{app}",
            "grafana/loki",
        ],
        "release": ["{app}", "pg", "ingress", "monitoring", "cert-manager", "loki"],
        "branch": [
            "main",
            "develop",
            "feature/{app}-login",
            "fix/timeout-retry",
            "release/2.4",
            "hotfix/cve-patch",
            "dependabot/npm_and_yarn/axios-1.7.2",
        ],
        "remote": [
            "git@github.com:acme/{app}.git",
            "https://github.com/acme/{app}.git",
            "git@gitlab.example.org:platform/{app}.git",
            "https://{user}@bitbucket.org/acme/{app}.git",
        ],
        "sha": lambda rng: _hex(rng, 20),
        "shortsha": lambda rng: _hex(rng, 4)[:7],
        "sha256": lambda rng: _hex(rng, 32),
        "b64": _b64,
        "cert": _cert,
        "token": _jwt,
        "json": _json_obj,
        "jsonpatch": _json_patch,
        "envflags": _env_flags,
        "uuid": _uuid,
        "hex": lambda rng: _hex(rng, rng.choice([8, 16, 32])),
        "n": lambda rng: str(rng.choice([1, 2, 3, 5, 10, 20, 50, 100, 500, 1000])),
        "days": lambda rng: str(rng.choice([1, 3, 7, 14, 30, 90, 365])),
        "pid": lambda rng: str(rng.randint(300, 65000)),
        "signal": ["-9", "-15", "-HUP", "-TERM", "-USR1", "-s KILL", "-INT"],
        "envname": [
            "PATH",
            "HOME",
            "JAVA_HOME",
            "KUBECONFIG",
            "AWS_PROFILE",
            "GOPATH",
            "NODE_ENV",
            "PYTHONPATH",
            "LANG",
            "EDITOR",
        ],
        "envval": [
            "/usr/local/go",
            "production",
            "staging",
            "en_US.UTF-8",
            "vim",
            "~/.kube/config-prod",
            "/opt/{app}/lib",
        ],
        "service": [
            "nginx",
            "sshd",
            "docker",
            "postgresql",
            "redis-server",
            "cron",
            "{app}",
            "containerd",
            "kubelet",
            "systemd-resolved",
            "fail2ban",
            "node_exporter",
            "apache2",
            "mysql",
            "chronyd",
        ],
        "iface": ["eth0", "ens5", "enp0s3", "wlan0", "docker0", "lo", "br0", "wg0"],
        "dev": ["/dev/sda1", "/dev/sdb", "/dev/nvme0n1p2", "/dev/xvdf", "/dev/mapper/vg0-data", "/dev/sdc1"],
        "mnt": ["/mnt/data", "/mnt/backup", "/media/usb", "/srv/nfs", "/data", "/mnt/nfs/shared"],
        "fs": ["ext4", "xfs", "nfs", "vfat", "btrfs"],
        "size": ["10G", "500M", "+100M", "1G", "2048", "4k"],
        "mode": ["644", "755", "600", "700", "u+x", "g+w", "o-rwx", "+x", "640"],
        "date": ["2024-05-17", "2023-12-31", "yesterday", "'2 days ago'", "2024-01-01"],
        "since": ["'1 hour ago'", "today", "'2024-05-17 08:00'", "-1h", "'10 min ago'", "yesterday"],
        "cron": ["'0 3 * * *'", "'*/5 * * * *'", "'30 2 * * 0'", "'0 */6 * * *'", "'15 1 1 * *'"],
        "tz": ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"],
        "region": _REGIONS,
        "bucket": ["acme-backups", "acme-prod-artifacts", "logs-archive-eu", "tf-state-platform", "static-assets-cdn"],
        "key": [
            "~/.ssh/id_ed25519",
            "~/.ssh/id_rsa",
            "~/.ssh/deploy_key",
            "/etc/ssh/ssh_host_ed25519_key",
            "~/.ssh/aws-prod.pem",
        ],
        "db": ["appdb", "postgres", "analytics", "wordpress", "billing_prod", "keycloak"],
        "table": ["users", "orders", "sessions", "audit_log", "invoices"],
        "script": [
            "./deploy.sh",
            "./scripts/backup.sh",
            "./build.sh",
            "scripts/migrate.sh",
            "/usr/local/bin/rotate-logs.sh",
            "./run_tests.sh",
        ],
        "pyscript": [
            "manage.py",
            "app.py",
            "scripts/etl.py",
            "train.py",
            "tools/report.py",
            "-m http.server",
            "-m pip",
            "setup.py",
        ],
        "jsfile": ["server.js", "index.js", "dist/main.js", "scripts/seed.js", "app.mjs"],
        "jar": ["target/{app}-{version}.jar", "/opt/{app}/{app}.jar", "build/libs/{app}-all.jar", "jenkins.war"],
        "unit": ["{service}.service", "docker.service", "nginx.service", "backup.timer", "{app}-worker.service"],
        "sedexpr": [
            "'s/foo/bar/g'",
            "'s/^#\\(PermitRootLogin\\).*/\\1 no/'",
            "'/^$/d'",
            "'s/localhost/{host}/'",
            "-n '10,20p'",
            "'s/\\r$//'",
            "'s|/usr/local|/opt|g'",
            "'1d'",
        ],
        "awkprog": [
            "'{print $1}'",
            "-F: '{print $1, $7}'",
            "'{sum += $5} END {print sum}'",
            "'$9 == 500 {print $7}'",
            "'NR > 1 {print $2}'",
            "-F, '{print $3}'",
            "'{print $NF}'",
            "'length > 120'",
        ],
        "jqf": [
            "'.items[].metadata.name'",
            "-r '.[] | .name'",
            "'.status'",
            "-r '.data.token'",
            "'.dependencies | keys'",
            "-c 'select(.level == \"error\")'",
            "'.[0]'",
            "-r '.tag_name'",
            "'map(select(.active))'",
        ],
        "arch": ["amd64", "arm64", "x86_64", "linux-amd64"],
        "kv": ["foo=bar", "env=prod", "team=platform", "tier=backend", "app={app}"],
        "loginshell": ["/bin/bash", "/usr/sbin/nologin", "/bin/zsh", "/bin/sh"],
        "proc": ["nginx", "python3", "java", "node", "postgres", "sshd", "dockerd", "{app}", "chrome", "gunicorn"],
        "lang": ["en_US.UTF-8", "de_DE.UTF-8", "C.UTF-8"],
        "subj": [
            "'/CN={host}'",
            "'/C=DE/O=Acme/CN=*.example.com'",
            "'/CN=localhost'",
            "'/C=US/ST=CA/O=Example Inc/CN=api.example.com'",
        ],
    }
)

# --- Windows vocabularies ----------------------------------------------------------------------------------
_VOCAB.update(
    {
        "wuser": ["jsmith", "Administrator", "svc_sql", "a.mueller", "helpdesk01", "priya.n", "backupadmin", "kiosk"],
        "duser": ["CORP\\{wuser}", "{wuser}@corp.example.com", "{wuser}", ".\\{wuser}"],
        "computer": [
            "WS-FIN-023",
            "SRV-DC01",
            "FILESRV02",
            "SQL-PROD-01",
            "LAPTOP-7G2K9Q",
            "localhost",
            "WEB01",
            "HV-HOST-03",
        ],
        "wdomain": ["corp.example.com", "CORP", "ad.example.org"],
        "wdir": [
            "C:\\Temp",
            "C:\\Windows\\Temp",
            "C:\\Users\\{wuser}\\Documents",
            "D:\\Backups",
            "C:\\inetpub\\wwwroot",
            '"C:\\Program Files\\{vendor}"',
            "C:\\ProgramData\\{vendor}",
            "%USERPROFILE%\\Downloads",
            "%TEMP%",
            '"C:\\Users\\{wuser}\\OneDrive - Acme Corp\\Projects"',
            "E:\\Data\\Exports",
            "C:\\Scripts",
            "%APPDATA%\\{vendor}",
            "\\\\FILESRV02\\Shares\\Finance",
            "C:\\Logs",
        ],
        "wpath": [
            "C:\\Windows\\System32\\drivers\\etc\\hosts",
            "C:\\Temp\\setup.log",
            "C:\\Users\\{wuser}\\Documents\\report.docx",
            '"C:\\Program Files\\{vendor}\\{wapp}\\config.xml"',
            "D:\\Backups\\{wapp}_2024-05-17.bak",
            "%TEMP%\\install.log",
            "C:\\Scripts\\cleanup.ps1",
            '"C:\\Users\\{wuser}\\Desktop\\Quarterly Report.xlsx"',
            "C:\\inetpub\\logs\\LogFiles\\W3SVC1\\u_ex240517.log",
            "\\\\FILESRV02\\Shares\\IT\\tools\\readme.txt",
            "%USERPROFILE%\\.gitconfig",
            "C:\\Windows\\Logs\\CBS\\CBS.log",
            "C:\\ProgramData\\{vendor}\\settings.json",
            "E:\\Data\\Exports\\customers.csv",
        ],
        "wfile": [
            "report.docx",
            "setup.log",
            "notes.txt",
            "data.csv",
            "web.config",
            '"Budget 2024.xlsx"',
            "install.cmd",
            "backup.zip",
            "app.config",
            "results.json",
            "hosts",
        ],
        "vendor": [
            "Acme",
            "Contoso",
            "Microsoft",
            "Zoom",
            "Mozilla Firefox",
            "7-Zip",
            "Notepad++",
            "Git",
            "nodejs",
            "Docker",
        ],
        "wapp": ["Agent", "Updater", "Client", "Reports", "Sync", "Backup"],
        "exe": [
            "notepad.exe",
            "chrome.exe",
            "Teams.exe",
            "OUTLOOK.EXE",
            "explorer.exe",
            "msedge.exe",
            "code.exe",
            "winword.exe",
            "java.exe",
            "python.exe",
            "sqlservr.exe",
            "w3wp.exe",
            "svchost.exe",
            "OneDrive.exe",
        ],
        "wproc": [
            "notepad",
            "chrome",
            "Teams",
            "OUTLOOK",
            "explorer",
            "msedge",
            "Code",
            "WINWORD",
            "java",
            "python",
            "w3wp",
        ],
        "wsvc": [
            "Spooler",
            "wuauserv",
            "W32Time",
            "BITS",
            "WinRM",
            "MSSQLSERVER",
            "Dnscache",
            "LanmanServer",
            "W3SVC",
            "TermService",
            "EventLog",
            "WSearch",
            "sshd",
            "MpsSvc",
            "CryptSvc",
        ],
        "regkey": [
            "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run",
            "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer\\Advanced",
            '"HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters"',
            "HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU",
            "HKCU\\Control Panel\\Desktop",
            '"HKLM\\SOFTWARE\\{vendor}\\{wapp}"',
            "HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server",
            "HKCU\\Software\\Microsoft\\Office\\16.0\\Outlook\\Preferences",
        ],
        "psregpath": [
            "HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion",
            "HKCU:\\Software\\Microsoft\\Windows\\CurrentVersion\\Themes\\Personalize",
            "'HKLM:\\SOFTWARE\\{vendor}\\{wapp}'",
            "HKLM:\\SYSTEM\\CurrentControlSet\\Services\\W32Time\\Parameters",
            "HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU",
        ],
        "regval": [
            "AutoUpdate",
            "Hidden",
            "TcpTimedWaitDelay",
            "NoAutoRebootWithLoggedOnUsers",
            "fDenyTSConnections",
            "WallPaper",
            "LogLevel",
        ],
        "regtype": ["REG_DWORD", "REG_SZ", "REG_EXPAND_SZ", "REG_QWORD"],
        "drive": ["C:", "D:", "E:"],
        "share": [
            "\\\\FILESRV02\\Shares",
            "\\\\nas01\\backup",
            "\\\\{computer}\\C$",
            "\\\\FILESRV02\\Users\\{wuser}",
            "\\\\corp.example.com\\dfs\\IT",
        ],
        "msi": [
            "\\\\FILESRV02\\Deploy\\{wapp}Setup-{version}.msi",
            "C:\\Temp\\AgentInstaller.msi",
            "%TEMP%\\node-v20.13.1-x64.msi",
            '"C:\\Users\\{wuser}\\Downloads\\{vendor} Setup.msi"',
            "GoogleChromeStandaloneEnterprise64.msi",
        ],
        "psmod": [
            "Az",
            "PSWindowsUpdate",
            "Pester",
            "PSReadLine",
            "ExchangeOnlineManagement",
            "dbatools",
            "SqlServer",
            "Microsoft.Graph",
            "ImportExcel",
            "posh-git",
            "AzureAD",
            "PnP.PowerShell",
        ],
        "evlog": [
            "System",
            "Application",
            "Security",
            "Microsoft-Windows-PowerShell/Operational",
            "Setup",
            "Microsoft-Windows-TaskScheduler/Operational",
            "Microsoft-Windows-Windows Defender/Operational",
        ],
        "evid": ["4624", "4625", "7036", "1074", "6005", "4740", "4688", "41", "1000", "7045"],
        "kb": ["KB5034441", "KB5036893", "KB5037771", "KB4023057", "KB890830"],
        "guid": lambda rng: "{" + _uuid(rng).upper() + "}",
        "taskname": [
            '"\\Microsoft\\Windows\\Defrag\\ScheduledDefrag"',
            "NightlyBackup",
            '"{vendor} Updater"',
            "\\Acme\\CleanupTemp",
            '"Weekly Report"',
            "GoogleUpdateTaskMachineCore",
        ],
        "wtime": ["02:00", "03:30", "22:15", "06:45"],
        "wurl": [
            "https://{domain}/downloads/{wapp}Setup.exe",
            "https://aka.ms/vs/17/release/vc_redist.x64.exe",
            "https://{domain}/api/v1/status",
            "http://{computer}:{port}/health",
            "https://download.{domain}/tools/{wapp}-{version}.zip",
            "https://github.com/PowerShell/PowerShell/releases/download/v7.4.2/PowerShell-7.4.2-win-x64.msi",
            "https://{domain}/feeds/{wapp}.xml",
            "http://crl.{domain}/pki/root-ca.crl",
        ],
        "ou": [
            '"OU=Users,OU=Finance,DC=corp,DC=example,DC=com"',
            '"OU=Servers,DC=corp,DC=example,DC=com"',
            '"CN=Computers,DC=corp,DC=example,DC=com"',
            '"OU=Service Accounts,DC=corp,DC=example,DC=com"',
        ],
        "adgroup": ['"Domain Admins"', "VPN-Users", "Finance-RW", '"Remote Desktop Users"', "SQL-Admins", "Helpdesk"],
        "psfile": [
            "C:\\Scripts\\cleanup.ps1",
            ".\\Deploy.ps1",
            "\\\\FILESRV02\\Deploy\\Scripts\\Install-Agent.ps1",
            '"C:\\Users\\{wuser}\\Documents\\WindowsPowerShell\\profile.ps1"',
            ".\\build.ps1",
            "C:\\Scripts\\Get-Inventory.ps1",
        ],
        "dll": [
            "shell32.dll",
            "printui.dll",
            '"C:\\Program Files\\{vendor}\\{wapp}\\ext.dll"',
            "C:\\Windows\\System32\\jscript.dll",
            "scrrun.dll",
            "msxml3.dll",
        ],
        "printer": ['"HP LaserJet M607 (3rd floor)"', "\\\\PRINTSRV01\\Floor2-Color", '"Microsoft Print to PDF"'],
        "wpattern": ["error", '"connection refused"', '/c:"Access is denied"', "TODO", "Exception", '"timed out"'],
        "psobj": [
            "Name",
            "Id",
            "CPU",
            "WorkingSet",
            "Status",
            "StartType",
            "LastWriteTime",
            "Length",
            "DisplayName",
            "FullName",
        ],
        "wext": ["log", "txt", "tmp", "bak", "docx", "xlsx", "ps1", "csv", "dll", "config"],
    }
)


def _fill(pattern: str, rng: random.Random, chosen: dict[str, str] | None = None, depth: int = 0) -> str:
    """Replace each ``{name}`` with a value of that vocabulary; ``{name2}`` is a second, independent value.

    Within one line the same placeholder gets the same value, also inside other values (``ssh {user}@{host}``
    and ``/home/{user}`` name the same user). Braces that are not a vocabulary name (``awk '{print}'``, ``{}``,
    JSON) stay as written.
    """
    chosen = {} if chosen is None else chosen

    def value(match: re.Match) -> str:
        name, index = _split_placeholder(match.group(1))
        source = _VOCAB.get(name)
        if source is None:
            return match.group(0)
        key = name + index
        if key not in chosen:
            raw = source(rng) if callable(source) else rng.choice(source)
            chosen[key] = (
                _fill(raw, rng, chosen, depth + 1)
                if depth < _MAX_DEPTH and "{" in raw and not callable(source)
                else raw
            )
        return chosen[key]

    return _PLACEHOLDER.sub(value, pattern)


def _split_placeholder(word: str) -> tuple[str, str]:
    """(vocabulary name, index): ``b64`` and ``sha256`` are names; ``path2`` is ``path`` with index 2."""
    if word not in _VOCAB and word[-1].isdigit() and word[:-1] in _VOCAB:
        return word[:-1], word[-1]
    return word, ""


def unknown_placeholders(pattern: str) -> list[str]:
    """Brace words in a pattern that are not vocabulary names: literal text, but worth a look in a new template."""
    return [m.group(0) for m in _PLACEHOLDER.finditer(pattern) if _split_placeholder(m.group(1))[0] not in _VOCAB]


# --- generation ---------------------------------------------------------------------------------------------


def _templates() -> dict[str, dict[str, list[str]]]:
    from sectune.tasks.cmdline.templates_bash import BASH
    from sectune.tasks.cmdline.templates_windows import CMD, POWERSHELL

    return {"bash": BASH, "cmd": CMD, "powershell": POWERSHELL}


_JOINERS = {"bash": (" && ", "; ", " || "), "cmd": (" && ", " & "), "powershell": ("; ",)}
_CHAIN_SHARE = 0.08  # lines that run two commands, as scripts and one-liners do


def program_counts() -> dict[str, int]:
    """Distinct programs (commands, executables, cmdlets) with templates, per shell."""
    return {shell: len(programs) for shell, programs in _templates().items()}


def check_shells(shells: Sequence[str]) -> list[str]:
    """The shells as a list, each one of bash, cmd, powershell (else a SectuneError naming the valid ones)."""
    shells = list(dict.fromkeys(s.strip().lower() for s in shells if s.strip()))
    if not shells:
        raise SectuneError(f"no shell given; valid shells: {', '.join(SHELLS)}")
    for shell in shells:
        if shell not in SHELLS:
            raise SectuneError(f"unknown shell {shell!r}; valid shells: {', '.join(SHELLS)}")
    return shells


# A pre-quoted Windows path followed by more path ("C:\Program Files\Acme"\*.log): people quote the whole path.
_WINDOWS_QUOTED_PREFIX = re.compile(r'"([^"\s][^"]*)"((?:\\|\.)[^\s"|&<>;,]+)')


def _one(shell: str, programs: list[tuple[str, list[str]]], rng: random.Random) -> BenignLine:
    program, patterns = rng.choice(programs)
    k = rng.randrange(len(patterns))
    text = _fill(patterns[k], rng)
    if rng.random() < _CHAIN_SHARE and not text.endswith("&"):  # "cmd & && next" does not parse
        _, more = rng.choice(programs)
        text += rng.choice(_JOINERS[shell]) + _fill(rng.choice(more), rng)
    if shell != "bash":
        text = _WINDOWS_QUOTED_PREFIX.sub(r'"\1\2"', text)
    return BenignLine(text, shell, program, f"{shell}/{program}/{k}")


def generate_benign(n: int, shells: Sequence[str] = SHELLS, rng: random.Random | int | None = None) -> list[BenignLine]:
    """``n`` distinct benign lines, split evenly over ``shells`` and shuffled; the same seed gives the same lines.

    Lines are distinct as long as the templates allow (millions of combinations); past that, repeats are kept
    rather than returning fewer lines.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise SectuneError(f"the number of lines must be a positive integer, got {n!r}")
    shells = check_shells(shells)
    rng = rng if isinstance(rng, random.Random) else random.Random(rng)
    templates = _templates()
    lines: list[BenignLine] = []
    seen: set[str] = set()  # across shells too: "hostname" runs in cmd and PowerShell alike
    for i, shell in enumerate(shells):
        want = n // len(shells) + (1 if i < n % len(shells) else 0)
        programs = sorted(templates[shell].items())
        attempts = 0
        got = 0
        while got < want:
            line = _one(shell, programs, rng)
            attempts += 1
            if line.text in seen and attempts < 30 * want + 1000:
                continue
            seen.add(line.text)
            lines.append(line)
            got += 1
    rng.shuffle(lines)
    return lines
