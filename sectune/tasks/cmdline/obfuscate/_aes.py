"""AES-CBC encryption in pure Python, so SecureString payloads hold real ciphertext without a crypto dependency.

Only what ``ConvertFrom-SecureString -Key`` produces is needed: encryption of a few hundred bytes, so speed
does not matter. Checked in tests against the FIPS-197 vectors and, where present, ``openssl enc -d``.
"""

from __future__ import annotations


def _xtime(a: int) -> int:
    a <<= 1
    return (a ^ 0x11B) if a & 0x100 else a


def _sbox() -> list[int]:
    box = [0] * 256
    p = q = 1
    while True:  # p walks the multiplicative group by 3, q by its inverse 1/3
        p = p ^ _xtime(p)
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        x = q ^ ((q << 1) | (q >> 7)) ^ ((q << 2) | (q >> 6)) ^ ((q << 3) | (q >> 5)) ^ ((q << 4) | (q >> 4))
        box[p] = (x ^ 0x63) & 0xFF
        if p == 1:
            break
    box[0] = 0x63
    return box


SBOX = _sbox()


def _expand(key: bytes) -> list[list[int]]:
    nk = len(key) // 4
    rounds = nk + 6
    words = [list(key[4 * i : 4 * i + 4]) for i in range(nk)]
    rcon = 1
    for i in range(nk, 4 * (rounds + 1)):
        w = words[i - 1].copy()
        if i % nk == 0:
            w = [SBOX[b] for b in w[1:] + w[:1]]
            w[0] ^= rcon
            rcon = _xtime(rcon)
        elif nk > 6 and i % nk == 4:
            w = [SBOX[b] for b in w]
        words.append([a ^ b for a, b in zip(words[i - nk], w)])
    return [sum(words[4 * r : 4 * r + 4], []) for r in range(rounds + 1)]


def encrypt_block(block: bytes, round_keys: list[list[int]]) -> bytes:
    s = [b ^ k for b, k in zip(block, round_keys[0])]
    for r in range(1, len(round_keys)):
        s = [SBOX[b] for b in s]
        s = [s[(i + 4 * (i % 4)) % 16] for i in range(16)]  # ShiftRows on a column-major state
        if r < len(round_keys) - 1:
            mixed = []
            for c in range(4):
                a = s[4 * c : 4 * c + 4]
                t = a[0] ^ a[1] ^ a[2] ^ a[3]
                mixed += [a[i] ^ t ^ _xtime(a[i] ^ a[(i + 1) % 4]) for i in range(4)]
            s = mixed
        s = [b ^ k for b, k in zip(s, round_keys[r])]
    return bytes(s)


def cbc_encrypt(data: bytes, key: bytes, iv: bytes) -> bytes:
    """AES-CBC with PKCS#7 padding (what .NET's default AES uses)."""
    if len(key) not in (16, 24, 32) or len(iv) != 16:
        raise ValueError("AES needs a 16, 24 or 32-byte key and a 16-byte IV")
    pad = 16 - len(data) % 16
    data += bytes([pad]) * pad
    round_keys = _expand(key)
    out, prev = [], iv
    for i in range(0, len(data), 16):
        prev = encrypt_block(bytes(a ^ b for a, b in zip(data[i : i + 16], prev)), round_keys)
        out.append(prev)
    return b"".join(out)
