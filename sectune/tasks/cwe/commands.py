"""The CWE task's ``sectune data`` sub-commands: ``cve`` (labelled CVE records) and ``cwe-examples``
(MITRE's Observed_Example descriptions, a small set that needs no download)."""

from __future__ import annotations

import argparse
import json


def add_data_parsers(data_subparsers) -> None:
    """Add ``sectune data cve`` and ``sectune data cwe-examples``, each knowing how it runs."""
    from sectune.tasks.cwe.ingest import LABEL_MODES

    d = data_subparsers.add_parser(
        "cve",
        help="CVE JSON 5 records (cvelistV5 dir or zip, single files), NVD API 2.0 JSON or NVD JSON 1.1 feeds "
        "(nvdcve-1.1-YYYY.json.gz) -> labelled CWE data",
    )
    d.add_argument("sources", nargs="*", help="directories, .zip, .json, .json.gz (any mix of the three formats)")
    d.add_argument("--output", "-o", required=True, help=".jsonl, .jsonl.gz or .parquet")
    d.add_argument(
        "--labels",
        default="cna-then-adp",
        choices=LABEL_MODES,
        help="whose CWEs label a record. cna-then-adp: the CNA's, else an ADP's (CISA-ADP); NVD API 2.0 "
        "records: all their weaknesses. cna: the CNA's only (in NVD 2.0, weaknesses not from nvd@nist.gov; "
        "none in NVD 1.1 feeds). adp: an ADP's only. nvd-then-cna: NVD analysts' (nvd@nist.gov weaknesses, "
        "NVD 1.1 feeds), else the CNA's; several sources are then merged to one record per CVE id, NVD's "
        "label first (held in memory, about 1 KB a record). nvd: NVD analysts' only",
    )
    d.add_argument("--since", metavar="YYYY-MM-DD", help="keep only records published on or after this date")
    d.add_argument(
        "--fetch",
        nargs="?",
        const="default",
        metavar="URL",
        help="download the CVE List release zip (or URL) first, resuming a partial download",
    )
    d.add_argument("--download-dir", default=".", help="where --fetch keeps the downloaded file (default: here)")
    d.add_argument("--cwe-xml", help="a CWE catalogue XML for the label report (default: the cwe2 package's)")
    d.set_defaults(run_data=run_cve)
    d = data_subparsers.add_parser(
        "cwe-examples",
        help="MITRE's CWE Observed_Example descriptions as CVE records labelled with their CWE (extra training rows "
        "for rare CWEs: sectune train cve.jsonl.gz cwe-examples.jsonl --task cwe); published = the CVE id's year",
    )
    d.add_argument("--output", "-o", required=True, help=".jsonl, .jsonl.gz or .parquet (written atomically)")
    d.add_argument("--min-examples", type=int, default=5, help="leave out CWEs with fewer observed examples than this")
    d.add_argument("--cwe-xml", help="a CWE catalogue XML (default: the one the cwe2 package ships)")
    d.set_defaults(run_data=run_cwe_examples)


def run_cve(args: argparse.Namespace) -> int:
    from sectune.tasks.cwe.records import build_cve_dataset

    summary = build_cve_dataset(
        args.sources,
        args.output,
        labels=args.labels,
        since=args.since,
        fetch=args.fetch,
        download_dir=args.download_dir,
        cwe_xml=args.cwe_xml,
        progress=not args.quiet,
    )
    print(summary)
    return 0


def run_cwe_examples(args: argparse.Namespace) -> int:
    """The examples as CVE records (``description``, ``cwe``, ``cve_id``, ``published``), so they train beside CVE
    data with ``sectune train cve.jsonl.gz cwe-examples.jsonl --task cwe``: extra rows for rare CWEs."""
    import re

    from sectune.io import atomic_write
    from sectune.outputs import check_output_file
    from sectune.tasks.cwe.catalog import load_catalog, observed_examples

    check_output_file(args.output, inputs=[args.cwe_xml])
    catalog = load_catalog(args.cwe_xml)
    rows = observed_examples(catalog, args.min_examples)
    # the cited CVE's year stands for its publication date, so a time split keeps these old CVEs on the training side
    cited = [(row, re.fullmatch(r"CVE-(\d{4})-\d+", str(row["reference"]))) for row in rows]
    kept = [
        {
            "cve_id": row["reference"],
            "description": row["text"],
            "cwe": row["label"],
            "label_source": "catalogue",
            "published": f"{match.group(1)}-01-01",
        }
        for row, match in cited
        if match
    ]
    with atomic_write(args.output) as handle:
        for row in kept:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(
        f"{len(kept)} distinct descriptions citing {len({c for r in kept for c in r['cwe']})} CWEs (CWE {catalog.version}) "
        f"written to {args.output}; {len(rows) - len(kept)} left out: their reference is not a CVE id"
    )
    return 0
