"""End-to-end suite of every host command over TCP (docs/protocol.md §4-§5):
for each command valid requests whose results are checked independently
(the vector files tests/kat/public.txt and sym.txt, Debian's
python3-cryptography and python3-botan, never libtkm), every error code its
section lists provoked over the wire, and malformed input (every prefix of
a valid request, a hex digit turned into 'G', a byte past the end, wrong
length fields, frame-level garbage). After every batch an NC on the same
connection must still be answered; leaving a class stops its daemon with
SIGTERM and fails on a sanitizer report or a non-zero exit (hsmlib), which
is the "no leak" check.

Keys with known clear values reach the daemon only over the wire: NE
prints a TK's clear components (authorised state), and A6 imports any
clear key under that TK. Run by ctest with TKMS_BUILD set.
"""
import hashlib
import os
import random
import struct
import sys
import unittest

import botan2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vectors as V  # noqa: E402
from hsmlib import C1, C2, C3, Hsm, frame, read_frame  # noqa: E402

HDR = b'12345678'
DES, SM4 = V.DES, V.SM4

K1 = bytes.fromhex('0123456789ABCDEF')
K2 = bytes.fromhex('0123456789ABCDEFFEDCBA9876543210')
K2B = bytes.fromhex('89ABCDEF0123456776543210FEDCBA98')
K3 = bytes.fromhex('0123456789ABCDEF23456789ABCDEF01456789ABCDEF0123')
DLK = bytes.fromhex('11223344556677888877665544332211')  # purse vectors
SCP = bytes.fromhex('404142434445464748494A4B4C4D4E4F')  # scp02.sk
CITY = b'5810FF0000000000'
CARD = b'0000000012345678'
IV0 = b'0' * 16
IV0S = b'0' * 32

PUBLIC = V.load('public.txt')
SYM = V.load('sym.txt')

# Codes each command's section of docs/protocol.md lists (its own fields;
# 13/17/60/68/69 are the dispatcher's and provoked elsewhere).
ERRS = {
    'NC': '15', 'TE': '15 80',
    'BU': '04 05 10 12 15 26 28',
    'A0': '02 04 05 10 12 15 21 26 28',
    'A6': '02 04 05 10 12 15 21 26 28',
    'A8': '02 04 05 10 12 15 26 28',
    'NE': '04 15 21 26',
    'UB': '01 02 04 05 10 12 15 26 28',
    'KW': '01 02 05 10 12 15 26 28 80',
    'G1': '02 04 05 10 12 15 26 28',
    'U1': '02 04 05 10 12 15 26 28 80',
    'U3': '02 04 05 10 12 15 26 28 80',
    'UY': '02 04 05 10 12 15 26 28 80',
    'EI': '02 05 15 17 21 74', 'EJ': '05 12 15 21 74',
    'EH': '02 04 05 10 12 15 21 26 28 74 80',
    'EK': '05 15 21 74', 'EP': '01 05 12 15 21 74 80',
    'ER': '05 12 15 21 74 80 85', 'EW': '05 12 15 21 74 80',
    'EY': '01 05 12 15 21 74 80', 'GM': '05 15 74 80 85',
}
ERRS = {k: set(v.split()) for k, v in ERRS.items()}
# Answers that are not errors though not 00: verification failed.
VERIFY_FAIL = {'UB', 'KW', 'EY'}
NON_RAW = ('NC TE EI UB G1 U1 U3 A0 A6 A8 BU UY NE').split()

# Requests sent and codes seen per command and kind of request; printed at
# the end with TKMS_E2E_STATS=1 (for reviews of the suite itself).
STATS = {}


def stat(cmd, kind, code):
    s = STATS.setdefault(cmd, {}).setdefault(kind, {})
    s[code] = s.get(code, 0) + 1


def tearDownModule():
    if not os.environ.get('TKMS_E2E_STATS'):
        return
    for cmd in sorted(STATS):
        total = sum(sum(v.values()) for v in STATS[cmd].values())
        parts = ['%s %s' % (k, ','.join('%s:%d' % kv for kv in
                                        sorted(v.items())))
                 for k, v in sorted(STATS[cmd].items())]
        sys.stderr.write('%s %5d  %s\n' % (cmd, total, '  '.join(parts)))


def h(b):
    """Upper-case hex, as bytes."""
    return b.hex().upper().encode()


def trailer_of(payload):
    """The trailer the daemon recognises in a request (wire.h: the last
    0x19 among the final 33 bytes, only printable bytes after it), or
    None."""
    tail = payload[2:][-33:]
    i = tail.rfind(b'\x19')
    if i < 0 or any(b < 0x20 or b > 0x7E for b in tail[i + 1:]):
        return None
    return tail[i + 1:]


def rsp_of(cmd):
    return cmd[:1] + bytes([cmd[1] + 1])


def lv(data, width=4):
    return b'%0*d' % (width, len(data)) + data


def under(alg, key):
    """The wire form of a key's cryptogram: 16H, X/Y+H, S+H."""
    if alg == SM4:
        return b'S' + h(key)
    return {8: b'', 16: b'X', 24: b'Y'}[len(key)] + h(key)


def dk_kcv():
    dk = V.xor(V.xor(bytes.fromhex(C1), bytes.fromhex(C2)), bytes.fromhex(C3))
    return h(V.kcv(SM4, dk))


class Base(unittest.TestCase):
    """One daemon per class, one kept connection; NC after every test."""
    authorised = True

    @classmethod
    def setUpClass(cls):
        cls.hsm = Hsm(authorised=cls.authorised, workers=2)
        cls.hsm.start()
        cls.sock = cls.hsm.connect()

    @classmethod
    def tearDownClass(cls):
        cls.sock.close()
        cls.hsm.stop()  # SIGTERM; sanitizer report or exit status fails

    def tearDown(self):
        self.nc()

    # --- talking ---------------------------------------------------------
    def send(self, payload, kind='valid'):
        """The answer to payload (after the echoed header), checked for
        form: RSP, two digits, and no fields on an error."""
        self.sock.sendall(frame(HDR + payload))
        a = read_frame(self.sock)
        self.assertEqual(a[:8], HDR, (payload[:60], a[:60]))
        a = a[8:]
        cmd = payload[:2]
        trl = trailer_of(payload)
        if trl is not None and cmd.decode('latin-1') in NON_RAW:
            self.assertTrue(a.endswith(b'\x19' + trl), (payload, a))
            a = a[:-1 - len(trl)]
        self.assertEqual(a[:2], rsp_of(cmd), (payload[:60], a[:60]))
        code = a[2:4].decode('latin-1')
        self.assertRegex(code, r'^\d\d$', (payload[:60], a[:60]))
        if code != '00':
            self.assertEqual(len(a), 4, ('fields on an error', payload[:80],
                                         a[:80]))
        stat(cmd.decode('latin-1'), kind, code)
        return a

    def ok(self, payload):
        """Fields of a successful answer."""
        a = self.send(payload, 'valid')
        self.assertEqual(a[2:4], b'00', (payload[:120], a[:60]))
        return a[4:]

    def err(self, payload, code, kind='error'):
        a = self.send(payload, kind)
        self.assertEqual(a[2:4].decode(), code, payload[:160])

    def table(self, cases):
        """[(request, code)]: each request answered with exactly code.
        Returns the set of codes provoked."""
        for req, code in cases:
            with self.subTest(req=req[:100], code=code):
                self.err(req, code)
        return {c for _, c in cases}

    def nc(self):
        a = self.send(b'NC', 'nc')
        self.assertEqual(a[:4], b'ND00')

    def malformed(self, valid, trunc=('15',), extra='15', ok_prefixes=(),
                  flip=None, mutations=40):
        """Generic malformations of a valid request: every strict prefix
        past the command code (answered with a code of trunc, or 00 for
        the lengths in ok_prefixes), each hex digit at the positions flip
        (default: all of them) turned into 'G' (an error the command lists;
        never 00), one byte more (extra), and random one-byte mutations
        (a byte replaced, dropped or inserted: 00 or a listed code). NC
        after each batch. Requests that store keys pass mutations=0, so
        that the fixture's empty indexes stay empty."""
        cmd = valid[:2].decode()
        allowed = ERRS[cmd]
        for i in range(2, len(valid)):
            a = self.send(valid[:i], 'prefix')
            code = a[2:4].decode()
            if i in ok_prefixes:
                self.assertEqual(code, '00', valid[:i])
            else:
                self.assertIn(code, trunc, ('prefix', i, valid[:i][:120]))
        self.nc()
        if flip is None:
            flip = [i for i in range(2, len(valid))
                    if valid[i:i + 1] in b'0123456789ABCDEF']
        for i in flip:
            bad = valid[:i] + b'G' + valid[i + 1:]
            code = self.send(bad, 'hexG')[2:4].decode()
            self.assertIn(code, allowed, ('G at', i, bad[:120]))
            if cmd in VERIFY_FAIL:
                self.assertNotEqual(code, '01', ('G at', i, bad[:120]))
        self.nc()
        if extra is not None:
            self.err(valid + b'0', extra, 'extra')
        self.nc()
        rnd = random.Random(valid)
        for _ in range(mutations):
            i = rnd.randrange(2, len(valid) + 1)
            b = bytes([rnd.getrandbits(8)])
            bad = rnd.choice((valid[:i] + b + valid[i + 1:],
                              valid[:i] + valid[i + 1:],
                              valid[:i] + b + valid[i:]))
            code = self.send(bad, 'mutation')[2:4].decode()
            self.assertIn(code, allowed | {'00'}, ('mutation', bad[:160]))
        self.nc()


# ==========================================================================
# Symmetric commands: NC TE BU A0 A6 A8 NE UB KW G1 U1 U3 UY
# ==========================================================================
# (name, library, type, clear key, index or None): imported by A6 under the
# TKs that NE printed, stored when an index is given.
SYM_KEYS = [
    ('zak', DES, b'008', K2, b'K010'),
    ('tak', DES, b'003', K2, b'K011'),
    ('dlk', DES, b'109', DLK, b'K012'),
    ('imk', DES, b'109', bytes.fromhex('F0C34A8124CEE0A91A0B034AA97D6EAC'),
     b'K013'),
    ('data', DES, b'509', K2, b'K014'),
    ('smc', DES, b'309', K2B, b'K015'),
    ('smi', DES, b'209', K2, b'K016'),
    ('ac1', DES, b'109', K1, b'K017'),
    ('ac3', DES, b'109', K3, b'K018'),
    ('zek', DES, b'00A', K2, b'K019'),
    ('data1', DES, b'509', K1, b'K01A'),
    ('smc3', DES, b'309', K3, b'K01B'),
    ('zpk', DES, b'001', K2, b'K01C'),
    ('scp', DES, b'309', SCP, b'K01D'),
    ('smc1', DES, b'309', K1, b'K01E'),
    ('ac', DES, b'109', K2, b'K01F'),
    ('s_zak', SM4, b'008', K2, b'K010'),
    ('s_dlk', SM4, b'109', DLK, b'K012'),
    ('s_data', SM4, b'509', K2, b'K014'),
    ('s_smc', SM4, b'309', K2B, b'K015'),
    ('s_zek', SM4, b'00A', K2, b'K019'),
    # cryptograms only
    ('x_tak', DES, b'003', K2, None),
    ('x_zek2', DES, b'00A', K2B, None),
    ('x_dlk', DES, b'109', DLK, None),
    ('x_smc', DES, b'309', K2B, None),
    ('x_data', DES, b'509', K2, None),
    ('x_zak', DES, b'008', K2, None),
    ('s_x_dlk', SM4, b'109', DLK, None),
    ('s_x_data', SM4, b'509', K2, None),
    ('s_x_tak', SM4, b'003', K2, None),
]


def parse_ne(fields, alg, n, parts):
    """([components], key under DK, KCV) of an NF answer."""
    comps, p = [], 0
    for _ in range(parts):
        c = bytes.fromhex(fields[p:p + 2 * n].decode())
        p += 2 * n
        comps.append((c, fields[p:p + 16]))
        p += 16
    return comps, fields[p:-16], fields[-16:]


