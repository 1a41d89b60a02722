"""test_secrets - no plaintext key on disk (issue #9, docs/security.md).

An HSM with the development DK components gets keys whose clear value the
test knows without the HSM telling it in a file:
  - NE: keys generated as components (the ceremony print-out): the key is
    their XOR (docs/protocol.md NE);
  - A0 mode 1 under a TK the test knows: decrypting the key under TK gives
    the key, which A6 then stores;
  - A8: a key derived by a city factor, exported under the TK;
  - EI then EH: SM2 and RSA private keys exported under a known TK.
It uses them (MACs), writes backups of every library, signs an audit
checkpoint, exports the audit, is SIGKILLed while its write-ahead logs are
still full, restarts and stops cleanly. Then every byte of every file the
HSM, the console and this test's run left under the HSM's directory - key
store, WAL and shared-memory files, audit log and checkpoints, backups,
stderr logs, the audit export - is searched for each secret (DK, its three
components, every key above, halves of the symmetric keys, windows of the
private keys), raw, in hex of either case and in base64 at all three
alignments. One hit fails the test. A control file holding each secret in
each encoding must be found, so that the scanner itself can fail.

Run by ctest with TKMS_BUILD set.
"""
import base64
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import C1, C2, C3, Hsm  # noqa: E402
import vectors as v  # noqa: E402
from test_backup import Admins  # noqa: E402

CITY = bytes.fromhex('5810FF0000000000')  # Guangzhou, CJ/T 333 §3.14
MAC_TAIL = b'00' + b'0' * 16 + b'008' + b'0011223344556677' + b'08'


def ok(answer, rsp):
    assert answer[:4] == rsp + b'00', answer
    return answer[4:]


def needles(secret):
    """The encodings of secret a careless program would write."""
    out = {'raw': secret, 'HEX': secret.hex().upper().encode(),
           'hex': secret.hex().encode()}
    # base64 of secret at each alignment: drop the characters that
    # depend on the bytes around it.
    for lead in range(3):
        b = base64.b64encode(bytes(lead) + secret)
        skip = (lead * 8 + 5) // 6 if lead else 0
        tail = (len(secret) + lead) % 3
        end = len(b) - (4 if tail else 0)
        out['b64+%d' % lead] = b[skip:end]
    return out


def secret_parts(name, secret):
    """(label, bytes) of secret and of the parts worth finding alone:
    halves of a 16-byte key, 16-byte windows of longer ones."""
    parts = [(name, secret)]
    if len(secret) == 16:
        parts += [(name + '[:8]', secret[:8]), (name + '[8:]', secret[8:])]
    elif len(secret) > 16:
        for i in range(0, len(secret) - 15, 16):
            parts.append(('%s[%d:%d]' % (name, i, i + 16), secret[i:i + 16]))
    return parts


def scan(root, secrets):
    """[(path, label, encoding)] of every needle found in a file under
    root."""
    hits = []
    for d, _, files in os.walk(root):
        for fn in files:
            path = os.path.join(d, fn)
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            with open(path, 'rb') as f:
                data = f.read()
            for name, secret in secrets:
                for label, part in secret_parts(name, secret):
                    for enc, n in needles(part).items():
                        if len(n) >= 8 and n in data:
                            hits.append((path, label, enc))
    return hits


def components(answer, parts, hexlen):
    """Components of an NE answer."""
    out, pos = [], 0
    for _ in range(parts):
        out.append(bytes.fromhex(answer[pos:pos + hexlen].decode()))
        pos += hexlen + 16  # component, its KCV
    return out


def eh_components(answer, alg, tk):
    """Clear components of an EH answer (ECB under tk, pad 80 00..)."""
    body, out = answer[4:], []  # after bits 4N
    while body:
        n = int(body[:4])
        clear = v.ecb(alg, tk, body[4:4 + n], decrypt=True)
        out.append(clear[:clear.rindex(b'\x80')])
        body = body[4 + n:]
    return out


