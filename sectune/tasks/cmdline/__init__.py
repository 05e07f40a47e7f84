"""Security log detection: obfuscated command lines."""