class Sym(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        t = cls()
        cls.tk = {}
        cls.ref = {}
        # TKs with known clear values (NE), stored at K000 of both
        # libraries; a single-DES TK at K001 of the DES library.
        for alg, scheme, n, idx in ((DES, b'X', 16, b'K000'),
                                    (SM4, b'S', 16, b'K000'),
                                    (DES, b'Z', 8, b'K001')):
            f = t.ok(b'NE000' + scheme + b'2' + idx)
            comps, ref, kcv = parse_ne(f, alg, n, 2)
            key = V.xor(comps[0][0], comps[1][0])
            if alg == DES:
                key = V.parity(key)
            assert h(V.kcv(alg, key)) == kcv
            cls.tk[(alg, n)] = key
            cls.ref[('tk', alg, n)] = ref
        cls.kcvs = {}
        for name, alg, typ, key, idx in SYM_KEYS:
            f = t.ok(t.a6(alg, typ, key, idx))
            cls.ref[name] = f[:-16]
            cls.kcvs[name] = f[-16:]

    def a6(self, alg, typ, key, idx=None, tk=b'K000'):
        """A6 request importing clear key under the fixture's TK."""
        wrapped = V.ecb(alg, self.tk[(alg, 16)], key)
        scheme = b'S' if alg == SM4 else {8: b'Z', 16: b'X', 24: b'Y'}[
            len(key)]
        return (b'A6T' + typ + tk + under(alg, wrapped) + scheme
                + (idx or b''))

    # --- NC, TE ------------------------------------------------------------
    def test_nc(self):
        f = self.ok(b'NC')
        self.assertEqual(f[:16], dk_kcv())
        self.assertRegex(f[16:].decode(), r'^[ -~]{9}$')
        self.assertEqual(self.table([(b'NC0', '15'), (b'NC;', '15')]),
                         ERRS['NC'])
        self.malformed(b'NC')

    def test_te(self):
        seen = set()
        for n in (1, 8, 16, 255, 2048):
            f = self.ok(b'TE%04d' % n)
            self.assertEqual(len(f), 2 * n)
            self.assertRegex(f.decode(), r'^[0-9A-F]+$')
            seen.add(f)
        self.assertEqual(len(seen), 5)
        self.assertNotEqual(self.ok(b'TE0016'), self.ok(b'TE0016'))
        self.assertEqual(self.table([
            (b'TE0000', '80'), (b'TE2049', '80'), (b'TE9999', '80'),
            (b'TE', '15'), (b'TE008', '15'), (b'TE00A8', '15'),
            (b'TE00080', '15'), (b'TE-001', '15')]), ERRS['TE'])
        self.malformed(b'TE0016')

    # --- across commands ---------------------------------------------------
    def test_trailer(self):
        """Commands not dispatched RAW echo a trailer, on success and on
        error; RAW ones (KW here) take 0x19.. as data."""
        for req in (b'NC', b'TE0004', b'BU008K010', b'BU008K0FF',
                    b'A00008X', b'NE000X2', b'G11309K01D0007',
                    b'U1X001509K014000008' + IV0,
                    b'UYX509K0140509K014001008AABBCCDDEEFF0011',
                    b'UBX00008K0100' + b'0' + IV0 + b'000' + b'04',
                    b'U3X00509K0140' + b'0K000N' + IV0,
                    b'A8T008K000K010X', b'UB'):
            plain = self.send(req)
            for trl in (b'', b'T', b'TRAILER-' + b'x' * 24):
                self.sock.sendall(frame(HDR + req + b'\x19' + trl))
                got = read_frame(self.sock)[8:]
                self.assertTrue(got.endswith(b'\x19' + trl), got)
                got = got[:-1 - len(trl)]
                self.assertEqual(got[:4], plain[:4], req)
                if req[:2] not in (b'TE', b'A0', b'NE', b'G1'):  # random
                    self.assertEqual(got, plain, req)
        # 33 characters are no trailer: a field (15).
        self.err(b'BU008K010\x19' + b'T' * 33, '15')
        self.err(b'KW' + b'\x19T', '05')  # the mode byte is 0x19
        self.err(self.kw_pboc(1, b'K013') + b'\x19T', '15')

    def test_lengths(self):
        """Length fields promising more than follows, or the most there
        can be."""
        d = bytes(range(256)) * 4
        big = d[:992]
        self.assertEqual(self.ok(b'U1X001509K014000992' + h(big)),
                         b'992' + h(V.ecb(DES, K2, big)))
        self.assertEqual(self.ok(b'U1X001509K014001991' + h(d[:991])),
                         b'992' + h(V.ecb(DES, K2, V.pad80(d[:991], 8))))
        mac = V.pboc_mac(DES, K2, d[:999])[:4]
        self.assertEqual(self.ok(b'UBX00008K0100' + b'0' + IV0 + b'999'
                                 + h(d[:999]) + b'04'), h(mac))
        self.table([
            (b'UBX00008K0100' + b'0' + IV0 + b'999' + h(d[:998]) + b'04',
             '15'),
            (b'U1X001509K014000999' + h(d[:8]), '15'),
            (b'UYX509K0140509K014001999AABBCCDDEEFF0011', '15'),
            (b'U3X02509K0140' + b'0K000NFFFF' + b'00' * 8, '80'),
            (b'U3X02509K0140' + b'0K000N0100' + b'00' * 255, '15'),
            (b'TE99999', '15')])
        fill = b'00' * 256
        ct = self.ok(b'U3X02509K0140' + b'0K000N0100' + fill)
        self.assertEqual(ct, b'0272' + h(V.ecb(DES, self.tk[(DES, 16)],
                                              K2 + bytes(256))))

    # --- BU ----------------------------------------------------------------
    def test_bu(self):
        for name, alg, typ, key, idx in SYM_KEYS:
            want = h(V.kcv(alg, key))
            self.assertEqual(self.kcvs[name], want, name)
            if idx is not None:
                self.assertEqual(self.ok(b'BU' + typ + idx
                                         + (b'S' if alg == SM4 else b'')),
                                 want, name)
            self.assertEqual(self.ok(b'BU' + typ + self.ref[name]), want)
        # The classic KCV of K2 (kcv.des of sym.txt).
        self.assertIn({'key': h(K2).decode(), 'out': '08D7B4FB629D0885'},
                      V.find(SYM, 'kcv.des'))
        self.assertEqual(self.ok(b'BU008K010X'), b'08D7B4FB629D0885')
        self.assertEqual(self.ok(b'BU509K01a'), h(V.kcv(DES, K1)))
        self.err(b'BU008k010', '26')  # K is upper case only
        x_tak, s_tak = self.ref['x_tak'], self.ref['s_x_tak']
        self.assertEqual(self.table([
            (b'BU0ZZK010', '04'), (b'BU008K010Q', '05'),
            (b'BU008' + x_tak, '10'), (b'BU008K0FF', '12'),
            (b'BU003K011S', '12'),
            (b'BU', '15'), (b'BU00', '15'), (b'BU008', '15'),
            (b'BU008K0G0', '15'), (b'BU008K010XX', '15'),
            (b'BU003' + x_tak[:-1], '15'), (b'BU003' + x_tak + b'0', '05'),
            (b'BU008Q0123', '26'), (b'BU003' + x_tak + b'S', '26'),
            (b'BU003' + s_tak + b'X', '26'),
            (b'BU003K010', '28')]), ERRS['BU'])
        self.malformed(b'BU008K010', extra='05')
        self.malformed(b'BU003' + x_tak + b'X', trunc=('15', '05', '26'),
                       ok_prefixes=(len(x_tak) + 5,), extra='15')

    # --- A0 ----------------------------------------------------------------
    def check_a0(self, f, alg, n, tk=None):
        """A1 fields: under DK [| under TK] | KCV; returns the clear key
        when a TK is known."""
        kcv = f[-16:]
        if tk is None:
            ref = f[:-16]
            self.assertEqual(self.ok(b'BU008' + ref), kcv)
            return None
        w = (1 if n != 8 or alg == SM4 else 0) + 2 * n
        ref, wrapped = f[:-16 - w], f[-16 - w:-16]
        key = V.ecb(alg, tk, bytes.fromhex(wrapped[w - 2 * n:].decode()),
                    decrypt=True)
        self.assertEqual(len(key), n)
        if alg == DES:
            self.assertEqual(key, V.parity(key), 'odd parity')
        self.assertEqual(h(V.kcv(alg, key)), kcv)
        return key, ref

    def test_a0(self):
        tkx, tks = self.tk[(DES, 16)], self.tk[(SM4, 16)]
        for scheme, alg, n in ((b'Z', DES, 8), (b'X', DES, 16),
                               (b'Y', DES, 24), (b'S', SM4, 16)):
            self.check_a0(self.ok(b'A00008' + scheme), alg, n)
            tkref = b'K000'
            tks_ = scheme
            key, ref = self.check_a0(
                self.ok(b'A01008' + scheme + tkref + tks_), alg, n,
                tks if alg == SM4 else tkx)
            self.assertEqual(self.ok(b'BU008' + ref), h(V.kcv(alg, key)))
        # The TK as a cryptogram; mode 2 stores (then BU); fresh keys.
        key, _ = self.check_a0(
            self.ok(b'A01003X' + self.ref[('tk', DES, 16)] + b'X'), DES,
            16, tkx)
        f = self.ok(b'A02509XK030')
        self.assertEqual(self.ok(b'BU509K030'), f[-16:])
        f = self.ok(b'A02509SK030')
        self.assertEqual(self.ok(b'BU509K030S'), f[-16:])
        self.assertNotEqual(self.ok(b'A00008X'), self.ok(b'A00008X'))
        self.assertEqual(self.table([
            (b'A01008XK001X', '02'), (b'A000ZZX', '04'),
            (b'A03008X', '05'), (b'A09008X', '05'),
            (b'A01008X' + self.ref['x_zak'] + b'X', '10'),
            (b'A01008XK0F0X', '12'), (b'A01008SK001S', '12'),
            (b'A0A008X', '15'), (b'A00008', '15'), (b'A0', '15'),
            (b'A00008XK000', '15'), (b'A01008XK000', '15'),
            (b'A01008XK000XK', '15'), (b'A02008X', '15'),
            (b'A02008XK02G', '15'), (b'A02008X0020', '15'),
            (b'A02008XK010', '21'), (b'A02008SK000', '21'),
            (b'A00008Q', '26'), (b'A01008XK000S', '26'),
            (b'A01008X' + self.ref[('tk', SM4, 16)] + b'X', '26'),
            (b'A01008XK010X', '28')]), ERRS['A0'])
        self.malformed(b'A01008XK000X')
        self.malformed(b'A02008XK031', mutations=0)

    # --- A6 ----------------------------------------------------------------
    def test_a6(self):
        # The fixture imported every key: its KCVs are checked by test_bu.
        tkx = self.tk[(DES, 16)]
        wrapped = b'X' + h(V.ecb(DES, tkx, K2B))
        f = self.ok(b'A6T109' + self.ref[('tk', DES, 16)] + wrapped + b'X')
        self.assertEqual(f[-16:], h(V.kcv(DES, K2B)))
        self.assertEqual(self.ok(b'BU109' + f[:-16]), h(V.kcv(DES, K2B)))
        # lower-case hex; a key without odd parity gets it (A6 decision)
        f = self.ok(b'A6T008K000' + wrapped.lower().replace(b'x', b'X')
                    + b'X')
        self.assertEqual(f[-16:], h(V.kcv(DES, K2B)))
        f = self.ok(self.a6(DES, b'003', DLK, b'K032'))
        self.assertEqual(self.ok(b'BU003K032'), h(V.kcv(DES, DLK)))
        self.assertEqual(f[-16:], h(V.kcv(DES, DLK)))
        x = b'X' + h(V.ecb(DES, tkx, K2))
        s = b'S' + h(V.ecb(SM4, self.tk[(SM4, 16)], K2))
        self.assertEqual(self.table([
            (b'A6T008K001' + x + b'X', '02'),
            (b'A6T0Z8K000' + x + b'X', '04'),
            (b'A6X008K000' + x + b'X', '05'),
            (b'A6T008' + self.ref['x_zak'] + x + b'X', '10'),
            (b'A6T008K0AB' + x + b'X', '12'),
            (b'A6T008K001' + s + b'S', '12'),
            (b'A6T008K000' + x, '15'), (b'A6T', '15'),
            (b'A6T008K000X0123X', '15'),
            (b'A6T008K000' + x[:-1] + b'GX', '15'),
            (b'A6T008K000' + x + b'XK01', '15'),
            (b'A6T008K000' + x + b'XK0100', '15'),
            (b'A6T008K000' + x + b'XZ010', '15'),
            (b'A6T008K000' + x + b'XK010', '21'),
            (b'A6T008K000' + s + b'SK010', '21'),
            (b'A6T008K000' + x + b'S', '26'), (b'A6T008K000' + x + b'Y', '26'),
            (b'A6T008K000' + x + b'Q', '26'), (b'A6T008K000K010X', '26'),
            (b'A6T008' + self.ref[('tk', SM4, 16)] + x + b'X', '26'),
            (b'A6T008K010' + x + b'X', '28')]), ERRS['A6'])
        self.malformed(b'A6T008K000' + x + b'X')
        self.malformed(b'A6T008K000' + x + b'XK033', ok_prefixes=(44,),
                       mutations=0)

    # --- A8 ----------------------------------------------------------------
    def unwrap_a8(self, f, alg, n):
        tk = self.tk[(alg, 16)]
        w = f[:-16]
        key = V.ecb(alg, tk, bytes.fromhex(w[len(w) - 2 * n:].decode()),
                    decrypt=True)
        self.assertEqual(f[-16:], h(V.kcv(alg, key)))
        return key

    def test_a8(self):
        # derive() against derive.des / derive.sm4 of sym.txt first.
        for alg, name in ((DES, 'derive.des'), (SM4, 'derive.sm4')):
            for v in V.find(SYM, name):
                d = bytes.fromhex(v['d'])
                fs = [d[i:i + 8] for i in range(0, len(d), 8)]
                self.assertEqual(
                    h(V.derive(alg, bytes.fromhex(v['mk']), fs)).decode(),
                    v['out'])
        c, k = bytes.fromhex(CITY.decode()), bytes.fromhex(CARD.decode())
        self.assertEqual(self.unwrap_a8(self.ok(b'A8T008K000K010X'), DES, 16),
                         K2)
        self.assertEqual(self.unwrap_a8(self.ok(b'A8T008K000K0100X'), DES,
                                        16), K2)
        for ref in (b'K010', self.ref['x_zak']):
            got = self.unwrap_a8(
                self.ok(b'A8T008K000' + ref + b'1' + CITY + b'X'), DES, 16)
            self.assertEqual(got, V.parity(V.derive(DES, K2, [c])))
        got = self.unwrap_a8(self.ok(b'A8T109' + self.ref[('tk', DES, 16)]
                                     + b'K0122' + CITY + CARD + b'X'), DES,
                             16)
        self.assertEqual(got, V.parity(V.derive(DES, DLK, [c, k])))
        got = self.unwrap_a8(self.ok(b'A8T109K000K0181' + CITY + b'X'), DES,
                             16)
        self.assertEqual(got, V.parity(V.derive(DES, K3, [c])))
        self.assertEqual(self.unwrap_a8(self.ok(b'A8T109K000K018Y'), DES, 24),
                         K3)
        self.assertEqual(self.unwrap_a8(self.ok(b'A8T109K000K017Z'), DES, 8),
                         K1)
        got = self.unwrap_a8(self.ok(b'A8T008K000K0101' + CITY + b'S'), SM4,
                             16)
        self.assertEqual(got, V.derive(SM4, K2, [c]))
        # export, import elsewhere, same KCV
        f = self.ok(b'A8T008K000K0101' + CITY + b'X')
        g = self.ok(b'A6T008K000' + f[:-16] + b'X')
        self.assertEqual(g[-16:], f[-16:])
        self.assertEqual(self.table([
            (b'A8T008K001K010X', '02'), (b'A8T109K000K0171' + CITY + b'X',
                                         '02'),
            (b'A8T00ZK000K010X', '04'), (b'A8X008K000K010X', '05'),
            (b'A8T008K000' + self.ref['x_tak'] + b'X', '10'),
            (b'A8T008K000K0FFX', '12'), (b'A8T008K0FEK010X', '12'),
            (b'A8T003K000K011S', '12'),
            (b'A8T008K000K0106' + CITY * 6 + b'X', '15'),
            (b'A8T008K000K0102' + CITY + b'X', '15'),
            (b'A8T008K000K0101' + CITY[:-1] + b'GX', '15'),
            (b'A8T008K000K010', '15'), (b'A8T008K000K0100XX', '15'),
            (b'A8T', '15'),
            (b'A8T008K000K010Y', '26'), (b'A8T008K000K010Q', '26'),
            (b'A8T008K000K0101' + CITY + b'Y', '26'),
            (b'A8T008K000' + self.ref['s_x_tak'] + b'X', '26'),
            (b'A8T008K010K010X', '28'), (b'A8T003K000K010X', '28')]),
            ERRS['A8'])
        self.malformed(b'A8T008K000K0101' + CITY + b'X', trunc=('15', '26'))

    # --- NE ----------------------------------------------------------------
    def test_ne(self):
        for typ, scheme, alg, n, parts in ((b'000', b'X', DES, 16, 3),
                                           (b'008', b'Y', DES, 24, 9),
                                           (b'003', b'Z', DES, 8, 2),
                                           (b'509', b'S', SM4, 16, 2)):
            comps, ref, kcv = parse_ne(self.ok(b'NE' + typ + scheme
                                               + b'%d' % parts), alg, n,
                                       parts)
            acc = bytes(n)
            for c, ckcv in comps:
                if alg == DES:
                    self.assertEqual(c, V.parity(c))
                self.assertEqual(ckcv, h(V.kcv(alg, c)))
                acc = V.xor(acc, c)
            if alg == DES:
                acc = V.parity(acc)
            self.assertEqual(kcv, h(V.kcv(alg, acc)))
            self.assertEqual(self.ok(b'BU' + typ + ref), kcv)
        f = self.ok(b'NE001X2K040')
        self.assertEqual(self.ok(b'BU001K040'), f[-16:])
        self.assertEqual(self.table([
            (b'NE0Z0X3', '04'),
            (b'NE000X1', '15'), (b'NE000X0', '15'), (b'NE000XA', '15'),
            (b'NE000X', '15'), (b'NE00', '15'), (b'NE000X3K01', '15'),
            (b'NE000X3K0100', '15'), (b'NE000X3L010', '15'),
            (b'NE000X3K000', '21'), (b'NE000S3K000', '21'),
            (b'NE000Q3', '26')]), ERRS['NE'])
        self.malformed(b'NE000X2K041', ok_prefixes=(7,), mutations=0)
        self.malformed(b'NE000S2')

    # --- UB ----------------------------------------------------------------
    def ub(self, alg, mode, scheme, typ, key, deriv, pd, pad, iv, data,
           maclen, mac=b''):
        return (b'UB' + alg + b'%d%d' % (mode, scheme) + typ + key + deriv
                + pd + b'%d' % pad + iv + b'%03d' % (len(data) // 2) + data
                + maclen + mac)

    def ub_check(self, want, *args):
        """Generate in modes 0 and 1, verify in 2 and 1, refuse a changed
        MAC (01)."""
        want = want.encode() if isinstance(want, str) else want
        self.assertEqual(self.ok(self.ub(args[0], 0, *args[1:])), want)
        self.assertEqual(self.ok(self.ub(args[0], 1, *args[1:])), want)
        self.assertEqual(self.ok(self.ub(args[0], 2, *args[1:], want)), b'')
        self.assertEqual(self.ok(self.ub(args[0], 1, *args[1:], want)), b'')
        bad = (b'1' if want[:1] == b'0' else b'0') + want[1:]
        self.err(self.ub(args[0], 2, *args[1:], bad), '01')

    def test_ub_vectors(self):
        """The PBOC e-purse examples of public.txt, the TACs of sym.txt."""
        pv = {n: f for n, f in PUBLIC}
        seslk, sespk = pv['purse.seslk'], pv['purse.sespk']
        self.assertEqual(seslk['dlk'], h(DLK).decode())
        pd_load = (seslk['rnd'] + seslk['sn'] + '8000').encode()
        pd_buy = (sespk['rnd'] + sespk['sn'] + sespk['termsn']).encode()
        m1, m2 = pv['purse.load.mac1'], pv['purse.load.mac2']
        b1 = pv['purse.purchase.mac1']
        load1 = (m1['bal'] + m1['amt'] + m1['type'] + m1['term']).encode()
        load2 = (m2['amt'] + m2['type'] + m2['term'] + m2['date']
                 + m2['time']).encode()
        buy1 = (b1['amt'] + b1['type'] + b1['term'] + b1['date']
                + b1['time']).encode()
        for key in (b'K012', self.ref['x_dlk']):
            self.ub_check(m1['out'], b'X', 1, b'109', key, b'0', pd_load, 0,
                          IV0, load1, b'04')
            self.ub_check(m2['out'], b'X', 1, b'109', key, b'0', pd_load, 0,
                          IV0, load2, b'04')
            self.ub_check(b1['out'], b'X', 1, b'109', key, b'0', pd_buy, 0,
                          IV0, buy1, b'04')
        # TACs (sym.txt, dtk = DLK): with and without process data.
        for alg, pre in ((b'X', 'purse.'), (b'S', 'purse.sm4.')):
            iv = IV0S if alg == b'S' else IV0
            key = b'K012' if alg == b'X' else self.ref['s_x_dlk']
            for v in V.find(SYM, pre + 'load.tac') + V.find(
                    SYM, pre + 'purchase.tac'):
                if v['dtk'] != h(DLK).decode():
                    continue
                if 'bal' in v:
                    data = (v['bal'] + v['sn'] + v['amt'] + v['type']
                            + v['term'] + v['date'] + v['time'])
                else:
                    data = (v['amt'] + v['type'] + v['term'] + v['termsn']
                            + v['date'] + v['time'])
                data = data.encode()
                self.ub_check(v['out'], alg, 2, b'109', key, b'0', IV0, 0,
                              iv, data, b'04')
                self.ub_check(v['out'], alg, 2, b'109', key, b'0', b'', 0,
                              iv, data, b'04')
        # SM4 load MAC1 (sym.txt purse.sm4.seslk -> purse.sm4.load.mac1).
        sk = [v for v in V.find(SYM, 'purse.sm4.seslk')
              if v['dlk'] == h(DLK).decode()][0]
        mac = [v for v in V.find(SYM, 'purse.sm4.load.mac1')
               if v['seslk'] == sk['out']][0]
        data = (mac['bal'] + mac['amt'] + mac['type'] + mac['term']).encode()
        self.ub_check(mac['out'], b'S', 1, b'109', b'K012', b'0',
                      (sk['rnd'] + sk['sn'] + '8000').encode(), 0, IV0S,
                      data, b'04')

    def test_ub_schemes(self):
        """Schemes 0-3, pads, derivation, IVs: against V (itself checked
        with the mac.pboc vectors)."""
        for alg, name in ((DES, 'mac.pboc.des'), (SM4, 'mac.pboc.sm4')):
            for v in V.find(SYM, name):
                got = V.pboc_mac(alg, bytes.fromhex(v['key']),
                                 bytes.fromhex(v['data']))
                self.assertEqual(h(got)[:len(v['out'])].decode(), v['out'])
        c, k = bytes.fromhex(CITY.decode()), bytes.fromhex(CARD.decode())
        pd = bytes.fromhex('1122334400008000')
        for alg, a, iv, ref in ((DES, b'X', bytes(range(1, 9)), b'K010'),
                                (SM4, b'S', bytes(range(16)), b'K010')):
            for deriv, fs in ((b'0', []), (b'1' + CITY, [c]),
                              (b'2' + CITY + CARD, [c, k])):
                mk = V.derive(alg, K2, fs)
                for scheme in range(4):
                    if scheme == 0:
                        key = mk
                    elif scheme == 1:
                        key = V.purse_session_key(alg, mk, pd)
                    elif scheme == 2:
                        key = V.tac_key(alg, mk)
                    else:
                        key = V.derive(alg, mk, [pd])
                    for pad in (0, 1):
                        for data in (b'', b'00', b'0011223344556677',
                                     h(bytes(range(16))), h(b'x' * 29)):
                            want = V.pboc_mac(alg, key,
                                              bytes.fromhex(data.decode()),
                                              iv, always=pad == 0)
                            n = 8 if len(data) % 4 else 4
                            self.ub_check(h(want[:n]), a, scheme, b'008',
                                          ref, deriv, h(pd), pad, h(iv),
                                          data, b'%02d' % n)
        # Single-DES and triple-DES keys, every type UB takes.
        data = b'0011223344556677'
        for ref, key in ((b'K017', K1), (b'K018', K3)):
            want = V.pboc_mac(DES, key, bytes.fromhex(data.decode()))
            self.ub_check(h(want[:4]), b'X', 0, b'109', ref, b'0', b'', 0,
                          IV0, data, b'04')
        for typ, ref in ((b'003', b'K011'), (b'008', b'K010'),
                         (b'109', b'K01F'), (b'209', b'K016'),
                         (b'509', b'K014')):
            want = V.pboc_mac(DES, K2, bytes.fromhex(data.decode()))
            self.ub_check(h(want[:8]), b'X', 0, typ, ref, b'0', b'', 0, IV0,
                          data, b'08')

    def test_ub_errors(self):
        tail = b'0' + IV0 + b'015' + b'000000000000100001001122334455' + b'04'
        pdl = b'1122334400008000'
        good = b'UBX01109K0120' + pdl + tail
        dat8 = b'0' + IV0 + b'008' + b'0011223344556677' + b'04'
        self.assertEqual(self.ok(good), b'2988AE5A')
        self.assertEqual(self.table([
            (b'UBX21109K0120' + pdl + tail + b'2988AE5B', '01'),
            (b'UBX02109K017' + b'0' + dat8, '02'),
            (b'UBX03109K017' + b'0' + pdl + dat8, '02'),
            (b'UBX00109K0171' + CITY + dat8, '02'),
            (b'UBX02109K018' + b'0' + dat8, '02'),
            (b'UBX01ZZZK0120' + pdl + tail, '04'),
            (b'UBQ01109K0120' + pdl + tail, '05'),
            (b'UBX31109K0120' + pdl + tail, '05'),
            (b'UBX04109K0120' + pdl + tail, '05'),
            (b'UBX01109K0120' + pdl + b'2' + tail[1:], '05'),
            (b'UBX01109' + self.ref['x_tak'] + b'0' + pdl + tail, '10'),
            (b'UBX01109K0FF0' + pdl + tail, '12'),
            (b'UBS01109K0170' + pdl + b'0' + IV0S + tail[17:], '12'),
            (b'UB', '15'), (b'UBXA1109K0120' + pdl + tail, '15'),
            (b'UBX01109K0126' + CITY * 6 + pdl + tail, '15'),
            (b'UBX01109K012A' + pdl + tail, '15'),
            (b'UBX01109K0120' + tail, '15'),
            (b'UBX01109K0120' + pdl[:-1] + b'G' + tail, '15'),
            (b'UBX01109K0120' + pdl + tail.replace(b'015', b'016'), '15'),
            (b'UBX01109K0120' + pdl + tail.replace(b'015', b'014'), '15'),
            (b'UBX01109K0120' + pdl + tail.replace(b'015', b'01A'), '15'),
            (b'UBX01109K0120' + pdl + tail[:-2] + b'05', '15'),
            (b'UBX01109K0120' + pdl + tail[:-2] + b'16', '15'),
            (b'UBX01109K0120' + pdl + tail + b'2988AE5A', '15'),
            (b'UBX21109K0120' + pdl + tail, '15'),
            (b'UBX21109K0120' + pdl + tail + b'2988AE5', '15'),
            (b'UBX21109K0120' + pdl + tail + b'2988AE5G', '15'),
            (b'UBX11109K0120' + pdl + tail + b'2988AE5A0', '15'),
            (b'UBS01109K0120' + pdl + tail, '15'),  # DES-sized IV
            (b'UBX01Q09' + b'K0120' + pdl + tail, '04'),
            (b'UBX01109Q0120' + pdl + tail, '26'),
            (b'UBX01109' + self.ref['s_x_dlk'] + b'0' + pdl + tail, '26'),
            (b'UBS01109' + self.ref['x_dlk'] + b'0' + pdl + b'0' + IV0S
             + tail[17:], '26'),
            (b'UBX01000K0000' + pdl + tail, '28'),
            (b'UBX01001K01C0' + pdl + tail, '28'),
            (b'UBX0100AK0190' + pdl + tail, '28'),
            (b'UBX01309K0150' + pdl + tail, '28'),
            (b'UBX01008K0120' + pdl + tail, '28')]), ERRS['UB'])
        self.malformed(good, trunc=('15',))
        self.malformed(b'UBX21109K0120' + pdl + tail + b'2988AE5A',
                       trunc=('15',))

    # --- KW ----------------------------------------------------------------
    PBOC = {n: f for n, f in PUBLIC}

    def kw_pboc(self, mode, key, arqc=None):
        v = self.PBOC
        y = bytes.fromhex(v['pboc.udk']['y'])
        atc = bytes.fromhex(v['pboc.sk']['atc'])
        data = bytes.fromhex(v['pboc.arqc']['data'])
        arqc = arqc or bytes.fromhex(v['pboc.arqc']['out'])
        m = b'KW%d9' % mode + key + b'0' + y + atc
        if mode in (0, 1, 3):
            m += b'%02X' % len(data) + data + b';'
        m += arqc
        if mode in (1, 2):
            m += bytes.fromhex(v['pboc.arpc1']['arc'])
        if mode in (3, 4):
            m += b'\0\0\0\0' + b'0000'
        return m

    def test_kw(self):
        v = self.PBOC
        self.assertEqual(v['pboc.udk']['imk'], h(bytes.fromhex(
            'F0C34A8124CEE0A91A0B034AA97D6EAC')).decode())
        arpc = bytes.fromhex(v['pboc.arpc1']['out'])
        for key in (b'K013', self.ref['imk']):
            self.assertEqual(self.ok(self.kw_pboc(1, key)), arpc)
            self.assertEqual(self.ok(self.kw_pboc(0, key)), b'')
            self.assertEqual(self.ok(self.kw_pboc(2, key)), arpc)
        # Scheme 2 (EMV CSK), modes 3 and 4, against V (checked against
        # emv.mk_a, emv.csk, emv.ac, emv.arpc2 of sym.txt first).
        for t in V.find(SYM, 'emv.mk_a'):
            y = (t['pan'] + (t['psn'] or '00'))[-16:].rjust(16, '0')
            self.assertEqual(h(V.emv_mk_a(bytes.fromhex(t['imk']),
                                          bytes.fromhex(y))).decode(),
                             t['out'])
        for t in V.find(SYM, 'emv.csk'):
            self.assertEqual(h(V.emv_csk(bytes.fromhex(t['mk']),
                                         bytes.fromhex(t['r']))).decode(),
                             t['out'])
        for t in V.find(SYM, 'emv.ac'):
            d = bytes.fromhex(t['data'])
            d = V.pad80(d, 8) if t['pad'] == '02' else V.pad0(d, 8)
            self.assertEqual(h(V.retail_mac(bytes.fromhex(t['sk']), d))
                             .decode(), t['out'])
        for t in V.find(SYM, 'emv.arpc2'):
            d = bytes.fromhex(t['arqc'] + t['csu'] + t.get('prop', ''))
            self.assertEqual(h(V.retail_mac(bytes.fromhex(t['sk']),
                                            V.pad80(d, 8))[:4]).decode(),
                             t['out'])
        y = bytes.fromhex('4512345678901234')
        atc = b'\x00\x07'
        sk = V.emv_csk(V.emv_mk_a(K2, y), atc + bytes(6))
        txn = b'transaction data 29 bytes....'
        arqc = V.retail_mac(sk, V.pad80(txn, 8))
        csu, prop = b'\x00\x82\x00\x00', b'\x01\x02'
        arpc2 = V.retail_mac(sk, V.pad80(arqc + csu + prop, 8))[:4]
        head = b'K01F0' + y + atc
        self.assertEqual(self.ok(b'KW32' + head + b'1D' + txn + b';' + arqc
                                 + csu + b'0002' + prop), arpc2)
        self.assertEqual(self.ok(b'KW42' + head + arqc + csu + b'0002'
                                 + prop), arpc2)
        self.err(b'KW32' + head + b'1D' + txn + b';' + bytes(8) + csu
                 + b'0002' + prop, '01')
        # Errors.
        good = self.kw_pboc(1, b'K013')
        bad_y = bytearray(good)
        bad_y[9] = 0x0A
        no_semi = good.replace(b';', b':')
        self.assertEqual(self.table([
            (self.kw_pboc(0, b'K013', b'\x5D\x01\x6C\x91\x00\x5E\x7C\xC3'),
             '01'),
            (self.kw_pboc(1, b'K017'), '02'),
            (self.kw_pboc(1, b'K018'), '02'),
            (b'KW5' + good[3:], '05'), (b'KWA' + good[3:], '05'),
            (b'KW13' + good[4:], '05'),
            (b'KW20K01F' + bytes(16) + b'0' + y + b'2' + atc + bytes(8)
             + b'00', '05'),
            (self.kw_pboc(1, self.ref['x_zak']), '10'),
            (self.kw_pboc(1, b'K0FF'), '12'),
            (bytes(bad_y), '15'), (good[:8] + b'6' + good[9:], '15'),
            (good[:19] + b'G5' + good[21:], '15'), (no_semi, '15'),
            (good + b'0', '15'), (b'KW', '15'),
            (self.kw_pboc(1, self.ref['s_x_dlk']), '26'),
            (self.kw_pboc(1, b'Q0123'), '26'),
            (self.kw_pboc(1, b'K014'), '28'),
            (good[:19] + b'00' + good[21:], '80'),
            (self.kw_pboc(4, b'K013')[:-4] + b'0009' + b'123456789', '80'),
            (b'KW21K01F' + bytes(16) + b'001' + b'\x01' + b';0' + atc
             + bytes(8) + b'00', '80'),
            (b'KW21K01F' + bytes(16) + b'012' + b'\x01' * 12 + b';0' + atc
             + bytes(8) + b'00', '80')]), ERRS['KW'])
        # mode, scheme, index hex digits, n, data length: ASCII positions
        self.malformed(good, flip=[2, 3, 5, 6, 7, 8, 19, 20])
        self.malformed(b'KW42' + head + arqc + csu + b'0002' + prop,
                       flip=[2, 3, 5, 6, 7, 8])

    # --- G1 ----------------------------------------------------------------
    def g1_keys(self, f):
        self.assertEqual(len(f), 4 * 33)
        return [f[i:i + 33] for i in range(0, 132, 33)]

    def check_session_key(self, ref, typ, key):
        """A G1 output key works as key: U1 ECB (00A) or UB MAC (008)."""
        data = b'0011223344556677'
        if typ == b'00A':
            want = V.ecb(DES, key, bytes.fromhex(data.decode()))
            self.assertEqual(self.ok(b'U1X00100A' + ref + b'000008' + data),
                             b'008' + h(want))
        else:
            want = V.pboc_mac(DES, key, bytes.fromhex(data.decode()))
            self.assertEqual(self.ok(b'UBX00008' + ref + b'00' + IV0 + b'008'
                                     + data + b'08'), h(want))

    def test_g1(self):
        consts = (b'\x01\x82', b'\x01\x01', b'\x01\x02', b'\x01\x81')
        types = (b'00A', b'008', b'008', b'00A')
        for t in V.find(SYM, 'scp02.sk'):
            self.assertEqual(t['key'], h(SCP).decode())
            self.assertEqual(h(V.scp02_sk(SCP, bytes.fromhex(t['const']),
                                          bytes.fromhex(t['seq']))).decode(),
                             t['out'])
        for seq in (b'0007', b'0000', b'00ff'):
            refs = self.g1_keys(self.ok(b'G11309K01D' + seq))
            s = bytes.fromhex(seq.decode())
            for ref, c, typ in zip(refs, consts, types):
                self.check_session_key(ref, typ, V.scp02_sk(SCP, c, s))
            # the vectors themselves, where sym.txt has them
            vs = {(t['const'], t['seq']): bytes.fromhex(t['out'])
                  for t in V.find(SYM, 'scp02.sk')}
            for ref, c, typ in zip(refs, consts, types):
                k = vs.get((h(c).decode(), seq.decode().upper()))
                if k is not None:
                    self.check_session_key(ref, typ, k)
        # flag 0: card key = derive(MK-SMC, data); MK as cryptogram; 209
        d = bytes.fromhex('1122334455667788')
        card = V.derive(DES, K2B, [d])
        for key in (b'K015', self.ref['x_smc']):
            refs = self.g1_keys(self.ok(b'G10309' + key + h(d) + b'002A'))
            for ref, c, typ in zip(refs, consts, types):
                self.check_session_key(ref, typ,
                                       V.scp02_sk(card, c, b'\x00\x2A'))
        card = V.derive(DES, K3, [d])
        refs = self.g1_keys(self.ok(b'G10309K01B' + h(d) + b'0001'))
        self.check_session_key(refs[0], b'00A',
                               V.scp02_sk(card, consts[0], b'\x00\x01'))
        refs = self.g1_keys(self.ok(b'G11209K0160001'))
        self.check_session_key(refs[1], b'008',
                               V.scp02_sk(K2, consts[1], b'\x00\x01'))
        self.assertEqual(self.table([
            (b'G11309K01B0001', '02'), (b'G11309K01E0001', '02'),
            (b'G10309K01E1122334455667788' + b'0001', '02'),
            (b'G110X9K0150001', '04'),
            (b'G12309K0150001', '05'), (b'G1X309K0150001', '05'),
            (b'G11309' + self.ref['x_zak'] + b'0001', '10'),
            (b'G11309K0FF0001', '12'),
            (b'G11309K015000G', '15'), (b'G11309K015001', '15'),
            (b'G11309K01500010', '15'), (b'G11309', '15'), (b'G1', '15'),
            (b'G10309K015112233445566770001', '15'),
            (b'G11309' + self.ref['s_x_tak'] + b'0001', '26'),
            (b'G11309Q0120001', '26'),
            (b'G11000K0000001', '28'), (b'G11509K0140001', '28'),
            (b'G11209K0150001', '28')]), ERRS['G1'])
        self.malformed(b'G11309K01D0007')
        self.malformed(b'G10309K0151122334455667788002A')

    # --- U1 ----------------------------------------------------------------
    def test_u1(self):
        c, k = bytes.fromhex(CITY.decode()), bytes.fromhex(CARD.decode())
        d16 = bytes.fromhex('00112233445566778899AABBCCDDEEFF')
        # ECB, key itself, no pad; decrypt back
        ct = V.ecb(DES, K2, d16)
        self.assertEqual(self.ok(b'U1X001509K014000016' + h(d16)),
                         b'016' + h(ct))
        self.assertEqual(self.ok(b'U1X101509K014000016' + h(ct)),
                         b'016' + h(d16))
        # CBC, two levels, pad 01 (80 00..); decrypt removes it again
        key = V.derive(DES, K2, [c, k])
        iv = bytes(range(1, 9))
        d5 = bytes.fromhex('AABBCCDDEE')
        ct = V.cbc(DES, key, iv, V.pad80(d5, 8))
        for ref in (b'K014', self.ref['x_data']):
            self.assertEqual(self.ok(b'U1X002509' + ref + b'2' + CITY + CARD
                                     + b'01' + h(iv) + b'005' + h(d5)),
                             b'008' + h(ct))
            self.assertEqual(self.ok(b'U1X102509' + ref + b'2' + CITY + CARD
                                     + b'01' + h(iv) + b'008' + h(ct)),
                             b'005' + h(d5))
        # SM4 CBC zero padding (02), 00A cryptogram, derived
        key = V.derive(SM4, K2, [c])
        iv = bytes(range(16))
        d10 = b'1234567890'
        ct = V.cbc(SM4, key, iv, V.pad0(d10, 16))
        self.assertEqual(self.ok(b'U1S00200A' + self.ref['s_zek'] + b'1'
                                 + CITY + b'02' + h(iv) + b'010' + h(d10)),
                         b'016' + h(ct))
        # Modes 2/3: MACs; 4/5 single DES under K_L; 6/7 process key
        key = V.derive(DES, K2, [c])
        d11 = bytes(range(1, 12))
        m = V.cbc_mac(DES, key[:8], V.pad80(d11, 8))
        self.assertEqual(self.ok(b'U1X201509K0141' + CITY + b'01011'
                                 + h(d11)), b'008' + h(m))
        m = V.retail_mac(key, V.pad80(d11, 8))
        self.assertEqual(self.ok(b'U1X301509K0141' + CITY + b'01011'
                                 + h(d11)), b'008' + h(m))
        ivm = bytes.fromhex('1122334400000000')
        m = V.retail_mac(K2, V.pad0(d11, 8), ivm)
        self.assertEqual(self.ok(b'U1X302008K010002' + h(ivm) + b'011'
                                 + h(d11)), b'008' + h(m))
        m = V.cbc_mac(SM4, K2, V.pad80(d11, 16))
        self.assertEqual(self.ok(b'U1S301509K014001011' + h(d11)),
                         b'016' + h(m))
        ct = V.ecb(DES, key[:8], d16)
        self.assertEqual(self.ok(b'U1X401509K0141' + CITY + b'00016'
                                 + h(d16)), b'016' + h(ct))
        self.assertEqual(self.ok(b'U1X501509K0141' + CITY + b'00016'
                                 + h(ct)), b'016' + h(d16))
        p = bytes.fromhex('1122334400018000')
        pk = V.ecb(DES, key, p)
        ct = V.ecb(DES, pk, d16)
        self.assertEqual(self.ok(b'U1X601509K0141' + CITY + h(p) + b'00016'
                                 + h(d16)), b'016' + h(ct))
        self.assertEqual(self.ok(b'U1X701509K0141' + CITY + h(p) + b'00016'
                                 + h(ct)), b'016' + h(d16))
        ct = V.ecb(SM4, V.derive(SM4, K2, [p]), d16)
        self.assertEqual(self.ok(b'U1S601509K0140' + h(p) + b'00016'
                                 + h(d16)), b'016' + h(ct))
        d8 = b'0011223344556677'
        good = b'U1X001509K014000008' + d8
        big = b'U1X001509K014001999' + b'AB' * 999
        self.assertEqual(self.table([
            (b'U1X001509K01A1' + CITY + b'00008' + d8, '02'),
            (b'U1X0010X9K014000008' + d8, '04'),
            (b'U1Z001509K014000008' + d8, '05'),
            (b'U1X801509K014000008' + d8, '05'),
            (b'U1XA01509K014000008' + d8, '05'),
            (b'U1X000509K014000008' + d8, '05'),
            (b'U1X003509K014000008' + d8, '05'),
            (b'U1S201509K014000008' + d8, '05'),
            (b'U1X001509K014003008' + d8, '05'),
            (b'U1X001509' + self.ref['x_tak'] + b'000008' + d8, '10'),
            (b'U1X001509K0FF000008' + d8, '12'),
            (b'U1S001509K01A000008' + d8, '12'),
            (b'U1X001509K0146000008' + d8, '15'),
            (b'U1X001509K014000008' + d8[:-1] + b'G', '15'),
            (b'U1X001509K014000008' + d8[:-2], '15'),
            (b'U1X001509K014000008' + d8 + b'88', '15'),
            (b'U1X001509K01400000A' + d8, '15'),
            (b'U1X101509K0140001008' + d8, '15'),
            (b'U1X002509K014000001122334455667', '15'),
            (b'U1X601509K0140112233440', '15'), (b'U1', '15'),
            (b'U1X001509' + self.ref['s_x_data'] + b'000008' + d8, '26'),
            (b'U1X001509Q0123000008' + d8, '26'),
            (b'U1X001000K000000008' + d8, '28'),
            (b'U1X001109K01F000008' + d8, '28'),
            (b'U1X001008K010000008' + d8, '28'),
            (b'U1X30100AK019000008' + d8, '28'),
            (b'U1X00100AK014000008' + d8, '28'),
            (b'U1X001509K014000007' + d8[:-2], '80'),
            (b'U1X001509K014000000', '80'),
            (b'U1X101509K014000007' + d8[:-2], '80'),
            (big, '80')]), ERRS['U1'])
        self.malformed(good)
        self.malformed(b'U1X002509K0141' + CITY + b'01' + h(iv[:8])
                       + b'005AABBCCDDEE')

    # --- U3 ----------------------------------------------------------------
    def test_u3(self):
        f1, f2 = bytes.fromhex(CITY.decode()), bytes.fromhex(CARD.decode())
        # PBOC key writing: scheme 1, protection by a key derived from
        # MK-SMC, MAC over 84D4 P1P2 Lc || ciphertext.
        ek = V.derive(DES, K2, [f1, f2])
        pk = V.derive(DES, K2B, [f2])
        ct = V.ecb(DES, pk, V.pad80(b'\x10' + ek, 8))
        ivm = bytes.fromhex('A1B2C3D400000000')
        fill = bytes.fromhex('84D401001C')
        mac = V.pboc_mac(DES, pk, fill + ct, ivm)[:8]
        req = (b'U3X11509K0142' + CITY + CARD + b'1K0151' + CARD + b'N'
               + h(ivm) + b'0005' + h(fill) + b'0005')
        self.assertEqual(self.ok(req), h(mac) + b'0024' + h(ct))
        # ciphertext in the middle of the MAC-fill (offset 2)
        mac = V.pboc_mac(DES, pk, fill[:2] + ct + fill[2:], ivm)[:8]
        self.assertEqual(self.ok(req[:-4] + b'0002'),
                         h(mac) + b'0024' + h(ct))
        # Scheme 0 under the TK (CBC, 80..), no MAC; TK as cryptogram
        tk = self.tk[(DES, 16)]
        iv = bytes(range(8))
        ct = V.cbc(DES, tk, iv, V.pad80(V.derive(DES, K2, [f1]), 8))
        for tkref in (b'K000', self.ref[('tk', DES, 16)]):
            self.assertEqual(self.ok(b'U3X00509K0141' + CITY + b'0' + tkref
                                     + b'N' + h(iv)), b'0024' + h(ct))
        # Scheme 2, SM4, process key, MAC (PBOC SM4 rule)
        ek = V.derive(SM4, K2, [f1])
        p = bytes.fromhex('0000000000000102')
        pp = V.derive(SM4, V.derive(SM4, K2B, [f1]), [p])
        fl = bytes(range(1, 17))
        ct = V.ecb(SM4, pp, ek + fl)
        mac = V.pboc_mac(SM4, pp, ct + b'\x84\xD4')[:8]
        self.assertEqual(self.ok(
            b'U3S12509K0141' + CITY + b'1K0151' + CITY + b'Y' + h(p)
            + b'0010' + h(fl) + IV0S + b'000284D40000'),
            h(mac) + b'0032' + h(ct))
        good = b'U3X00509K0140' + b'0K000N' + IV0
        self.assertEqual(self.table([
            (b'U3X00509K01A1' + CITY + b'0K000N' + IV0, '02'),
            (b'U3X0050XK0140' + b'0K000N' + IV0, '04'),
            (b'U3Z00509K0140' + b'0K000N' + IV0, '05'),
            (b'U3X20509K0140' + b'0K000N' + IV0, '05'),
            (b'U3X03509K0140' + b'0K000N' + IV0, '05'),
            (b'U3X00509K0140' + b'2K000N' + IV0, '05'),
            (b'U3X00509K0140' + b'0K000X' + IV0, '05'),
            (b'U3X00509' + self.ref['x_tak'] + b'0' + b'0K000N' + IV0, '10'),
            (b'U3X00509K0140' + b'0' + self.ref['x_zak'] + b'N' + IV0, '10'),
            (b'U3X00509K0140' + b'0K0FFN' + IV0, '12'),
            (b'U3X00509K0FF0' + b'0K000N' + IV0, '12'),
            (b'U3X00509K0140' + b'0K000N' + IV0[:-2], '15'),
            (b'U3X00509K0140' + b'0K000N' + IV0 + b'0', '15'),
            (b'U3X00509K0140' + b'0K000Y00000000', '15'),
            (b'U3X00509K0146' + b'0K000N' + IV0, '15'),
            (b'U3X02509K0140' + b'0K000N0008AABBCCDDEEFF001', '15'),
            (b'U3X11509K0140' + b'1K0150N' + IV0 + b'00024444' + b'0003',
             '15'),
            (b'U3X11509K0140' + b'1K0150N' + IV0 + b'00024444', '15'),
            (b'U3', '15'),
            (b'U3X00509' + self.ref['s_x_data'] + b'0' + b'0K000N' + IV0,
             '26'),
            (b'U3X00509Q01230' + b'0K000N' + IV0, '26'),
            (b'U3X10509K0140' + b'0K000N' + IV0 + IV0 + b'0000' + b'0000',
             '28'),
            (b'U3X00000K0000' + b'0K000N' + IV0, '28'),
            (b'U3X00008K0100' + b'0K000N' + IV0, '28'),
            (b'U3X00509K0150' + b'0K000N' + IV0, '28'),
            (b'U3X00509K0140' + b'0K015N' + IV0, '28'),
            (b'U3X00509K0140' + b'1K0000N' + IV0, '28'),
            (b'U3X02509K0140' + b'0K000N0004AABBCCDD', '80'),
            (b'U3X02509K0140' + b'0K000N0101' + b'00' * 257, '80')]),
            ERRS['U3'])
        self.malformed(good)
        self.malformed(req, trunc=('15',))

    # --- UY ----------------------------------------------------------------
    def test_uy(self):
        f1, f2 = bytes.fromhex(CITY.decode()), bytes.fromhex(CARD.decode())
        d = bytes.fromhex('00112233445566778899AABBCCDDEEFF')
        ct = V.ecb(DES, V.derive(DES, K2, [f1]), d)
        out = V.ecb(DES, K2B, d)
        self.assertEqual(self.ok(b'UYX509K0141' + CITY + b'00A'
                                 + self.ref['x_zek2'] + b'001016' + h(ct)),
                         b'016' + h(out))
        siv, div = bytes(range(16)), bytes(range(16, 32))
        d32 = d + bytes(range(1, 17))
        ct = V.cbc(SM4, V.derive(SM4, K2, [f1]), siv, d32)
        out = V.cbc(SM4, V.derive(SM4, K2, [f2, f1]), div, d32)
        self.assertEqual(self.ok(b'UYS509K0141' + CITY + b'00A'
                                 + self.ref['s_zek'] + b'2' + CARD + CITY
                                 + b'02' + h(siv) + h(div) + b'032' + h(ct)),
                         b'032' + h(out))
        # DES CBC, 00A source at an index, 509 cryptogram destination
        ct = V.cbc(DES, K2, siv[:8], d)
        out = V.cbc(DES, V.derive(DES, K2, [f2]), div[:8], d)
        self.assertEqual(self.ok(b'UYX00AK0190509' + self.ref['x_data'] + b'1'
                                 + CARD + b'02' + h(siv[:8]) + h(div[:8])
                                 + b'016' + h(ct)), b'016' + h(out))
        good = b'UYX509K0140509K014001008AABBCCDDEEFF0011'
        self.assertEqual(self.ok(good), b'008AABBCCDDEEFF0011')
        self.assertEqual(self.table([
            (b'UYX509K01A1' + CITY + b'509K014001008AABBCCDDEEFF0011', '02'),
            (b'UYX50XK0140509K014001008AABBCCDDEEFF0011', '04'),
            (b'UYZ509K0140509K014001008AABBCCDDEEFF0011', '05'),
            (b'UYX509K0140509K014003008AABBCCDDEEFF0011', '05'),
            (b'UYX509K0140509K014000008AABBCCDDEEFF0011', '05'),
            (b'UYX509' + self.ref['x_tak'] + b'0509K014001008AABBCCDDEEFF0011',
             '10'),
            (b'UYX509K0FF0509K014001008AABBCCDDEEFF0011', '12'),
            (b'UYX509K0140509K014001008AABBCCDDEEFF001122', '15'),
            (b'UYX509K0140509K014001008AABBCCDDEEFF00', '15'),
            (b'UYX509K0140509K014002008AABBCCDDEEFF0011', '15'),
            (b'UYX509K0146509K014001008AABBCCDDEEFF0011', '15'),
            (b'UY', '15'),
            (b'UYX509' + self.ref['s_x_data'] + b'0509K014001008AABBCCDDEEFF'
             b'0011', '26'),
            (b'UYX000K0000509K014001008AABBCCDDEEFF0011', '28'),
            (b'UYX509K0140008K010001008AABBCCDDEEFF0011', '28'),
            (b'UYX509K0190509K014001008AABBCCDDEEFF0011', '28'),
            (b'UYX509K0140509K014001007AABBCCDDEEFF00', '80'),
            (b'UYX509K0140509K014001000', '80')]), ERRS['UY'])
        self.malformed(good)


# ==========================================================================
# Asymmetric commands: EI EJ EH EK EP ER EW EY GM
# ==========================================================================
SM2_D = int('3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8',
            16)
MSG = b'message digest'
RNG = botan2.RandomNumberGenerator()


def sm2_xy(b):
    return int.from_bytes(b[:32], 'big'), int.from_bytes(b[32:64], 'big')


def botan_sm2_pub(xy):
    x, y = sm2_xy(xy)
    return botan2.PublicKey.load_sm2('sm2p256v1', x, y)


def botan_sm2_verify(xy, ident, msg, sig):
    """SM2 signature r || s checked by Botan (ID, SM3)."""
    key = botan_sm2_pub(xy)
    v = botan2.PKVerify(key, ident + ',SM3')
    v.update(msg)
    ok = v.check_signature(sig)
    del v, key
    return ok


def botan_sm2_sign(d, ident, msg):
    # Keep the key referenced while the operation lives: the binding
    # does not, and a collected key leaves the operation dangling.
    key = botan2.PrivateKey.load_sm2('sm2p256v1', d)
    s = botan2.PKSign(key, ident + ',SM3')
    s.update(msg.decode('ascii'))  # Botan 2.19's binding takes str here
    sig = s.finish(RNG)
    del s, key
    return sig


def botan_sm2_encrypt(xy, msg):
    """C1 || C3 || C2 by Botan."""
    key = botan_sm2_pub(xy)
    ct = botan2.PKEncrypt(key, 'SM3').encrypt(msg, RNG)
    del key
    return V.sm2_der_to_c1c3c2(ct)


def crypto_rsa_pub(der):
    n, e, _ = V.rsa_pub_parse(der)
    return rsa.RSAPublicNumbers(e, n).public_key()


def kat_xy():
    v = {n: f for n, f in PUBLIC}['sm2.pub']
    return bytes.fromhex(v['x'] + v['y']), int(v['d'], 16)


class Asym(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        t = cls()
        cls.sm2_idx = t.ei(b'EIS00256;01', True)     # SM2 index 01
        cls.rsa_idx = t.ei(b'EIR1102401;02', False)  # RSA-1024 index 02
        cls.sm2_msg = t.ei(b'EIS20256;99', True)     # blobs only
        cls.rsa_msg = t.ei(b'EIR01024', False)
        # An SM4 protection key of type 000 with a known clear value.
        f = t.ok(b'NE000S2')
        comps, ref, _ = parse_ne(f, SM4, 16, 2)
        cls.prot = V.xor(comps[0][0], comps[1][0])
        cls.prot_ref = ref
        f = t.ok(b'NE000X2')
        comps, ref, _ = parse_ne(f, DES, 16, 2)
        cls.prot_x = V.parity(V.xor(comps[0][0], comps[1][0]))
        cls.prot_x_ref = ref
        cls.rsa_local = rsa.generate_private_key(65537, 1024)

    def ei(self, req, sm2):
        """(public key, blob) of an EI answer."""
        f = self.ok(req)
        if sm2:
            pub = f[:64]
        else:
            _, _, end = V.rsa_pub_parse(f)
            pub = f[:end]
        n = int(f[len(pub):len(pub) + 4])
        self.assertEqual(len(f), len(pub) + 4 + n)
        return pub, f[len(pub) + 4:]

    def blob(self, key):
        return b'99' + lv(key[1])

    def tampered(self, key):
        b = bytearray(key[1])
        b[20] ^= 1
        return b'99' + lv(bytes(b))

    # --- EI ----------------------------------------------------------------
    def test_ei(self):
        pub, blob = self.sm2_idx
        self.assertTrue(botan_sm2_pub(pub).check_key(RNG, True))
        self.assertEqual(self.ok(b'EJS01'), pub)
        n, e, _ = V.rsa_pub_parse(self.rsa_idx[0])
        self.assertEqual((n.bit_length(), e), (1024, 65537))
        m = b'EIR3102401' + lv(b'\x03') + b';99'
        n, e, _ = V.rsa_pub_parse(self.ei(m, False)[0])
        self.assertEqual((n.bit_length(), e), (1024, 3))
        n, e, _ = V.rsa_pub_parse(self.ei(b'EIR0102401' + lv(b'\0\1\0\1')
                                          + b';99', False)[0])
        self.assertEqual(e, 65537)
        n, e, _ = V.rsa_pub_parse(self.ei(b'EIR01032', False)[0])
        self.assertEqual(n.bit_length(), 1032)
        self.assertEqual(self.table([
            (b'EIS00512', '02'), (b'EIR00512', '02'), (b'EIR0102501', '02'),
            (b'EIR0819201', '02'), (b'EIR04104', '02'),
            (b'EIX00256', '05'), (b'EIS40256', '05'), (b'EIR0102402', '05'),
            (b'EIR01024X1', '05'),
            (b'EIS00256;0', '15'), (b'EIS00256X', '15'),
            (b'EIS00256;01X', '15'), (b'EIS0025', '15'), (b'EIS0A256', '15'),
            (b'EI', '15'), (b'EIR01024010005\x01', '15'),
            (b'EIS00256;21', '21'), (b'EIS00256;00', '21'),
            (b'EIS00256;A1', '21'), (b'EIS00256;01', '21'),  # occupied
            (b'EIR0102401' + lv(b'\x01' + bytes(7) + b'\x01') + b';99', '74'),
            (b'EIR0102401' + lv(b'\x02') + b';99', '74'),
            (b'EIR0102401' + lv(b'\x01') + b';99', '74')]),
            ERRS['EI'] - {'17'})
        self.malformed(b'EIS00256;99', ok_prefixes=(8,))
        self.malformed(b'EIS00256;12', ok_prefixes=(8,), mutations=0)

    def test_ei_store_refuses_occupied_index(self):
        """protocol.md EI: a pair is stored only on a free index; an
        occupied one answers 21 and keeps its pair."""
        pub, _ = self.ei(b'EIS00256;10', True)
        self.err(b'EIS00256;10', '21')
        self.assertEqual(self.ok(b'EJS10'), pub)

    # --- EJ ----------------------------------------------------------------
    def test_ej(self):
        self.assertEqual(self.ok(b'EJS01'), self.sm2_idx[0])
        self.assertEqual(self.ok(b'EJR0201'), self.rsa_idx[0])
        self.assertEqual(self.ok(b'EJR02'), self.rsa_idx[0])
        self.assertEqual(self.ok(b'EJS' + self.blob(self.sm2_msg)),
                         self.sm2_msg[0])
        self.assertEqual(self.ok(b'EJR' + self.blob(self.rsa_msg) + b'01'),
                         self.rsa_msg[0])
        self.assertEqual(self.table([
            (b'EJQ01', '05'), (b'EJR0202', '05'),
            (b'EJS20', '12'), (b'EJR20', '12'), (b'EJS02', '12'),
            (b'EJS01X', '15'), (b'EJR0201X', '15'), (b'EJS0', '15'),
            (b'EJS990100ABCD', '15'), (b'EJ', '15'),
            (b'EJS00', '21'), (b'EJS21', '21'), (b'EJSx1', '21'),
            (b'EJS990000', '74'), (b'EJS' + self.tampered(self.sm2_msg),
                                   '74'),
            (b'EJR' + self.blob(self.sm2_msg), '74'),
            (b'EJS' + self.blob(self.rsa_msg), '74')]), ERRS['EJ'])
        self.malformed(b'EJR0201', ok_prefixes=(5,))
        blob = b'EJS' + self.blob(self.sm2_msg)
        self.malformed(blob, flip=range(3, 9))

    # --- EH ----------------------------------------------------------------
    def components(self, f, alg, key, mode, iv, pad):
        """bits, [clear components] of an EI answer to EH."""
        bits, p, out = int(f[:4]), 4, []
        while p < len(f):
            n = int(f[p:p + 4])
            c = f[p + 4:p + 4 + n]
            p += 4 + n
            c = (V.cbc(alg, key, iv, c, True) if mode
                 else V.ecb(alg, key, c, True))
            if pad:
                c = c.rstrip(b'\0')
                self.assertEqual(c[-1:], b'\x80')
                c = c[:-1]
            out.append(c)
        return bits, out

    def test_eh(self):
        pub = self.sm2_idx[0]
        f = self.ok(b'EH00000' + self.prot_ref + b'S0S0100')
        bits, (x, y, d) = self.components(f, SM4, self.prot, 0, None, 0)
        self.assertEqual((bits, x + y), (256, pub))
        k = botan2.PrivateKey.load_sm2('sm2p256v1', int.from_bytes(d, 'big'))
        kp = k.get_public_key()
        self.assertEqual((kp.get_field('public_x'), kp.get_field('public_y')),
                         sm2_xy(pub))
        # DES CBC, derived, pad 01, the pair as a blob
        fct = b'1122334455667788'
        key = V.derive(DES, self.prot_x, [bytes.fromhex(fct.decode())])
        iv = bytes.fromhex('A1A2A3A4A5A6A7A8')
        f = self.ok(b'EH01000' + self.prot_x_ref + b'X1' + fct + b'S'
                    + self.blob(self.sm2_msg) + b'01' + h(iv))
        bits, (x, y, d) = self.components(f, DES, key, 1, iv, 1)
        self.assertEqual(x + y, self.sm2_msg[0])
        # RSA under SM4 with pad 01: N E D P Q DP DQ QINV
        f = self.ok(b'EH00000' + self.prot_ref + b'S0R0201')
        bits, comps = self.components(f, SM4, self.prot, 0, None, 1)
        n, e, _ = V.rsa_pub_parse(self.rsa_idx[0])
        vals = [int.from_bytes(c, 'big') for c in comps]
        self.assertEqual(bits, 1024)
        self.assertEqual(len(comps[0]), 128)
        N, E, D, P, Q, DP, DQ, QI = vals
        self.assertEqual((N, E, P * Q), (n, e, n))
        self.assertEqual((D * E) % ((P - 1) * (Q - 1) // _gcd(P - 1, Q - 1)),
                         1)
        self.assertEqual((DP, DQ, QI * Q % P), (D % (P - 1), D % (Q - 1), 1))
        ref = self.prot_ref
        eh = b'EH00000' + ref
        tk1 = self.ok(b'NE000Z2')[-32:-16]  # single-DES key under DK
        self.assertEqual(self.table([
            (b'EH00000' + tk1 + b'X1' + fct + b'S0100', '02'),
            (b'EH000Z0' + ref + b'S0S0100', '04'),
            (b'EH02000' + ref + b'S0S0100', '05'),
            (eh + b'S0Q0100', '05'), (eh + b'S0S0102', '05'),
            (b'EH00000' + self.ref_wrong_type() + b'X0S0100', '10'),
            (eh + b'S0S2000', '12'), (b'EH00000K0FFS0S0100', '12'),
            (eh + b'S6S0100', '15'), (eh + b'S1112233445566778GS0100', '15'),
            (b'EH01000' + ref + b'S0S0100', '15'),
            (b'EH01000' + ref + b'S0S0100' + b'0' * 31 + b'G', '15'),
            (eh + b'S0S0100X', '15'), (b'EH00000K01', '15'),
            (eh + b'S0S2100', '21'),
            (eh + b'Q0S0100', '26'), (eh + b'X0S0100', '26'),
            (b'EH00003' + ref + b'S0S0100', '28'),
            (eh + b'S0S' + self.tampered(self.sm2_msg) + b'00', '74'),
            (eh + b'S0R0200', '80')]), ERRS['EH'])
        self.malformed(eh + b'S0S0100')

    def ref_wrong_type(self):
        """An X cryptogram of type 008 (does not open as 000)."""
        return self.ok(b'A00008X')[:33]

    # --- EK ----------------------------------------------------------------
    def test_ek(self):
        self.assertEqual(self.ok(b'EKS07' + lv(self.sm2_msg[1])), b'')
        self.assertEqual(self.ok(b'EJS07'), self.sm2_msg[0])
        self.assertEqual(self.ok(b'EKR08' + lv(self.rsa_msg[1])), b'')
        sig = self.ok(b'EW0601' + lv(MSG) + b';08')[4:]
        crypto_rsa_pub(self.rsa_msg[0]).verify(sig, MSG, padding.PKCS1v15(),
                                               hashes.SHA256())
        b = bytearray(self.sm2_msg[1])
        b[20] ^= 1
        self.assertEqual(self.table([
            (b'EKZ070000', '05'),
            (b'EKS070010AB', '15'), (b'EKS0', '15'), (b'EK', '15'),
            (b'EKS09' + lv(self.sm2_msg[1]) + b'X', '15'),
            (b'EKS000001A', '21'), (b'EKS990001A', '21'),
            (b'EKS210001A', '21'), (b'EKSx10001A', '21'),
            (b'EKS070000', '74'), (b'EKS09' + lv(bytes(b)), '74'),
            (b'EKR09' + lv(self.sm2_msg[1]), '74')]), ERRS['EK'])
        self.malformed(b'EKS09' + lv(self.sm2_msg[1]), flip=range(3, 9),
                       mutations=0)

    def test_ek_refuses_occupied_index(self):
        """protocol.md EK: an occupied index answers 21 and keeps its
        pair (replacing is a management-plane delete first)."""
        self.assertEqual(self.ok(b'EKS11' + lv(self.sm2_msg[1])), b'')
        self.err(b'EKS11' + lv(self.sm2_idx[1]), '21')
        self.assertEqual(self.ok(b'EJS11'), self.sm2_msg[0])

    # --- EP ----------------------------------------------------------------
    def test_ep(self):
        pt = b'encryption standard'
        ct = botan_sm2_encrypt(self.sm2_idx[0], pt)
        self.assertEqual(self.ok(b'EP07' + lv(ct) + b';01'), lv(pt))
        ct2 = botan_sm2_encrypt(self.sm2_msg[0], pt)
        self.assertEqual(self.ok(b'EP07' + lv(ct2) + b';'
                                 + self.blob(self.sm2_msg)), lv(pt))
        rk = crypto_rsa_pub(self.rsa_idx[0])
        c = rk.encrypt(b'a session key!!!', padding.PKCS1v15())
        self.assertEqual(self.ok(b'EP0101' + lv(c) + b';02'),
                         lv(b'a session key!!!'))
        rm = crypto_rsa_pub(self.rsa_msg[0])
        c = rm.encrypt(b'k' * 117, padding.PKCS1v15())
        self.assertEqual(self.ok(b'EP0101' + lv(c) + b';'
                                 + self.blob(self.rsa_msg)), lv(b'k' * 117))
        n, e, _ = V.rsa_pub_parse(self.rsa_idx[0])
        m = bytes(1) + bytes(range(1, 128))
        raw = pow(int.from_bytes(m, 'big'), e, n).to_bytes(128, 'big')
        self.assertEqual(self.ok(b'EP0100' + lv(raw) + b';02'), lv(m))
        bad = bytearray(ct)
        bad[-1] ^= 1
        notpkcs = pow(int.from_bytes(b'\0' + b'\x5A' * 127, 'big'), e,
                      n).to_bytes(128, 'big')
        self.assertEqual(self.table([
            (b'EP07' + lv(bytes(bad)) + b';01', '01'),
            (b'EP07' + lv(b'\x04' + bytes(64) + ct[65:]) + b';01', '01'),
            (b'EP0101' + lv(notpkcs) + b';02', '01'),
            (b'EP0101' + lv(b'\xff' * 128) + b';02', '01'),
            (b'EP0100' + lv(b'\xff' * 128) + b';02', '01'),
            (b'EP030003abc;01', '05'), (b'EP01020003abc;02', '05'),
            (b'EP070003abc;20', '12'),
            (b'EP070003abc01', '15'), (b'EP070010abc', '15'),
            (b'EP07' + lv(ct) + b';01X', '15'), (b'EP', '15'),
            (b'EP070003abc;25', '21'),
            (b'EP07' + lv(ct) + b';' + self.tampered(self.sm2_msg), '74'),
            (b'EP01010003abc;02', '80'), (b'EP070003abc;01', '80'),
            (b'EP07' + lv(ct[:97]) + b';01', '80')]), ERRS['EP'])
        self.malformed(b'EP07' + lv(ct) + b';01', flip=[2, 3, 4, 5, 6, 7])

    # --- ER ----------------------------------------------------------------
    def test_er(self):
        xy, d = kat_xy()
        k = botan2.PrivateKey.load_sm2('sm2p256v1', d)
        for pub in (xy, b'\x04' + xy):
            f = self.ok(b'ER070005hello;99' + pub)
            ct = f[4:]
            self.assertEqual((int(f[:4]), len(ct)), (5 + 97, 5 + 97))
            pt = botan2.PKDecrypt(k, 'SM3').decrypt(V.sm2_c1c3c2_to_der(ct))
            self.assertEqual(pt, b'hello')
        # to the stored pair: EP decrypts
        f = self.ok(b'ER070005hello;01')
        self.assertEqual(self.ok(b'EP07' + f + b';01'), lv(b'hello'))
        # RSA to a key made here: cryptography decrypts
        priv = self.rsa_local
        pn = priv.public_key().public_numbers()
        der = V.rsa_pub_der(pn.n, pn.e)
        f = self.ok(b'ER01010005hello;99' + der)
        self.assertEqual(priv.decrypt(f[4:], padding.PKCS1v15()), b'hello')
        m = b'\0' + b'\x33' * 127
        f = self.ok(b'ER0100' + lv(m) + b';99' + der)
        dn = priv.private_numbers().d
        self.assertEqual(pow(int.from_bytes(f[4:], 'big'), dn, pn.n)
                         .to_bytes(128, 'big'), m)
        f = self.ok(b'ER01010005hello;02')
        self.assertEqual(self.ok(b'EP0101' + f + b';02'), lv(b'hello'))
        self.assertEqual(self.table([
            (b'ER020003abc;01', '05'), (b'ER01050003abc;02', '05'),
            (b'ER070003abc;20', '12'),
            (b'ER0101', '15'), (b'ER070003abc01', '15'),
            (b'ER070003abc;01X', '15'), (b'ER', '15'),
            (b'ER070003abc;00', '21'),
            (b'ER070003abc;99{}', '74'), (b'ER070003abc;99' + bytes(64), '74'),
            (b'ER070003abc;99' + xy[:63], '74'),
            (b'ER070003abc;99\x05' + xy, '74'),
            (b'ER070003abc;99' + xy + b'\x00', '74'),
            (b'ER01010003abc;99' + der[:-1], '74'),
            (b'ER070000;01', '80'), (b'ER01000003abc;02', '80'),
            (b'ER0101' + lv(b'\1' * 118) + b';02', '80'),
            (b'ER0100' + lv(b'\xff' * 128) + b';02', '80'),
            (b'ER070003abc;99', '85')]), ERRS['ER'])
        self.malformed(b'ER070005hello;01', flip=[2, 3, 4, 5, 6, 7, 14, 15],
                       trunc=('15', '85', '80'))
        self.malformed(b'ER070005hello;99' + xy, flip=[2, 3], extra='74',
                       trunc=('15', '85', '74', '80'))

    # --- EW ----------------------------------------------------------------
    def test_ew(self):
        pub = self.sm2_idx[0]
        sig = self.ok(b'EW20070000' + lv(MSG) + b';01')
        self.assertEqual(sig[:4], b'0064')
        self.assertTrue(botan_sm2_verify(pub, '1234567812345678', MSG,
                                         sig[4:]))
        sig = self.ok(b'EW2007' + lv(b'ALICE123') + lv(MSG) + b';01')
        self.assertTrue(botan_sm2_verify(pub, 'ALICE123', MSG, sig[4:]))
        self.assertFalse(botan_sm2_verify(pub, '1234567812345678', MSG,
                                          sig[4:]))
        sig = self.ok(b'EW2007' + lv(b'1234567812345678') + lv(MSG) + b';'
                      + self.blob(self.sm2_msg))
        self.assertTrue(botan_sm2_verify(self.sm2_msg[0], '1234567812345678',
                                         MSG, sig[4:]))
        for hid, alg, ref, key in ((b'06', hashes.SHA256(), b'02',
                                    self.rsa_idx),
                                   (b'01', hashes.SHA1(), b'02', self.rsa_idx),
                                   (b'02', hashes.MD5(), b'02', self.rsa_idx),
                                   (b'06', hashes.SHA256(), None,
                                    self.rsa_msg)):
            f = self.ok(b'EW' + hid + b'01' + lv(MSG) + b';'
                        + (ref or self.blob(key)))
            self.assertEqual(int(f[:4]), 128)
            crypto_rsa_pub(key[0]).verify(f[4:], MSG, padding.PKCS1v15(), alg)
        self.assertEqual(self.table([
            (b'EW03010003abc;02', '05'), (b'EWXX010003abc;02', '05'),
            (b'EW06050003abc;02', '05'), (b'EW060700000003abc;01', '05'),
            (b'EW20010003abc;02', '05'),
            (b'EW06010003abc;20', '12'),
            (b'EW06010003abc02', '15'), (b'EW06010003abc;02X', '15'),
            (b'EW06010010abc', '15'), (b'EW200700', '15'),
            (b'EW200700000003abc;9900', '15'), (b'EW', '15'),
            (b'EW06010003abc;00', '21'),
            (b'EW200700000003abc;' + self.tampered(self.sm2_msg), '74'),
            (b'EW2007' + lv(b'I' * 8192) + b'0003abc;01', '80')]),
            ERRS['EW'])
        self.ok(b'EW2007' + lv(b'I' * 8191) + b'0003abc;01')
        self.malformed(b'EW2007' + lv(b'ALICE123') + lv(MSG) + b';01',
                       flip=[2, 3, 4, 5, 6, 7, 8, 9, 18, 19, 20, 21])
        self.malformed(b'EW0601' + lv(MSG) + b';02',
                       flip=[2, 3, 4, 5, 6, 7, 8, 9, 25, 26])

    # --- EY ----------------------------------------------------------------
    def ey(self, hash_alg, ident, sig, data):
        return (b'EY' + hash_alg + (lv(ident) if ident is not None else b'')
                + lv(sig) + lv(data) + b';')

    def test_ey(self):
        xy, d = kat_xy()
        sig = botan_sm2_sign(d, 'Bob', b'abc')
        self.assertEqual(self.ok(self.ey(b'2007', b'Bob', sig, b'abc') + b'99'
                                 + lv(xy)), b'')
        der = V.der_tlv(0x30, V.der_int(int.from_bytes(sig[:32], 'big'))
                        + V.der_int(int.from_bytes(sig[32:], 'big')))
        self.assertEqual(self.ok(self.ey(b'2007', b'Bob', der, b'abc') + b'99'
                                 + lv(b'\x04' + xy)), b'')
        sig0 = botan_sm2_sign(d, '1234567812345678', b'abc')
        self.assertEqual(self.ok(self.ey(b'2007', b'', sig0, b'abc') + b'99'
                                 + lv(xy)), b'')
        # EW's signature at the index, and the blob
        s = self.ok(b'EW20070000' + lv(MSG) + b';01')[4:]
        self.assertEqual(self.ok(self.ey(b'2007', b'', s, MSG) + b'01'), b'')
        s = self.ok(b'EW20070000' + lv(MSG) + b';' + self.blob(self.sm2_msg))
        self.assertEqual(self.ok(self.ey(b'2007', b'', s[4:], MSG)
                                 + self.blob(self.sm2_msg)), b'')
        # RSA: signed by cryptography, key in clear (DER)
        priv = self.rsa_local
        pn = priv.public_key().public_numbers()
        der_pub = V.rsa_pub_der(pn.n, pn.e)
        rs = priv.sign(MSG, padding.PKCS1v15(), hashes.SHA256())
        self.assertEqual(self.ok(self.ey(b'0601', None, rs, MSG) + b'99'
                                 + lv(der_pub)), b'')
        rs1 = priv.sign(MSG, padding.PKCS1v15(), hashes.SHA1())
        self.assertEqual(self.ok(self.ey(b'0101', None, rs1, MSG) + b'99'
                                 + lv(der_pub)), b'')
        bad = bytearray(sig)
        bad[10] ^= 1
        kp = b'99' + lv(xy)
        self.assertEqual(self.table([
            (self.ey(b'2007', b'Bob', bytes(bad), b'abc') + kp, '01'),
            (self.ey(b'2007', b'Bon', sig, b'abc') + kp, '01'),
            (self.ey(b'2007', b'Bob', sig, b'abd') + kp, '01'),
            (self.ey(b'2007', b'Bob', b'0\x03\x02\x01\x01', b'abc') + kp,
             '01'),
            (self.ey(b'0101', None, rs, MSG) + b'99' + lv(der_pub), '01'),
            (self.ey(b'0601', None, rs[:-1], MSG) + b'99' + lv(der_pub),
             '01'),
            (b'EY090100010003abc;02', '05'),
            (b'EY0107000000010003abc;01', '05'),
            (b'EY06010001X0003abc;20', '12'),
            (b'EY06010001X0003abc02', '15'),
            (b'EY06010001X0003abc;02X', '15'),
            (b'EY06010001X0010abc;02', '15'), (b'EY', '15'),
            (b'EY06010001X0003abc;21', '21'),
            (self.ey(b'2007', b'', sig, b'abc') + b'99' + lv(bytes(64)),
             '74'),
            (self.ey(b'2007', b'', sig, b'abc') + self.tampered(self.sm2_msg),
             '74'),
            (self.ey(b'2007', b'', sig, b'abc') + b'990000', '74'),
            (self.ey(b'2007', b'I' * 8192, sig, b'abc') + kp, '80')]),
            ERRS['EY'])
        self.malformed(self.ey(b'2007', b'Bob', sig, b'abc') + kp,
                       flip=[2, 3, 4, 5, 6, 7, 8, 9])

    def test_lengths(self):
        """Length fields promising more than follows; the largest
        values the fields allow."""
        self.table([
            (b'GM0699999abc', '15'), (b'GM069999', '15'),
            (b'EW06019999abc;02', '15'), (b'EW20079999', '15'),
            (b'EKS079999AB', '15'), (b'EJS999999AB', '15'),
            (b'EP079999abc;01', '15'), (b'ER079999abc;01', '15'),
            (b'EY06010001X9999abc;02', '15'), (b'EY06019999X', '15'),
            (b'EIR01024019999', '15')])
        xy = self.sm2_idx[0]
        f = self.ok(b'ER07' + lv(b'm' * 9902) + b';01')
        self.assertEqual(f[:4], b'9999')
        self.assertEqual(self.ok(b'EP07' + f + b';01'), lv(b'm' * 9902))
        self.err(b'ER07' + lv(b'm' * 9903) + b';01', '80')
        self.err(b'ER07' + lv(b'm' * 9903) + b';99' + xy, '80')
        d = b'z' * 30000
        self.assertEqual(self.ok(b'GM06' + lv(d, 5)), hashlib.sha256(d)
                         .digest())
        sig = self.ok(b'EW2007' + lv(b'I' * 8191) + lv(d[:9999]) + b';01')
        self.assertTrue(botan_sm2_verify(xy, 'I' * 8191, d[:9999], sig[4:]))

    # --- GM ----------------------------------------------------------------
    def test_gm(self):
        n = 0
        za = None
        for name, v in PUBLIC:
            if name == 'sm3':
                data = bytes.fromhex(v['data'])
                self.assertEqual(self.ok(b'GM20' + lv(data, 5)),
                                 bytes.fromhex(v['out']))
                n += 1
            elif name == 'sm2.za':
                za = v
            elif name == 'sm2.e':
                self.assertEqual(v['za'], za['out'])
                xy = bytes.fromhex(za['x'] + za['y'])
                for pub in (xy, b'\x04' + xy):
                    self.assertEqual(
                        self.ok(b'GM20' + lv(bytes.fromhex(v['msg']), 5)
                                + lv(bytes.fromhex(za['id'])) + lv(pub)),
                        bytes.fromhex(v['out']))
                # an empty ID is the default (the vector's ID)
                self.assertEqual(bytes.fromhex(za['id']), b'1234567812345678')
                self.assertEqual(
                    self.ok(b'GM20' + lv(bytes.fromhex(v['msg']), 5)
                            + b'0000' + lv(xy)), bytes.fromhex(v['out']))
                n += 1
        self.assertGreaterEqual(n, 3)
        data = bytes(random.Random(7).getrandbits(8) for _ in range(3000))
        for hid, fn in ((b'01', hashlib.sha1), (b'02', hashlib.md5),
                        (b'06', hashlib.sha256)):
            for d in (b'', b'abc', data):
                self.assertEqual(self.ok(b'GM' + hid + lv(d, 5)),
                                 fn(d).digest())
        xy = bytes.fromhex(za['x'] + za['y'])
        self.assertEqual(self.table([
            (b'GM0300003abc', '05'), (b'GMAB00003abc', '05'),
            (b'GM0600010abc', '15'), (b'GM060003abc', '15'),
            (b'GM0100003abcX', '15'), (b'GM2000003abc0016', '15'),
            (b'GM2000003abc00000001', '15'), (b'GM', '15'),
            (b'GM2000003abc0000' + lv(xy) + b'X', '15'),
            (b'GM2000003abc00000002AB', '74'),
            (b'GM2000003abc0000' + lv(bytes(64)), '74'),
            (b'GM2000003abc0000' + lv(b'\x05' + xy), '74'),
            (b'GM2000003abc0000' + lv(xy[:63]), '74'),
            (b'GM2000003abc' + lv(b'I' * 8192) + lv(xy), '80'),
            (b'GM2000003abc00000000', '85')]), ERRS['GM'])
        self.malformed(b'GM0600003abc', flip=[2, 3, 4, 5, 6, 7, 8])
        self.malformed(b'GM2000003abc0000' + lv(xy), ok_prefixes=(12,),
                       flip=[2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15])


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


# ==========================================================================
# The dispatcher's 17 for EI/EK and frame-level garbage
# ==========================================================================
class NotAuthorised(Base):
    authorised = False

    def test_key_management_refused(self):
        # EI generates (a business command) but stores only authorised.
        self.err(b'EIS00256;05', '17')
        self.assertEqual(len(self.ok(b'EIS00256;99')), 64 + 4 + 81)
        for req, rsp in ((b'EKS050000', b'EL'), (b'A00008X', b'A1'),
                         (b'A6T008K000X' + b'0' * 32 + b'X', b'A7'),
                         (b'A8T008K000K010X', b'A9'), (b'NE000X2', b'NF')):
            self.assertEqual(self.send(req), rsp + b'17', req)
        # Business commands run: an empty index is 12, not 17.
        self.err(b'BU008K010', '12')
        self.err(b'EJS05', '12')


class Frames(Base):
    """Frame-level garbage on one connection; NC still answered after
    every batch (tearDown and inline)."""

    def answers(self, n):
        return [read_frame(self.sock) for _ in range(n)]

    def test_len_zero_and_short(self):
        self.sock.sendall(b'\0\0' + frame(b'1234') + frame(HDR + b'N'))
        for a in self.answers(3):
            self.assertEqual(a[-2:], b'51', a)
        self.nc()

    def test_huge_len(self):
        for body in (HDR + b'UB' + b'9' * 65525, HDR + b'NC' + b'\0' * 40000,
                     b'\xff' * 65535):
            self.sock.sendall(frame(body))
            a = read_frame(self.sock)
            self.assertEqual(a[-2:], b'51', a[:20])
            self.assertLessEqual(len(a), 12)
            self.nc()

    def test_unknown_and_unprintable_commands(self):
        self.assertEqual(self.send(b'ZZ'), b'Z[60')
        self.assertEqual(self.send(b'QQ12345'), b'QR60')
        for cmd in (b'\0\0', b'\x19\x19', b'N\n'):
            self.sock.sendall(frame(HDR + cmd))
            a = read_frame(self.sock)
            self.assertEqual(a[-2:], b'15', a)
        self.nc()

    def test_random_frames(self):
        rnd = random.Random(20240601)
        cmds = list(ERRS) + ['ZZ']
        for _ in range(300):
            cmd = rnd.choice(cmds).encode()
            body = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(80)))
            self.sock.sendall(frame(HDR + cmd + body))
            a = read_frame(self.sock)
            self.assertEqual(a[:8], HDR)
            self.assertRegex(a[10:12], rb'^(\d\d)$', (cmd, body, a))
        self.nc()

    def test_random_byte_stream(self):
        """Random bytes, completed to a whole number of frames: one answer
        per frame the daemon sees, then NC on the same connection."""
        rnd = random.Random(4242)
        for _ in range(20):
            data = bytearray(rnd.getrandbits(8)
                             for _ in range(rnd.randrange(1, 600)))
            pos, frames = 0, 0
            while pos < len(data):
                if pos + 2 > len(data):
                    data.append(0)
                (n,) = struct.unpack('>H', data[pos:pos + 2])
                end = pos + 2 + n
                if end > len(data):
                    data += bytes(rnd.getrandbits(8)
                                  for _ in range(end - len(data)))
                pos, frames = end, frames + 1
            self.sock.sendall(bytes(data))
            for a in self.answers(frames):
                self.assertRegex(a[-2:], rb'^\d\d$')
            self.nc()

    def test_pipelined_valid_and_garbage(self):
        reqs = [HDR + b'NC', b'\0', HDR + b'TE0008', HDR + b'ZZ', HDR,
                HDR + b'GM0600003abc', HDR + b'BU0']
        self.sock.sendall(b''.join(frame(r) for r in reqs))
        got = self.answers(len(reqs))
        self.assertEqual(got[0][8:12], b'ND00')
        self.assertEqual(got[1][-2:], b'51')
        self.assertEqual(got[2][8:12], b'TF00')
        self.assertEqual(got[3][8:], b'Z[60')
        self.assertEqual(got[4][-2:], b'51')
        self.assertEqual(got[5][8:], b'GN00' + hashlib.sha256(b'abc')
                         .digest())
        self.assertEqual(got[6][8:], b'BV15')


if __name__ == '__main__':
    unittest.main(verbosity=2)
