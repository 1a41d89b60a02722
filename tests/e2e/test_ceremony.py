"""test_ceremony - docs/ceremonies.md end to end, with the console as a
person runs it: a root HSM initialised (cards, DK components, DK backup,
maintenance key pair, whitelist, TK, network, time) and backed up, then
restored onto a replacement with identical KCVs; a provincial business
HSM initialised (maintenance public key imported) with the ministry's keys
imported from a key mother card; a city HSM cloned from the business HSM's
backups (TK deleted, appendix-3 whitelist, B's password reset to the
issuer code) whose restored keys answer exactly as the business HSM's.
"""
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import Hsm  # noqa: E402

ROLES_A = ('A1', 'A2', 'A3')
ROLES = ROLES_A + ('B', 'C', 'D')
ISSUER_CODE = '02885820'  # 韶关 (spec, city HSM step 5)
APPENDIX3 = 'NC,TE,EI,EJ,EH,EP,ER,GM,UB,KW,G1,U1,U3'
# DK components of the root and the business HSM, TK components shared by
# both (the TK carries keys from one to the other).
ROOT_DK = ('00112233445566778899AABBCCDDEEFF',
           '0F1E2D3C4B5A69788796A5B4C3D2E1F0',
           '13579BDF02468ACE13579BDF02468ACE')
BIZ_DK = ('FEDCBA98765432100123456789ABCDEF',
          '1111111122222222333333334444444F',
          'A5A5A5A55A5A5A5AC3C3C3C33C3C3C3C')
TK_DES = ('0123456789ABCDEFFEDCBA9876543210',
          '89ABCDEF01234567F0E1D2C3B4A59687',
          'FEDCBA98765432100011223344556677')
TK_SM4 = ('000102030405060708090A0B0C0D0E0F',
          'F0E0D0C0B0A090807060504030201000',
          '0123456789ABCDEF0123456789ABCDEF')


class Console:
    """One HSM and the console a person runs against it."""

    def __init__(self, test, hsm, files):
        self.t, self.hsm, self.f = test, hsm, files

    def run(self, *args, ok=True):
        if args[0] in ('enrol', 'login'):
            pw = 'pw-' + args[args.index('--role') + 1]
            if '--password-file' not in args:
                args += ('--password-file', self.f[pw])
            args += ('--pin-file', self.f['pin'])
        p = self.hsm.console(*args)
        if ok:
            self.t.assertEqual(p.returncode, 0,
                               (args, p.stdout.decode(), p.stderr.decode()))
        else:
            self.t.assertNotEqual(p.returncode, 0, (args, p.stdout))
            return p
        try:
            return json.loads(p.stdout)
        except ValueError:
            return p.stdout.decode()

    def login(self, *roles):
        for r in roles:
            self.run('login', '--role', r, '--card', self.f[r])

    def enrol(self, *roles):
        for r in roles:
            self.run('enrol', '--role', r, '--card', self.f[r])

    def logout(self):
        self.hsm.console('logout')

    def keys(self):
        return {(k['lib'], k['index']): (k['type'], k['kcv'])
                for k in self.run('keys', 'list')['keys']}


