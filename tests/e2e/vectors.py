"""vectors - the project's vector files and an independent reference for
the end-to-end tests (test_commands.py).

Reads tests/kat/public.txt and tests/kat/sym.txt (one vector a line:
NAME field=HEX ...) and recomputes what tkms-hsmd answers with Debian's
python3-cryptography (DES, 3DES, SM4) and hashlib, sharing no code with
libtkm. Each reference function is itself checked against the vector
files by test_commands.py before it is trusted.
"""
import os
import warnings

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

try:  # TripleDES moved to "decrepit" in newer releases; 38 has it here.
    from cryptography.utils import CryptographyDeprecationWarning
    warnings.simplefilter('ignore', CryptographyDeprecationWarning)
except ImportError:  # pragma: no cover
    pass

SOURCE = os.environ.get('TKMS_SOURCE') or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))

DES, SM4 = 'X', 'S'


# --- vector files ----------------------------------------------------------
def load(name):
    """[(vector name, {field: value})] of tests/kat/<name>, in file order.
    Values stay strings (hex, or decimal for pan/psn/city)."""
    out = []
    with open(os.path.join(SOURCE, 'tests', 'kat', name)) as f:
        for line in f:
            line = line.split('#', 1)[0].split()
            if not line:
                continue
            fields = dict(w.split('=', 1) for w in line[1:] if '=' in w)
            out.append((line[0], fields))
    return out


def find(vectors, name):
    """All field dicts of vectors named name."""
    return [f for n, f in vectors if n == name]


# --- block ciphers ---------------------------------------------------------
def _cipher(alg, key, mode):
    if alg == SM4:
        assert len(key) == 16
        return Cipher(algorithms.SM4(key), mode)
    if len(key) == 8:
        key = key * 3
    elif len(key) == 16:
        key = key + key[:8]
    assert len(key) == 24
    return Cipher(algorithms.TripleDES(key), mode)


def block(alg):
    return 16 if alg == SM4 else 8


def ecb(alg, key, data, decrypt=False):
    c = _cipher(alg, key, modes.ECB())
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(data) + op.finalize()


def cbc(alg, key, iv, data, decrypt=False):
    c = _cipher(alg, key, modes.CBC(iv))
    op = c.decryptor() if decrypt else c.encryptor()
    return op.update(data) + op.finalize()


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def inv(b):
    return bytes(x ^ 0xFF for x in b)


def parity(key):
    """DES odd parity on every byte."""
    out = bytearray()
    for b in key:
        b &= 0xFE
        out.append(b | (bin(b).count('1') % 2 == 0))
    return bytes(out)


def kcv(alg, key):
    return ecb(alg, key, bytes(block(alg)))[:8]


def derive(alg, key, factors):
    """DESIGN §3.2 derivation through 8-byte factors, in order."""
    for d in factors:
        if alg == SM4:
            key = ecb(SM4, key, d + inv(d))
        else:
            key = ecb(DES, key, d) + ecb(DES, key, inv(d))
    return key


# --- MACs ------------------------------------------------------------------
def pad80(data, bs, always=True):
    if not always and data and len(data) % bs == 0:
        return data
    data = data + b'\x80'
    return data + bytes(-len(data) % bs)


def pad0(data, bs):
    if not data:
        return bytes(bs)
    return data + bytes(-len(data) % bs)


def cbc_mac(alg, key, data, iv=None):
    """ISO 9797-1 algorithm 1 over whole blocks: the last block."""
    bs = block(alg)
    return cbc(alg, key, iv or bytes(bs), data)[-bs:]


def retail_mac(key, data, iv=None):
    """ISO 9797-1 algorithm 3 over whole blocks (DES, 16/24-byte key)."""
    h = cbc(DES, key[:8], iv or bytes(8), data)[-8:]
    h = ecb(DES, key[8:16], h, decrypt=True)
    return ecb(DES, key[:8], h)


