"""test_restore_dk - the device key leaves one HSM and comes back in
another, and the maintenance public key goes from the root HSM to a
business HSM, against real tkms-hsmd daemons and the `tkms hsm` console
(docs/seal.md "DK export and restore", docs/identity.md):

  HSM 1: A1-A3 enrol with cards, enter components and combine; C enrols
         and exports dk.backup (spec 加密机初始化 step 2.2); A1-A3 generate
         the maintenance key pair (root HSM step 3);
  HSM 2: new and empty; A1-A3 enrol and restore dk.backup with the three
         component passwords (加密机恢复: 设备密钥恢复). A wrong password
         or an altered file is refused and changes nothing; the right
         ones give the same DK, but HSM 2 keeps its own serial and makes
         its own identity key. Then, as a business HSM, it imports the
         maintenance public key (business HSM step 3): both HSMs show the
         same fingerprint.
"""
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import C1, C2, C3, Hsm  # noqa: E402

DK_KCV = 'C8FABC567BA0A5C6'
ROLES = ('A1', 'A2', 'A3')


class Admin:
    """One HSM and the console files of its administrators."""

    def __init__(self, name, files):
        self.name = name
        self.files = files
        self.hsm = Hsm(workers=2, sealed=True, authorised=False)
        self.hsm.start()
        self.cards = {}

    def console(self, *args):
        if args[0] in ('enrol', 'login'):
            args += ('--pin-file', self.files['pin'], '--password-file',
                     self.files['pw'])
        return self.hsm.console(*args)

    def ok(self, *args):
        p = self.console(*args)
        assert p.returncode == 0, (self.name, args, p.stdout, p.stderr)
        try:
            return json.loads(p.stdout)
        except ValueError:
            return p.stdout  # login and enrol print text

    def card(self, role):
        path = os.path.join(self.hsm.tmp, role + '.card')
        p = self.hsm.tkms('hsm', 'card', 'new', '--role', role, '--out',
                          path, '--pin-file', self.files['pin'])
        assert p.returncode == 0, p.stderr
        self.cards[role] = path
        return path

    def enrol_a(self):
        for role in ROLES:
            self.ok('enrol', '--role', role, '--card', self.card(role))

    def login(self, *roles):
        for role in roles:
            self.ok('login', '--role', role, '--card', self.cards[role])

    def status(self):
        return self.ok('status')

    def path(self, name):
        return os.path.join(self.hsm.tmp, name)