class Ceremonies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        cls.tmp = tempfile.mkdtemp(prefix='tkms-ceremony-')
        cls.usb = os.path.join(cls.tmp, 'usb')  # the removable disk
        os.mkdir(cls.usb)
        cls.f = {}
        secrets = {'pin': '123456'}
        for r in ROLES:
            secrets['pw-' + r] = 'password of ' + r
        for i in range(3):
            secrets['root-c%d' % i] = ROOT_DK[i]
            secrets['biz-c%d' % i] = BIZ_DK[i]
            secrets['cp%d' % i] = 'component password %d' % (i + 1)
            secrets['tkdes%d' % i] = TK_DES[i]
            secrets['tksm4%d' % i] = TK_SM4[i]
        secrets['issuer'] = ISSUER_CODE
        for name, text in secrets.items():
            path = os.path.join(cls.tmp, name)
            with open(path, 'w') as f:
                f.write(text + '\n')
            cls.f[name] = path
        cls.hsms = []

    @classmethod
    def tearDownClass(cls):
        for h in cls.hsms:
            h.stop(check=False)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def new_hsm(self, config_lines=None):
        h = Hsm(sealed=True, authorised=False, config_lines=config_lines)
        h.start()
        self.hsms.append(h)
        con = Console(self, h, self.f)
        return con

    def cards(self):
        for r in ROLES:
            path = os.path.join(self.tmp, r)
            if r not in self.f:
                p = self.hsms[0].tkms('hsm', 'card', 'new', '--role', r,
                                      '--out', path, '--pin-file',
                                      self.f['pin'])
                self.assertEqual(p.returncode, 0, p.stderr)
                self.f[r] = path

    def initialise(self, con, dk):
        """1.1 steps 2.1 - 2.5: the device admins enter their components,
        then the other admins are enrolled with A1-A3 present."""
        st = con.run('status')
        self.assertTrue(st['sealed'])
        self.assertFalse(st['initialised'])
        con.enrol(*ROLES_A)
        con.login(*ROLES_A)
        for i, r in enumerate(ROLES_A):
            res = con.run('dk', 'component', '--role', r,
                          '--component-file', self.f['%s-c%d' % (dk, i)],
                          '--component-password-file', self.f['cp%d' % i])
            self.assertEqual(len(res['kcv']), 6)
        kcv = con.run('dk', 'combine')['kcv16']
        con.enrol('B', 'C', 'D')
        con.logout()
        con.login('C')
        return kcv

    def tk(self, con):
        """Step 5 (C): the TK from three components, DES K001 and SM4
        K101."""
        out = {}
        for alg, index, name in (('des', '001', 'tkdes'),
                                 ('sm4', '101', 'tksm4')):
            for i in range(3):
                con.run('tk', 'component', '--alg', alg,
                        '--component-file', self.f['%s%d' % (name, i)])
            out[alg] = con.run('tk', 'combine', '--alg', alg, '--index',
                               index)['kcv16']
        return out

    def system(self, con):
        """Steps 6.1, 6.2 (B)."""
        con.logout()
        con.login('B')
        res = con.run('net', 'set', '--listener', '0', '--address',
                      '127.0.0.1:0')
        self.assertIn('restart', res['note'])
        con.run('whitelist', 'set', '--listener', '0', '--kind', 'ip',
                '--list', '127.0.0.1/32')
        t = con.run('time', 'get')
        self.assertIn('time', t)
        con.logout()

    def backups(self, con, prefix):
        """加密机备份 steps 1-4 (C), and the DK backup of step 2.2."""
        for lib in ('des', 'sm4', 'rsa', 'sm2'):
            path = os.path.join(self.usb, '%s-%s.bak' % (prefix, lib))
            con.run('backup', 'create', '--lib', lib, '--out', path)
            self.assertTrue(os.path.getsize(path) > 0)

    def restore(self, con, prefix, dk_kcv):
        """加密机恢复 onto a new, empty HSM."""
        con.enrol(*ROLES_A)
        con.login(*ROLES_A)
        res = con.run('dk', 'restore', '--in',
                      os.path.join(self.usb, prefix + '-dk.backup'),
                      '--a1-file', self.f['cp0'], '--a2-file',
                      self.f['cp1'], '--a3-file', self.f['cp2'])
        self.assertEqual(res['dk_kcv'], dk_kcv)
        con.enrol('B', 'C', 'D')
        con.logout()
        con.login('C')
        for lib in ('des', 'sm4', 'rsa', 'sm2'):
            con.run('backup', 'restore', '--in',
                    os.path.join(self.usb, '%s-%s.bak' % (prefix, lib)))

    def test_root_business_city(self):
        # --- root HSM: initialisation 1.1 - 6.2 -----------------------
        root = self.new_hsm()
        self.cards()
        root_kcv = self.initialise(root, 'root')
        root.run('dk', 'export', '--out',
                 os.path.join(self.usb, 'root-dk.backup'))
        root.logout()
        root.login(*ROLES_A)
        mk = root.run('mkey', 'generate', '--index', '20', '--out',
                      os.path.join(self.usb, 'mkey.bak'), '--pub-out',
                      os.path.join(self.usb, 'mkey.pub'))
        root.logout()
        root.login('C')
        root.run('whitelist', 'set', '--listener', '0', '--kind',
                 'commands', '--list', 'NC,TE,A0,A6,A8,EI,EJ,EK,EW,BU')
        root_tk = self.tk(root)
        self.system(root)
        root.login('C')
        self.backups(root, 'root')
        root_keys = root.keys()
        self.assertEqual(root_keys[('sm2', 20)][0], 'SM2')
        self.assertEqual(root_keys[('des', 1)][1], root_tk['des'][:6])

        # --- root HSM: restore onto a replacement ----------------------
        spare = self.new_hsm()
        self.restore(spare, 'root', root_kcv)
        self.assertEqual(spare.keys(), root_keys)
        self.assertEqual(spare.run('status')['dk_kcv'], root_kcv)

        # --- provincial business HSM ------------------------------------
        biz = self.new_hsm()
        biz_kcv = self.initialise(biz, 'biz')
        self.assertNotEqual(biz_kcv, root_kcv)
        biz.run('dk', 'export', '--out',
                os.path.join(self.usb, 'biz-dk.backup'))
        biz.logout()
        biz.login(*ROLES_A)
        res = biz.run('mkey', 'import', '--in',
                      os.path.join(self.usb, 'mkey.pub'))
        self.assertEqual(res['fingerprint'], mk['fingerprint'])
        biz.logout()
        biz.login('C')
        biz.run('whitelist', 'set', '--listener', '0', '--kind',
                'commands', '--list',
                'NC,TE,A0,A6,A8,EI,EJ,EH,EK,EP,ER,EW,EY,GM,UB,KW,G1,U1,'
                'U3,BU')
        self.assertEqual(self.tk(biz), root_tk)  # same TK components
        self.system(biz)
        biz.login('C')

        # 导入交通运输部密钥 (2.2): initial TK, import, delete
        init = biz.run('tk', 'initial')
        self.assertEqual(init['des']['index'], 'K000')
        self.assertEqual(init['sm4']['index'], 'K100')
        biz.run('auth', 'open', '--minutes', '10')
        card = os.path.join(self.tmp, 'mother.card')
        p = biz.hsm.tkms('mot', 'card', 'new', '--out', card, '--des', '2',
                         '--sm4', '2', '--first-index', 'K200')
        self.assertEqual(p.returncode, 0, p.stderr)
        record = os.path.join(self.tmp, 'mot-import.json')
        host, port = biz.hsm.listeners[0]
        p = biz.hsm.tkms('mot', 'import', '--card', card, '--host', host,
                         '--port', str(port), '--record', record)
        self.assertEqual(p.returncode, 0, (p.stdout, p.stderr))
        biz.run('keys', 'delete', '--lib', 'des', '--index', '000')
        biz.run('keys', 'delete', '--lib', 'sm4', '--index', '100')
        biz.run('auth', 'close')
        biz_keys = biz.keys()
        self.assertNotIn(('des', 0), biz_keys)
        self.assertNotIn(('sm4', 0x100), biz_keys)
        mot = [k for k in biz_keys if k[1] >= 0x200]
        self.assertEqual(len(mot), 4)
        self.backups(biz, 'biz')

        # --- city HSM: clone 3.1 steps 1 - 6 ----------------------------
        city = self.new_hsm()
        self.restore(city, 'biz', biz_kcv)
        self.assertEqual(city.keys(), biz_keys)
        st_biz, st_city = biz.run('status'), city.run('status')
        self.assertEqual(st_city['dk_kcv'], st_biz['dk_kcv'])
        self.assertNotEqual(st_city['serial'], st_biz['serial'])
        self.assertNotEqual(st_city['identity']['fingerprint'],
                            st_biz['identity']['fingerprint'])
        # the restored keys answer as the business HSM's do
        for (lib, index) in mot:
            req = ('BU%sK%03X%s' % (biz_keys[(lib, index)][0], index,
                                    'S' if lib == 'sm4' else '')).encode()
            answer = biz.hsm.cmd(req)
            self.assertEqual(answer[:4], b'BV00', req)
            self.assertEqual(city.hsm.cmd(req), answer, req)
        city.logout()
        city.login(*ROLES_A)
        city.run('mkey', 'import', '--in',
                 os.path.join(self.usb, 'mkey.pub'))
        city.logout()
        city.login('C')
        city.run('keys', 'delete', '--lib', 'des', '--index', '001')
        city.run('keys', 'delete', '--lib', 'sm4', '--index', '101')
        city.run('whitelist', 'set', '--listener', '0', '--kind',
                 'commands', '--list', APPENDIX3)
        wl = city.run('whitelist', 'get')['listeners'][0]
        self.assertEqual(','.join(wl['commands']), APPENDIX3)
        self.assertEqual(city.hsm.cmd(b'A0'), b'A168')  # not on it
        city.logout()
        city.login('B')
        city.run('password', 'set', '--role', 'B', '--issuer-code',
                 ISSUER_CODE)
        city.logout()
        # the delivered B card opens with the issuer code
        p = city.run('login', '--role', 'B', '--card', self.f['B'],
                     '--password-file', self.f['pw-B'], ok=False)
        self.assertIn('refused', p.stderr.decode())
        city.run('login', '--role', 'B', '--card', self.f['B'],
                 '--password-file', self.f['issuer'])
        city.logout()
        city.login('D')
        self.assertIn('time', city.run('time', 'get'))


if __name__ == '__main__':
    unittest.main()
