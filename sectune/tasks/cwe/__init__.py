"""Vulnerability triage: CVE descriptions to CWE weaknesses."""