class Secrets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        cls.h = Hsm(authorised=True, workers=2)
        cls.h.start()
        cls.admins = a = Admins(cls.h)
        # the audit administrator D, for the checkpoint and the export
        card = os.path.join(cls.h.tmp, 'D.card')
        p = cls.h.tkms('hsm', 'card', 'new', '--role', 'D', '--out', card,
                       '--pin-file', a.pin)
        assert p.returncode == 0, p.stderr
        a.ok('enrol', '--role', 'D', '--card', card)
        a.ok('login', '--role', 'D', '--card', card)
        cls.secrets = []

    @classmethod
    def tearDownClass(cls):
        cls.h.stop(check=False)
        shutil.rmtree(cls.h.tmp, ignore_errors=True)

    def keep(self, name, secret):
        self.secrets.append((name, secret))

    def make_keys(self):
        h = self.h
        dk = v.xor(v.xor(bytes.fromhex(C1), bytes.fromhex(C2)),
                   bytes.fromhex(C3))
        for i, c in enumerate((C1, C2, C3)):
            self.keep('DK component %d' % (i + 1), bytes.fromhex(c))
        self.keep('DK', dk)
        # TKs from components: SM4 at K001, double DES at K002.
        r = ok(h.cmd(b'NE000S2K001'), b'NF')
        c = components(r, 2, 32)
        sm4_tk = v.xor(c[0], c[1])
        self.assertEqual(r[-16:].decode(), v.kcv(v.SM4, sm4_tk).hex().upper())
        r = ok(h.cmd(b'NE000X2K002'), b'NF')
        c = components(r, 2, 32)
        des_tk = v.parity(v.xor(c[0], c[1]))
        self.assertEqual(r[-16:].decode(), v.kcv(v.DES, des_tk).hex().upper())
        self.keep('SM4 TK', sm4_tk)
        self.keep('DES TK', des_tk)
        r = ok(h.cmd(b'NE109X3K010'), b'NF')
        c = components(r, 3, 32)
        self.keep('MK-AC (NE)', v.parity(v.xor(v.xor(c[0], c[1]), c[2])))
        # Generated keys learnt through the TKs, then stored by A6.
        r = ok(h.cmd(b'A01109XK002X'), b'A1')
        under_tk = r[33:66]
        mk = v.ecb(v.DES, des_tk, bytes.fromhex(under_tk[1:].decode()), True)
        ok(h.cmd(b'A6T109K002' + under_tk + b'XK020'), b'A7')
        self.assertEqual(ok(h.cmd(b'BU109K020'), b'BV').decode(),
                         v.kcv(v.DES, mk).hex().upper())
        self.keep('MK-AC (A0)', mk)
        r = ok(h.cmd(b'A01209SK001S'), b'A1')
        under_tk = r[33:66]
        smi = v.ecb(v.SM4, sm4_tk, bytes.fromhex(under_tk[1:].decode()), True)
        ok(h.cmd(b'A6T209K001' + under_tk + b'SK021'), b'A7')
        self.keep('MK-SMI (A0)', smi)
        # A city key derived from the stored MK-AC, exported under the TK.
        r = ok(h.cmd(b'A8T109K002K0201' + CITY.hex().upper().encode()
                     + b'X'), b'A9')
        city = v.ecb(v.DES, des_tk, bytes.fromhex(r[1:33].decode()), True)
        self.assertEqual(city, v.parity(v.derive(v.DES, mk, [CITY])))
        self.keep('MK-AC city', city)
        # Key pairs stored at 01 (SM2) and 02 (RSA); private parts via EH.
        ok(h.cmd(b'EIS00256;01'), b'EJ')
        ok(h.cmd(b'EIR1102401;02'), b'EJ')
        x, y, d = eh_components(
            ok(h.cmd(b'EH00000K001S0S0101'), b'EI'), v.SM4, sm4_tk)
        self.assertEqual(len(d), 32)
        self.keep('SM2 d', d)
        rsa = eh_components(ok(h.cmd(b'EH00000K001S0R0201'), b'EI'),
                            v.SM4, sm4_tk)
        for label, comp in zip(('D', 'P', 'Q', 'DP', 'DQ', 'QINV'), rsa[2:]):
            self.keep('RSA ' + label, comp)
        # Use them, so that logs and audit have something to say.
        for ref in (b'K010', b'K020'):
            ok(h.cmd(b'UBX00109' + ref + MAC_TAIL), b'UC')

    def test_no_plaintext_key_on_disk(self):
        h, a = self.h, self.admins
        self.make_keys()
        out = os.path.join(h.tmp, 'out')
        os.mkdir(out)
        for lib in ('des', 'sm4', 'rsa', 'sm2'):
            a.ok('backup', 'create', '--lib', lib,
                 '--out', os.path.join(out, lib + '.bak'))
        a.ok('audit', 'checkpoint', '--out', os.path.join(out, 'audit.cp'))
        p = a.run('audit', 'export')
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, 'audit.export'), 'wb') as f:
            f.write(p.stdout)
        # A crash leaves the write-ahead logs as they were.
        h.kill()
        wal = [f for f in os.listdir(h.dir) if f.endswith('-wal')]
        self.assertTrue(wal, os.listdir(h.dir))
        self.assert_clean('after SIGKILL')
        h.start()
        ok(h.cmd(b'UBX00109K020' + MAC_TAIL), b'UC')
        h.stop()
        self.assert_clean('after a clean stop')
        self.assertGreaterEqual(len(self.secrets), 15)

    def assert_clean(self, when):
        names = sorted(os.path.relpath(os.path.join(d, f), self.h.tmp)
                       for d, _, fs in os.walk(self.h.tmp) for f in fs)
        for must in ('hsm/keys.db', 'hsm/audit.db', 'out/des.bak',
                     'out/sm2.bak', 'out/audit.export', 'stderr.1'):
            self.assertIn(must, names)
        self.assertEqual(scan(self.h.tmp, self.secrets), [],
                         'plaintext key material %s' % when)
        self.control()

    def control(self):
        """The scanner finds each secret in each encoding."""
        d = tempfile.mkdtemp(prefix='tkms-secrets-control-')
        try:
            for i, (name, secret) in enumerate(self.secrets):
                for enc, n in needles(secret).items():
                    with open(os.path.join(d, 'f'), 'wb') as f:
                        f.write(os.urandom(37) + base64.b64encode(
                            bytes(i % 3) + secret) + b'|' + n + b'\n')
                    hits = scan(d, [(name, secret)])
                    self.assertIn((os.path.join(d, 'f'), name, enc), hits)
        finally:
            shutil.rmtree(d)


if __name__ == '__main__':
    unittest.main()
