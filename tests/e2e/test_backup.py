"""test_backup - key-library backup and restore over the management port
(docs/backup.md; spec 加密机备份 / 加密机恢复): HSM 1 gets keys by host
commands, its security administrator C writes a backup of each library
with `tkms hsm backup create`, a new HSM with the same DK (the development
components) restores them with `tkms hsm backup restore`, and both answer
the same: keys.list shows the same KCVs, MACs with a restored key agree.
Tampered, truncated and foreign files are refused with a clear message
and change nothing; --out never overwrites a file.

Run by ctest with TKMS_BUILD set.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import Hsm  # noqa: E402

LIBS = ('des', 'sm4', 'rsa', 'sm2')
DATA = b'0011223344556677'
IV0 = b'0' * 16
MAC_TAIL = b'00' + IV0 + b'008' + DATA + b'08'
ALTERED = 'the file was altered or truncated: nothing restored'


def ok(answer, rsp):
    """Fields of a successful host-command answer."""
    assert answer[:4] == rsp + b'00', answer
    return answer[4:]


class Admins:
    """Cards and passwords for A1-A3 and C on one HSM, C logged in on the
    console's session."""

    def __init__(self, hsm):
        self.hsm = hsm
        d = hsm.tmp
        self.pin = os.path.join(d, 'pin')
        self.pw = os.path.join(d, 'pw')
        for path, text in ((self.pin, '123456'), (self.pw, 'admin-pass-1')):
            with open(path, 'w') as f:
                f.write(text + '\n')
        self.cards = {}
        for role in ('A1', 'A2', 'A3', 'C'):
            card = os.path.join(d, role + '.card')
            p = hsm.tkms('hsm', 'card', 'new', '--role', role, '--out', card,
                         '--pin-file', self.pin)
            assert p.returncode == 0, p.stderr
            self.cards[role] = card
        # initialisation: A1-A3 enrol themselves; C needs the three
        for role in ('A1', 'A2', 'A3'):
            self.ok('enrol', '--role', role, '--card', self.cards[role])
        for role in ('A1', 'A2', 'A3'):
            self.ok('login', '--role', role, '--card', self.cards[role])
        self.ok('enrol', '--role', 'C', '--card', self.cards['C'])
        self.ok('login', '--role', 'C', '--card', self.cards['C'])

    def run(self, *args):
        if args[0] in ('enrol', 'login'):
            args += ('--pin-file', self.pin, '--password-file', self.pw)
        return self.hsm.console(*args)

    def ok(self, *args):
        p = self.run(*args)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        try:
            return json.loads(p.stdout)
        except ValueError:
            return p.stdout

    def keys(self, lib=None):
        """keys.list as {(lib, ref): (type, kcv_full, label, usage)}."""
        args = ('keys', 'list') + (('--lib', lib) if lib else ())
        r = self.ok(*args)
        return {(k['lib'], k['ref']): (k['type'], k['kcv_full'], k['label'],
                                       k['usage'])
                for k in r['keys']}


