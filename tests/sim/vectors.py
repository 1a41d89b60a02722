#!/usr/bin/python3
"""Known answers for tests/sim/test_card.c and test_psam.c.

Computed here from the definitions (DESIGN §3.2, docs/sim.md), independently
of libtkm: only Debian's python3-cryptography (DES/3DES and SM4 block
ciphers) is used, the MACs, diversification and session keys are written out
below. Run `/usr/bin/python3 tests/sim/vectors.py` and compare with the
VEC_* strings of the C tests.

The scenario, for a DES and an SM4 card:
  card ASN 3104581000001234, transport (initial secure-messaging) key 11..11;
  business keys: load BK_LOAD, purchase BK_PURCH, TAC BK_TAC, ext auth
  BK_EXT, AC BK_AC (DES), secure-messaging ENC BK_ENC; card key =
  business key diversified by the ASN;
  1. write the card's load_01 key under the transport key, challenge C1C2C3C4;
  2. load 100.00 (amount 00002710) at terminal 112233445566, card random
     A1A2A3A4, date 20240131 time 120000;
  3. purchase 15.00 (000005DC), card random B1B2B3B4, PSAM terminal SN
     00000001, date 20240201 time 083000, PSAM holding BK_PURCH version 1;
  4. (DES) GENERATE AC, ARQC over CDOL1 || ATC 0001, ARPC method 1 ARC 3030.
"""
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ASN = bytes.fromhex("3104581000001234")
TK = bytes([0x11]) * 16
BK_LOAD = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
BK_PURCH = bytes.fromhex("101112131415161718191A1B1C1D1E1F")
BK_TAC = bytes.fromhex("202122232425262728292A2B2C2D2E2F")
BK_EXT = bytes.fromhex("303132333435363738393A3B3C3D3E3F")
BK_AC = bytes.fromhex("404142434445464748494A4B4C4D4E4F")
BK_ENC = bytes.fromhex("505152535455565758595A5B5C5D5E5F")
TERM = bytes.fromhex("112233445566")
CHALLENGE = bytes.fromhex("C1C2C3C4")
LOAD_RND = bytes.fromhex("A1A2A3A4")
LOAD_AMT = bytes.fromhex("00002710")
LOAD_DATE = bytes.fromhex("20240131")
LOAD_TIME = bytes.fromhex("120000")
BUY_RND = bytes.fromhex("B1B2B3B4")
BUY_AMT = bytes.fromhex("000005DC")
BUY_TERMSN = bytes.fromhex("00000001")
BUY_DATE = bytes.fromhex("20240201")
BUY_TIME = bytes.fromhex("083000")
CDOL1 = bytes.fromhex("000000002710000000000000015600000000000156240131"
                      "00C1C2C3C4")
ARC = bytes.fromhex("3030")


def ecb(alg, key, data, enc=True):
    if alg == "DES":
        if len(key) == 8:
            key = key * 3
        elif len(key) == 16:
            key = key + key[:8]
        c = Cipher(algorithms.TripleDES(key), modes.ECB())
    else:
        c = Cipher(algorithms.SM4(key), modes.ECB())
    op = c.encryptor() if enc else c.decryptor()
    return op.update(data) + op.finalize()


def xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def pad80(data, bs):
    data = data + b"\x80"
    while len(data) % bs:
        data += b"\x00"
    return data


def pboc_mac(alg, key, data, iv=None):
    """PBOC MAC, pad 80 always: single DES (8-byte key), ISO 9797-1 alg 3
    (16-byte DES key), SM4 CBC-MAC. The whole last block."""
    bs = 8 if alg == "DES" else 16
    data = pad80(data, bs)
    h = iv if iv is not None else bytes(bs)
    if alg == "SM4":
        for i in range(0, len(data), bs):
            h = ecb("SM4", key, xor(h, data[i:i + bs]))
        return h
    kl = key[:8]
    for i in range(0, len(data), bs):
        h = ecb("DES", kl, xor(h, data[i:i + bs]))
    if len(key) == 16:
        h = ecb("DES", key[8:], h, enc=False)
        h = ecb("DES", kl, h)
    return h


def inv(b):
    return bytes(x ^ 0xFF for x in b)


