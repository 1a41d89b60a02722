"""test_seal - the device-key ceremony against a real tkms-hsmd and the
`tkms hsm` console (docs/seal.md): a sealed HSM, three admin cards
enrolled, A1-A3 logged in on one session, components entered and
combined; the workers serve DK commands at once; a restart unseals itself
with `seal local`; with `seal quorum` it stays sealed until `tkms hsm
unseal` with the three component passwords.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import C1, C2, C3, Hsm, frame, read_frame  # noqa: E402

DK_KCV = 'C8FABC567BA0A5C6'
ROLES = ('A1', 'A2', 'A3')


class Ceremony(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        cls.hsm = Hsm(workers=2, sealed=True, authorised=False)
        cls.hsm.start()
        cls.files = {}
        d = cls.hsm.tmp
        for name, text in (('pin', '123456'), ('pw', 'admin-pass-1'),
                           ('c1', C1), ('c2', C2), ('c3', C3),
                           ('p1', 'component-pw-1'),
                           ('p2', 'component-pw-2'),
                           ('p3', 'component-pw-3'),
                           ('bad', 'not-the-pw-3')):
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
            p = cls.ok('enrol', '--role', role, '--card', card)

    @classmethod
    def tearDownClass(cls):
        cls.hsm.stop()

    @classmethod
    def ok(cls, *args):
        if args[0] in ('enrol', 'login'):
            args += ('--pin-file', cls.files['pin'], '--password-file',
                     cls.files['pw'])
        p = cls.hsm.console(*args)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        try:
            return json.loads(p.stdout)
        except ValueError:
            return p.stdout  # login and enrol print text

    def login_all(self):
        for role in ROLES:
            self.ok('login', '--role', role, '--card', self.files[role])

    def status(self):
        return self.ok('status')

    def restart(self, seal):
        self.hsm.stop()
        with open(self.hsm.config) as f:
            lines = [l for l in f.read().splitlines()
                     if not l.startswith('seal ')]
        with open(self.hsm.config, 'w') as f:
            f.write('\n'.join(lines + ['seal ' + seal]) + '\n')
        self.hsm.start()

    def test_ceremony_then_restarts(self):
        self.assertTrue(self.status()['sealed'])
        self.assertIn('no device key yet', self.hsm.stderr())
        self.assertEqual(self.hsm.cmd(b'BU000K000'), b'BV13')
        self.login_all()
        for i, role in enumerate(ROLES, 1):
            r = self.ok('dk', 'component', '--role', role,
                        '--component-file', self.files['c%d' % i],
                        '--component-password-file', self.files['p%d' % i])
            self.assertEqual(r['role'], role)
            self.assertNotIn('component', r)
        r = self.ok('dk', 'combine')
        self.assertEqual(r['kcv16'], DK_KCV)
        self.assertEqual(r['seal'], 'local')
        st = self.status()
        self.assertFalse(st['sealed'])
        self.assertEqual(st['dk_kcv'], DK_KCV)
        # every worker serves DK commands now: new connections, which
        # the kernel spreads over the workers
        for _ in range(8):
            s = self.hsm.connect()
            try:
                s.sendall(frame(b'12345678BU000K000'))
                self.assertEqual(read_frame(s), b'12345678BV12')
            finally:
                s.close()
        p = self.hsm.console('dk', 'combine')
        self.assertNotEqual(p.returncode, 0)
        for name in ('dk.backup', 'dk.sealed', 'machine.key'):
            mode = os.stat(os.path.join(self.hsm.dir, name)).st_mode
            self.assertEqual(mode & 0o777, 0o600, name)

        # seal local: a restart unseals itself
        self.restart('local')
        self.assertIn('unsealed from dk.sealed', self.hsm.stderr())
        self.assertEqual(self.status()['dk_kcv'], DK_KCV)
        self.assertEqual(self.hsm.cmd(b'BU000K000'), b'BV12')

        # seal quorum: sealed until A1-A3 unseal with their passwords
        self.restart('quorum')
        self.assertIn('sealed: A1, A2 and A3 must run `tkms hsm unseal`',
                      self.hsm.stderr())
        self.assertTrue(self.status()['sealed'])
        self.assertEqual(self.hsm.cmd(b'BU000K000'), b'BV13')
        self.login_all()
        p = self.hsm.console('unseal', '--a1-file', self.files['p1'],
                             '--a2-file', self.files['p2'],
                             '--a3-file', self.files['bad'])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b'A3', p.stderr)
        self.assertTrue(self.status()['sealed'])
        r = self.ok('unseal', '--a1-file', self.files['p1'],
                    '--a2-file', self.files['p2'],
                    '--a3-file', self.files['p3'])
        self.assertEqual(r['kcv16'], DK_KCV)
        self.assertEqual(self.hsm.cmd(b'BU000K000'), b'BV12')


if __name__ == '__main__':
    unittest.main()