class Backup(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        cls.h1 = Hsm(authorised=True, workers=2)
        cls.h2 = Hsm(authorised=True, workers=2)
        cls.h1.start()
        cls.h2.start()
        cls.a1 = Admins(cls.h1)
        cls.a2 = Admins(cls.h2)
        # keys made by host commands, as the KMS makes them
        h = cls.h1
        cls.des_kcv = ok(h.cmd(b'A02109XK010'), b'A1')[33:]
        ok(h.cmd(b'A02008XK0FF'), b'A1')
        ok(h.cmd(b'A02509SK030'), b'A1')
        ok(h.cmd(b'EIS00256;01'), b'EJ')
        ok(h.cmd(b'EIS20256;20'), b'EJ')
        ok(h.cmd(b'EIR1102401;02'), b'EJ')
        cls.out = os.path.join(cls.h1.tmp, 'bak')
        os.mkdir(cls.out)

    @classmethod
    def tearDownClass(cls):
        cls.h1.stop()
        cls.h2.stop()

    def path(self, name):
        return os.path.join(self.out, name)

    def create(self, lib, name=None):
        f = self.path(name or lib + '.bak')
        r = self.a1.ok('backup', 'create', '--lib', lib, '--out', f)
        self.assertEqual(r['lib'], lib)
        self.assertNotIn('file', r)  # written to --out, not printed
        self.assertEqual(r['dk_kcv'], 'C8FABC567BA0A5C6')
        self.assertEqual(len(r['serial']), 16)
        self.assertEqual(os.stat(f).st_mode & 0o777, 0o600)
        return f, r

    def test_1_round_trip(self):
        want = {'des': 2, 'sm4': 1, 'rsa': 1, 'sm2': 2}
        files = {}
        for lib in LIBS:
            f, r = self.create(lib)
            self.assertEqual(r['count'], want[lib])
            files[lib] = f
            with open(f, 'rb') as fh:
                self.assertEqual(fh.read(8), b'TKMSLIB\0')
        serial = r['serial']
        self.assertEqual(serial, self.a1.ok('status')['serial'])
        self.assertNotEqual(serial, self.a2.ok('status')['serial'])
        for lib in LIBS:
            r = self.a2.ok('backup', 'restore', '--in', files[lib])
            self.assertEqual(r['lib'], lib)
            self.assertEqual(r['serial'], serial)  # of HSM 1
            self.assertEqual(r['count'], want[lib])
            self.assertEqual(len(r['keys']), want[lib])
            self.assertEqual(self.a2.keys(lib), self.a1.keys(lib))
        self.assertEqual(self.a2.keys(), self.a1.keys())
        # the restored keys serve host commands with the same answers
        self.assertEqual(ok(self.h2.cmd(b'BU109K010'), b'BV'), self.des_kcv)
        mac1 = ok(self.h1.cmd(b'UBX00109K010' + MAC_TAIL), b'UC')
        mac2 = ok(self.h2.cmd(b'UBX00109K010' + MAC_TAIL), b'UC')
        self.assertEqual(len(mac1), 16)
        self.assertEqual(mac1, mac2)
        self.assertEqual(ok(self.h2.cmd(b'BU008K0FF'), b'BV'),
                         ok(self.h1.cmd(b'BU008K0FF'), b'BV'))
        # SM2: what HSM 2 signs with 01, HSM 1 verifies with its 01
        msg = b'0014message digest'
        sig = ok(self.h2.cmd(b'EW20070000' + msg + b';01'), b'EX')
        self.assertEqual(sig[:4], b'0064')
        self.assertEqual(
            self.h1.cmd(b'EY2007' + b'0000' + b'0064' + sig[4:] + msg
                        + b';01')[:4], b'EZ00')

    def test_2_refusals(self):
        f, _ = self.create('sm4', 'sm4-2.bak')
        with open(f, 'rb') as fh:
            data = fh.read()
        before = self.a2.keys()
        cases = {
            'tampered.bak': data[:80] + bytes([data[80] ^ 1]) + data[81:],
            'tag.bak': data[:-1] + bytes([data[-1] ^ 0x80]),
            'truncated.bak': data[:-5],
            'extended.bak': data + b'\0',
        }
        for name, blob in cases.items():
            p = self.path(name)
            with open(p, 'wb') as fh:
                fh.write(blob)
            r = self.a2.run('backup', 'restore', '--in', p, '--replace')
            self.assertEqual(r.returncode, 1, (name, r.stdout))
            self.assertIn(ALTERED.encode(), r.stderr, name)
            self.assertEqual(self.a2.keys(), before, name)
        # not a backup at all
        p = self.path('dk.bak')
        with open(p, 'wb') as fh:
            fh.write(b'TKMSDKB1' + b'\0' * 296)
        r = self.a2.run('backup', 'restore', '--in', p, '--replace')
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'not a tkms key-library backup', r.stderr)
        # a library that holds keys needs --replace
        r = self.a2.run('backup', 'restore', '--in', f)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'(21)', r.stderr)
        self.assertIn(b'restore with --replace', r.stderr)
        self.assertEqual(self.a2.keys(), before)
        # with it, the library is replaced and other libraries stay
        r = self.a2.ok('backup', 'restore', '--in', f, '--replace')
        self.assertEqual(r['count'], 1)
        self.assertEqual(self.a2.keys(), before)
        # --out never overwrites
        r = self.a1.run('backup', 'create', '--lib', 'des', '--out', f)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b'exists: not replaced', r.stderr)
        with open(f, 'rb') as fh:
            self.assertEqual(fh.read(), data)
        # only C
        r = self.h1.tkms('hsm', 'backup', 'create', '--lib', 'des', '--out',
                         self.path('x.bak'), '--host', self.h1.manage[0],
                         '--port', str(self.h1.manage_port), '--session',
                         os.path.join(self.h1.tmp, 'none'))
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'(29)', r.stderr)
        self.assertFalse(os.path.exists(self.path('x.bak')))

    def test_3_other_dk(self):
        """A backup of an HSM with another DK is refused by name."""
        f = self.path('other-dk.bak')
        # sealed=True: no default components, only these
        with Hsm(authorised=True, workers=1, sealed=True,
                 extra_args=['--dev-components',
                             ','.join(['00' * 15 + '01', '00' * 15 + '02',
                                       '00' * 15 + '04'])]) as h3:
            a3 = Admins(h3)
            ok(h3.cmd(b'A02008XK001'), b'A1')
            r = a3.ok('backup', 'create', '--lib', 'des', '--out', f)
            self.assertNotEqual(r['dk_kcv'], 'C8FABC567BA0A5C6')
        before = self.a2.keys()
        r = self.a2.run('backup', 'restore', '--in', f, '--replace')
        self.assertEqual(r.returncode, 1)
        self.assertIn(b'(13)', r.stderr)
        self.assertIn(b'made under another device key', r.stderr)
        self.assertIn(b'this HSM has C8FABC567BA0A5C6', r.stderr)
        self.assertEqual(self.a2.keys(), before)


if __name__ == '__main__':
    unittest.main()