class RestoreDk(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        cls.hsms = []
        cls.tmp = tempfile.mkdtemp(prefix='tkms-restore-')
        cls.files = {}
        for name, text in (('pin', '123456'), ('pw', 'admin-pass-1'),
                           ('c1', C1), ('c2', C2), ('c3', C3),
                           ('p1', 'component-pw-1'),
                           ('p2', 'component-pw-2'),
                           ('p3', 'component-pw-3'),
                           ('bad', 'not-the-pw-2')):
            path = os.path.join(cls.tmp, name)
            with open(path, 'w') as f:
                f.write(text + '\n')
            cls.files[name] = path

    @classmethod
    def tearDownClass(cls):
        for h in cls.hsms:
            h.hsm.stop()
            shutil.rmtree(h.hsm.tmp, ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def new_hsm(self, name):
        h = Admin(name, self.files)
        self.hsms.append(h)
        return h

    def restore(self, h, backup, a2='p2'):
        return h.console('dk', 'restore', '--in', backup,
                         '--a1-file', self.files['p1'],
                         '--a2-file', self.files[a2],
                         '--a3-file', self.files['p3'])

    def test_export_restore_mkey(self):
        # --- HSM 1: the ceremony, C exports the DK backup -------------
        h1 = self.new_hsm('hsm1')
        h1.enrol_a()
        h1.login(*ROLES)
        for i, role in enumerate(ROLES, 1):
            h1.ok('dk', 'component', '--role', role,
                  '--component-file', self.files['c%d' % i],
                  '--component-password-file', self.files['p%d' % i])
        self.assertEqual(h1.ok('dk', 'combine')['kcv16'], DK_KCV)
        h1.ok('enrol', '--role', 'C', '--card', h1.card('C'))
        h1.login('C')
        backup = h1.path('dk.backup.exported')
        r = h1.ok('dk', 'export', '--out', backup)
        self.assertEqual(r['dk_kcv'], DK_KCV)
        self.assertNotIn('file', r)  # written to --out, not printed
        with open(backup, 'rb') as f:
            exported = f.read()
        with open(os.path.join(h1.hsm.dir, 'dk.backup'), 'rb') as f:
            self.assertEqual(f.read(), exported)
        self.assertEqual(len(exported), 304)
        st1 = h1.status()
        self.assertEqual(st1['serial'][:4], 'TKMS')
        self.assertEqual(len(st1['serial']), 16)
        fp1 = st1['identity']['fingerprint']
        self.assertEqual(len(fp1), 16)
        self.assertEqual(len(st1['identity']['public']), 128)

        # --- HSM 1 as the root HSM: the maintenance key pair ----------
        mbak, mpub = h1.path('mkey.backup'), h1.path('mkey.pub')
        r = h1.ok('mkey', 'generate', '--index', '19', '--out', mbak,
                  '--pub-out', mpub)
        self.assertEqual(r['index'], 19)
        self.assertEqual(len(r['fingerprint']), 16)
        mfp = r['fingerprint']
        with open(mpub) as f:
            pub = f.read().strip()
        self.assertEqual(len(pub), 128)
        self.assertGreater(os.path.getsize(mbak), 0)
        self.assertEqual(h1.ok('mkey', 'show')['fingerprint'], mfp)
        self.assertEqual(h1.status()['mkey']['fingerprint'], mfp)
        keys = h1.ok('keys', 'list', '--lib', 'sm2')
        self.assertIn('maintenance key pair', json.dumps(keys))
        # the index is taken now
        p = h1.console('mkey', 'generate', '--index', '19', '--out',
                       h1.path('again.backup'), '--pub-out',
                       h1.path('again.pub'))
        self.assertNotEqual(p.returncode, 0)

        # --- HSM 2: new and empty; A1-A3 restore ----------------------
        h2 = self.new_hsm('hsm2')
        h2.enrol_a()
        h2.login(*ROLES)
        self.assertTrue(h2.status()['sealed'])
        # a wrong password: refused, naming the role, nothing written
        p = self.restore(h2, backup, a2='bad')
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b'A2', p.stderr)
        # an altered file: refused, nothing written
        bad = h2.path('dk.backup.altered')
        with open(bad, 'wb') as f:
            f.write(exported[:150] + bytes([exported[150] ^ 1])
                    + exported[151:])
        p = self.restore(h2, bad)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b'altered', p.stderr)
        self.assertTrue(h2.status()['sealed'])
        for name in ('dk.backup', 'dk.sealed', 'machine.key'):
            self.assertFalse(
                os.path.exists(os.path.join(h2.hsm.dir, name)), name)
        # the right ones
        p = self.restore(h2, backup)
        self.assertEqual(p.returncode, 0, p.stderr)
        r = json.loads(p.stdout)
        self.assertEqual(r['dk_kcv'], DK_KCV)
        st2 = h2.status()
        self.assertFalse(st2['sealed'])
        self.assertEqual(st2['dk_kcv'], DK_KCV)
        self.assertEqual(r['serial'], st2['serial'])
        self.assertNotEqual(st2['serial'], st1['serial'])
        fp2 = st2['identity']['fingerprint']
        self.assertNotEqual(fp2, fp1)
        self.assertEqual(h2.hsm.cmd(b'BU000K000'), b'BV12')  # serving
        with open(os.path.join(h2.hsm.dir, 'dk.backup'), 'rb') as f:
            self.assertEqual(f.read(), exported)
        # once only
        p = self.restore(h2, backup)
        self.assertNotEqual(p.returncode, 0)

        # --- HSM 2 as a business HSM: import the maintenance key ------
        p = h2.console('mkey', 'show')
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b'mkey import', p.stderr)
        r = h2.ok('mkey', 'import', '--in', mpub)
        self.assertEqual(r['fingerprint'], mfp)
        r = h2.ok('mkey', 'show')
        self.assertEqual(r['fingerprint'], mfp)
        self.assertEqual(r['public'], pub)
        self.assertEqual(h2.status()['mkey']['fingerprint'], mfp)

        # --- a restart: unsealed by itself, the same identity ---------
        h2.hsm.stop()
        h2.hsm.start()
        self.assertIn('unsealed from dk.sealed', h2.hsm.stderr())
        st = h2.status()
        self.assertEqual(st['dk_kcv'], DK_KCV)
        self.assertEqual(st['serial'], st2['serial'])
        self.assertEqual(st['identity']['fingerprint'], fp2)
        self.assertEqual(st['mkey']['fingerprint'], mfp)


if __name__ == '__main__':
    unittest.main()