def derive(alg, mk, d):
    if alg == "DES":
        return ecb("DES", mk, d) + ecb("DES", mk, inv(d))
    return ecb("SM4", mk, d + inv(d))


def session_key(alg, k, s):
    if alg == "DES":
        return ecb("DES", k, s)
    return ecb("SM4", k, s + inv(s))


def tac_key(alg, dtk):
    return xor(dtk[:8], dtk[8:]) if alg == "DES" else dtk


def alg_id(alg):
    return b"\x00" if alg == "DES" else b"\x04"


def write_key_apdu(alg, p, rnd, p1, p2, key):
    bs = 8 if alg == "DES" else 16
    pt = pad80(bytes([16]) + key, bs)
    ct = ecb(alg, p, pt)
    hdr = bytes([0x84, 0xD4, p1, p2, len(ct) + 4])
    iv = (rnd + bytes(16))[:bs]
    mac = pboc_mac(alg, p, hdr + ct, iv)[:4]
    return hdr + ct + mac


def scenario(alg):
    v = {}
    card = {n: derive(alg, bk, ASN) for n, bk in (
        ("load", BK_LOAD), ("purch", BK_PURCH), ("tac", BK_TAC),
        ("ext", BK_EXT), ("ac", BK_AC), ("enc", BK_ENC))}
    v["WRITE_LOAD"] = write_key_apdu(alg, TK, CHALLENGE, 0x03, 0x01,
                                     card["load"])
    # load: balance 0, online SN 0
    bal0 = bytes(4)
    sn = bytes(2)
    seslk = session_key(alg, card["load"], LOAD_RND + sn + b"\x80\x00")
    mac1 = pboc_mac(alg, seslk, bal0 + LOAD_AMT + b"\x02" + TERM)[:4]
    v["INIT_LOAD"] = bal0 + sn + b"\x01" + alg_id(alg) + LOAD_RND + mac1
    mac2 = pboc_mac(alg, seslk, LOAD_AMT + b"\x02" + TERM + LOAD_DATE +
                    LOAD_TIME)[:4]
    v["LOAD_MAC2"] = mac2
    newbal = LOAD_AMT
    v["LOAD_TAC"] = pboc_mac(alg, tac_key(alg, card["tac"]),
                             newbal + sn + LOAD_AMT + b"\x02" + TERM +
                             LOAD_DATE + LOAD_TIME)[:4]
    # purchase: balance 10000, offline SN 0
    v["INIT_BUY"] = newbal + sn + bytes(3) + b"\x01" + alg_id(alg) + BUY_RND
    sespk = session_key(alg, card["purch"], BUY_RND + sn + BUY_TERMSN[2:])
    bmac1 = pboc_mac(alg, sespk, BUY_AMT + b"\x06" + TERM + BUY_DATE +
                     BUY_TIME)[:4]
    v["PSAM_INIT"] = (BUY_RND + sn + BUY_AMT + b"\x06" + BUY_DATE +
                      BUY_TIME + b"\x01" + alg_id(alg) + ASN)
    v["PSAM_MAC1"] = BUY_TERMSN + bmac1
    btac = pboc_mac(alg, tac_key(alg, card["tac"]), BUY_AMT + b"\x06" +
                    TERM + BUY_TERMSN + BUY_DATE + BUY_TIME)[:4]
    bmac2 = pboc_mac(alg, sespk, BUY_AMT)[:4]
    v["DEBIT"] = btac + bmac2
    if alg == "DES":
        # ICC MK = option A with Y = ASN (= derive); PBOC session key
        atc = bytes.fromhex("0001")
        sk = (ecb("DES", card["ac"], bytes(6) + atc) +
              ecb("DES", card["ac"], bytes(6) + inv(atc)))
        arqc = pboc_mac("DES", sk, CDOL1 + atc)
        v["ARQC"] = arqc
        v["ARPC"] = ecb("DES", sk, xor(arqc, ARC + bytes(6)))
    return v


def main():
    for alg in ("DES", "SM4"):
        for name, val in scenario(alg).items():
            print(f'#define VEC_{alg}_{name} "{val.hex().upper()}"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
