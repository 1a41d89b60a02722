"""test_audit - signed audit checkpoints against a real tkms-hsmd and the
`tkms hsm` console (docs/audit.md): D logs in, takes a checkpoint with
`tkms hsm audit checkpoint --out cp.txt`, more operations follow, the
daemon is killed; with the log untouched `tkms hsm audit verify
--checkpoint cp.txt` says ok after the restart, with a checkpoint line
altered it does not, and with the newest records deleted from audit.db
(as whoever can write the file would) it reports the truncation, exit 1.

Needs the HSM identity key (src/hsm/ident.c) to sign.
Run by ctest with TKMS_BUILD set.
"""
import json
import os
import sqlite3
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import Hsm  # noqa: E402

ROLES = ('A1', 'A2', 'A3', 'D')
MAGIC = 'TKMS-AUDIT-CHECKPOINT 1 '


class Checkpoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        cls.hsm = Hsm(workers=1, authorised=False)
        cls.hsm.start()
        d = cls.hsm.tmp
        cls.files = {}
        for name, text in (('pin', '123456'), ('pw', 'admin-pass-1')):
            path = os.path.join(d, name)
            with open(path, 'w') as f:
                f.write(text + '\n')
            cls.files[name] = path
        for role in ROLES:
            card = os.path.join(d, role + '.card')
            p = cls.hsm.tkms('hsm', 'card', 'new', '--role', role, '--out',
                             card, '--pin-file', cls.files['pin'])
            assert p.returncode == 0, p.stderr
            cls.files[role] = card
        # Initialisation: A1-A3 enrol themselves; with all three logged
        # in, D is enrolled.
        for role in ROLES[:3]:
            cls.run_ok('enrol', '--role', role, '--card', cls.files[role])
        for role in ROLES[:3]:
            cls.run_ok('login', '--role', role, '--card', cls.files[role])
        cls.run_ok('enrol', '--role', 'D', '--card', cls.files['D'])
        cls.run_ok('logout')

    @classmethod
    def tearDownClass(cls):
        cls.hsm.stop()

    @classmethod
    def run_ok(cls, *args):
        if args[0] in ('enrol', 'login'):
            args += ('--pin-file', cls.files['pin'], '--password-file',
                     cls.files['pw'])
        p = cls.hsm.console(*args)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        return p

    def login_d(self):
        self.run_ok('login', '--role', 'D', '--card', self.files['D'])

    def verify(self, cp=None):
        """`audit verify [--checkpoint cp]`: (exit status, result)."""
        args = ['audit', 'verify'] + (['--checkpoint', cp] if cp else [])
        p = self.hsm.console(*args)
        self.assertIn(p.returncode, (0, 1), p.stderr)
        return p.returncode, json.loads(p.stdout)

    def checkpoint(self, name):
        """`audit checkpoint --out FILE`: the file and the seq it names."""
        cp = os.path.join(self.hsm.tmp, name)
        p = self.hsm.console('audit', 'checkpoint', '--out', cp)
        self.assertEqual(p.returncode, 0, (p.stdout, p.stderr))
        with open(cp) as f:
            line = f.read()
        self.assertTrue(line.startswith(MAGIC), line)
        self.assertTrue(line.endswith('\n'))
        self.assertEqual(line.count('\n'), 1)
        seq = int(line.split(' seq=')[1].split()[0])
        self.assertEqual(json.loads(p.stdout)['seq'], seq)
        # The same line went to DIR/audit.checkpoints.
        with open(os.path.join(self.hsm.dir, 'audit.checkpoints')) as f:
            self.assertIn(line, f.read())
        return cp, seq

    def more_ops(self, n=6):
        for _ in range(n):
            self.run_ok('audit', 'show', '--count', '5')

    def restart(self):
        self.hsm.kill()
        self.hsm.start()
        self.login_d()

    def test_a_untouched(self):
        self.login_d()
        cp, seq = self.checkpoint('cp-a.txt')
        status, r = self.verify(cp)
        self.assertEqual(status, 0, r)
        self.assertTrue(r['ok'], r)
        self.assertTrue(r['keys_checked'])
        self.assertGreaterEqual(r['checkpoints_checked'], 2)
        self.more_ops()
        self.restart()
        status, r = self.verify(cp)
        self.assertEqual(status, 0, r)
        self.assertTrue(r['ok'], r)
        self.assertGreater(r['records'], seq)
        # An altered line is refused: the signature covers every field.
        with open(cp) as f:
            line = f.read()
        bad = os.path.join(self.hsm.tmp, 'cp-bad.txt')
        with open(bad, 'w') as f:
            f.write(line.replace(' seq=%d ' % seq, ' seq=%d ' % (seq - 1)))
        status, r = self.verify(bad)
        self.assertEqual(status, 1, r)
        self.assertFalse(r['ok'])
        self.assertIn('signature invalid', r['why'])

    def test_b_truncated(self):
        self.login_d()
        cp, seq = self.checkpoint('cp-b.txt')
        self.assertGreater(seq, 12)
        self.more_ops()
        self.hsm.kill()
        # Cut the log well below the checkpoint: the records the restart
        # and this verify add must not reach its seq again.
        keep = seq - 10
        db = sqlite3.connect(os.path.join(self.hsm.dir, 'audit.db'))
        db.execute('DELETE FROM records WHERE seq > ?', (keep,))
        db.commit()
        db.close()
        self.hsm.start()
        self.login_d()
        p = self.hsm.console('audit', 'verify', '--checkpoint', cp)
        self.assertEqual(p.returncode, 1, (p.stdout, p.stderr))
        r = json.loads(p.stdout)
        self.assertFalse(r['ok'])
        self.assertIn('log truncated: checkpoint of ', r['why'])
        self.assertIn('names record %d, the log ends at ' % seq, r['why'])
        # The first missing record: one past the log's end.
        self.assertEqual(r['first_bad'], r['records'] + 1)
        self.assertLess(r['records'], seq)
        # The chain itself is whole: without any checkpoint at all it
        # would pass; here DIR/audit.checkpoints tells as well.
        os.rename(os.path.join(self.hsm.dir, 'audit.checkpoints'),
                  os.path.join(self.hsm.tmp, 'cps-away'))
        status, r = self.verify()
        self.assertEqual(status, 0, r)
        os.rename(os.path.join(self.hsm.tmp, 'cps-away'),
                  os.path.join(self.hsm.dir, 'audit.checkpoints'))
        status, r = self.verify()
        self.assertEqual(status, 1, r)
        self.assertIn('log truncated', r['why'])
        self.assertIn('audit.checkpoints line', r['why'])


if __name__ == '__main__':
    unittest.main()