def pboc_mac(alg, key, data, iv=None, always=True):
    """The PBOC rule over data padded with 80 00.. (always, or only when
    not whole blocks)."""
    data = pad80(data, block(alg), always)
    if alg == DES and len(key) > 8:
        return retail_mac(key, data, iv)
    return cbc_mac(alg, key, data, iv)


# --- e-purse, EMV, SCP02 ---------------------------------------------------
def purse_session_key(alg, key, pd):
    """UB scheme 1: DES E(K, S) (8 bytes), SM4 SM4(K, S || ~S)."""
    if alg == SM4:
        return ecb(SM4, key, pd + inv(pd))
    return ecb(DES, key, pd)


def tac_key(alg, key):
    """UB scheme 2: DES K_L xor K_R, SM4 the key itself."""
    return key if alg == SM4 else xor(key[:8], key[8:16])


def emv_mk_a(imk, y):
    """ICC master key, option A, parity adjusted."""
    return parity(ecb(DES, imk, y) + ecb(DES, imk, inv(y)))


def emv_csk(mk, r):
    """EMV common session key (EMV 4.3 Book 2 A1.3.1)."""
    r1 = r[:2] + b'\xF0' + r[3:]
    r2 = r[:2] + b'\x0F' + r[3:]
    return parity(ecb(DES, mk, r1) + ecb(DES, mk, r2))


def pboc_sk(mk, atc):
    return ecb(DES, mk, bytes(6) + atc) + ecb(DES, mk, bytes(6) + inv(atc))


def scp02_sk(key, const, seq):
    return cbc(DES, key, bytes(8), const + seq + bytes(12))


# --- DER (RSAPublicKey, SM2 ciphertext) ------------------------------------
def der_read(b, pos=0):
    """(tag, value, next position) of the TLV at pos."""
    tag, n = b[pos], b[pos + 1]
    pos += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[pos:pos + k], 'big')
        pos += k
    return tag, b[pos:pos + n], pos + n


def der_tlv(tag, value):
    n = len(value)
    if n < 0x80:
        head = bytes([n])
    else:
        nb = n.to_bytes((n.bit_length() + 7) // 8, 'big')
        head = bytes([0x80 | len(nb)]) + nb
    return bytes([tag]) + head + value


def der_int(v):
    b = v.to_bytes(v.bit_length() // 8 + 1, 'big')
    return der_tlv(0x02, b)


def der_seq_items(b):
    tag, body, end = der_read(b)
    assert tag == 0x30, b[:4]
    items, pos = [], 0
    while pos < len(body):
        t, v, pos = der_read(body, pos)
        items.append((t, v))
    return items, end


def rsa_pub_der(n, e):
    return der_tlv(0x30, der_int(n) + der_int(e))


def rsa_pub_parse(b):
    """(n, e, DER length) of an RSAPublicKey at the start of b."""
    items, end = der_seq_items(b)
    return (int.from_bytes(items[0][1], 'big'),
            int.from_bytes(items[1][1], 'big'), end)


def sm2_der_to_c1c3c2(b):
    """Botan's SM2 ciphertext SEQUENCE {x, y, C3, C2} -> C1 || C3 || C2."""
    items, _ = der_seq_items(b)
    x, y = (int.from_bytes(v, 'big') for _, v in items[:2])
    return (b'\x04' + x.to_bytes(32, 'big') + y.to_bytes(32, 'big')
            + items[2][1] + items[3][1])


def sm2_c1c3c2_to_der(c):
    """C1 (65 bytes, 04 || X || Y) || C3 || C2 -> Botan's DER."""
    assert c[0] == 4
    x = int.from_bytes(c[1:33], 'big')
    y = int.from_bytes(c[33:65], 'big')
    return der_tlv(0x30, der_int(x) + der_int(y) + der_tlv(0x04, c[65:97])
                   + der_tlv(0x04, c[97:]))
