"""test_zeroise - zeroise against a real tkms-hsmd and the `tkms hsm`
console (docs/zeroise.md): an HSM initialised with a real ceremony (cards,
A1-A3 on one session, DK from components), keys made and used on every
worker, then `tkms hsm zeroise --confirm SERIAL`: sealed at once for every
worker, no key left in keys.db, no DK file left, no enrolment left, the
serial kept, the old audit log archived; and a second initialisation with
another DK in the same process. A wrong confirmation destroys nothing.
"""
import json
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import C1, C2, C3, Hsm, frame, read_frame  # noqa: E402

ROLES = ('A1', 'A2', 'A3')
NEW = ('00112233445566778899AABBCCDDEEFF',
       'FFEEDDCCBBAA99887766554433221100',
       '0F1E2D3C4B5A69788796A5B4C3D2E1F0')
HDR = b'12345678'
EW01 = b'EW20070000' + b'0014message digest' + b';01'
DK_FILES = ('dk.backup', 'dk.sealed', 'machine.key')


class Zeroise(unittest.TestCase):
    def setUp(self):
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        # --dev-authorised: EI stores key pairs only in the authorised state
        self.hsm = Hsm(workers=2, sealed=True, authorised=True)
        self.hsm.start()
        self.files = {}
        d = self.hsm.tmp
        for name, text in (('pin', '123456'), ('pw', 'admin-pass-1')):
            self.write(name, text)
        for i, c in enumerate((C1, C2, C3), 1):
            self.write('c%d' % i, c)
            self.write('n%d' % i, NEW[i - 1])
            self.write('p%d' % i, 'component-pw-%d' % i)
        for role in ROLES:
            card = os.path.join(d, role + '.card')
            p = self.hsm.tkms('hsm', 'card', 'new', '--role', role, '--out',
                              card, '--pin-file', self.files['pin'])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.files[role] = card

    def tearDown(self):
        self.hsm.stop()

    def write(self, name, text):
        path = os.path.join(self.hsm.tmp, name)
        with open(path, 'w') as f:
            f.write(text + '\n')
        self.files[name] = path

    def ok(self, *args):
        if args[0] in ('enrol', 'login'):
            args += ('--pin-file', self.files['pin'], '--password-file',
                     self.files['pw'])
        p = self.hsm.console(*args)
        self.assertEqual(p.returncode, 0, (args, p.stdout, p.stderr))
        try:
            return json.loads(p.stdout)
        except ValueError:
            return p.stdout  # login and enrol print text

    def status(self):
        return self.ok('status')

    def initialise(self, comp):
        """Enrol A1-A3 (no login needed while none is), log them in on
        one session, make DK from the component files comp1..comp3."""
        for role in ROLES:
            self.ok('enrol', '--role', role, '--card', self.files[role])
        for role in ROLES:
            self.ok('login', '--role', role, '--card', self.files[role])
        for i, role in enumerate(ROLES, 1):
            self.ok('dk', 'component', '--role', role, '--component-file',
                    self.files['%s%d' % (comp, i)],
                    '--component-password-file', self.files['p%d' % i])
        return self.ok('dk', 'combine')['kcv16']

    def on_every_worker(self, payload, n=8):
        """payload on n new connections (the kernel spreads them over
        the workers); the answers."""
        out = []
        for _ in range(n):
            s = self.hsm.connect()
            try:
                s.sendall(frame(HDR + payload))
                out.append(read_frame(s)[len(HDR):])
            finally:
                s.close()
        return out

    def blobs(self):
        db = sqlite3.connect('file:%s?mode=ro'
                             % os.path.join(self.hsm.dir, 'keys.db'),
                             uri=True)
        try:
            return [bytes(r[0]) for r in db.execute(
                'SELECT blob FROM keys WHERE blob IS NOT NULL')]
        finally:
            db.close()

    def store_bytes(self):
        data = b''
        for name in ('keys.db', 'keys.db-wal'):
            path = os.path.join(self.hsm.dir, name)
            if os.path.exists(path):
                with open(path, 'rb') as f:
                    data += f.read()
        return data

    def test_zeroise_and_reinitialise(self):
        kcv1 = self.initialise('c')
        st = self.status()
        self.assertFalse(st['sealed'])
        serial = st['serial']
        self.assertTrue(serial.startswith('TKMS'))
        # keys made and used on every worker (the SM2 cache filled)
        for ref in (b'01', b'02'):
            r = self.hsm.cmd(b'EIS00256;' + ref)
            self.assertEqual(r[:4], b'EJ00')
        for r in self.on_every_worker(EW01):
            self.assertEqual(r[:8], b'EX000064')
        blobs = self.blobs()
        self.assertEqual(len(blobs), 2)

        # a wrong confirmation destroys nothing
        p = self.hsm.console('zeroise', '--confirm', 'TKMS000000000000')
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b'nothing was destroyed', p.stderr)
        self.assertFalse(self.status()['sealed'])
        self.assertEqual(self.hsm.cmd(EW01)[:4], b'EX00')
        for name in DK_FILES:
            self.assertTrue(os.path.exists(os.path.join(self.hsm.dir, name)))

        r = self.ok('zeroise', '--confirm', serial)
        self.assertTrue(r['zeroised'])
        self.assertEqual(r['serial'], serial)
        archive = r['audit_archive']
        self.assertTrue(os.path.exists(os.path.join(self.hsm.dir, archive)))
        # the session ended with it: the console forgot its file
        self.assertFalse(os.path.exists(self.hsm.session_file))

        st = self.status()
        self.assertTrue(st['sealed'])
        self.assertEqual(st['enrolled'], [])
        self.assertFalse(st['initialised'])
        self.assertEqual(st['serial'], serial)
        for r in self.on_every_worker(EW01):
            self.assertEqual(r, b'EX13')
        self.assertEqual(self.hsm.cmd(b'NC')[:20], b'ND00' + b'0' * 16)
        for name in DK_FILES:
            self.assertFalse(os.path.exists(os.path.join(self.hsm.dir, name)),
                             name)
        self.assertEqual(self.blobs(), [])
        data = self.store_bytes()
        for b in blobs:
            self.assertNotIn(b, data)
        # the old log is kept under its name, a new one goes on
        db = sqlite3.connect('file:%s?mode=ro'
                             % os.path.join(self.hsm.dir, archive), uri=True)
        try:
            ops = [r[0] for r in db.execute(
                "SELECT detail FROM records WHERE op = 'zeroise'")]
        finally:
            db.close()
        self.assertIn('started', ops)

        # a new life, another DK, the same process
        kcv2 = self.initialise('n')
        self.assertNotEqual(kcv2, kcv1)
        st = self.status()
        self.assertFalse(st['sealed'])
        self.assertEqual(st['dk_kcv'], kcv2)
        self.assertEqual(st['serial'], serial)
        for r in self.on_every_worker(EW01):
            self.assertEqual(r, b'EX12')  # the store is empty
        self.assertEqual(self.hsm.cmd(b'EIS00256;01')[:4], b'EJ00')
        for r in self.on_every_worker(EW01):
            self.assertEqual(r[:8], b'EX000064')
        # and the HSM restarts into its new life (seal local)
        self.hsm.stop()
        self.hsm.start()
        self.assertEqual(self.status()['dk_kcv'], kcv2)
        self.assertEqual(self.hsm.cmd(EW01)[:8], b'EX000064')


if __name__ == '__main__':
    unittest.main()
