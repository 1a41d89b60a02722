"""End-to-end run of `tkms kms hsm|templates|key|issue|issued|record`
(docs/api.md "Command line") against a real tkms-kmsd and two real
tkms-hsmd: a root HSM and Guangzhou's business HSM added by one
configurator and approved by the other, two templates generated and
issued by one key manager and approved by another, the issued keys listed
(their KCVs equal to what BU answers at the HSMs), and the distribution
record exported as Markdown and HTML.

The HSMs run with the development DK components; the TK both hold at
K001/K101 is made with host commands only, as tests/kms/kmshsm.h does (A0
mode 0 a KEK under DK, A0 mode 1 the TK under DK and the KEK, A6 of the TK
under the KEK at each HSM): no key is in clear in the test.

Run by ctest with TKMS_BUILD set.
"""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import BUILD, Hsm  # noqa: E402
from test_kmsd import Kmsd  # noqa: E402


def ok(answer):
    """The fields of a host-command answer whose error code is 00."""
    text = answer.decode()
    assert text[2:4] == '00', text
    return text[4:]


def put_tk(hsms, s, index):
    """The same TK (type 000) at index of every HSM: s 'X' DES, 'S' SM4."""
    r = ok(hsms[0].cmd(('A00000%s' % s).encode()))
    kek = r[:33]
    r = ok(hsms[0].cmd(('A01000%s%s%s' % (s, kek, s)).encode()))
    tk = r[33:66]
    kcvs = {ok(h.cmd(('A6T000%s%s%s%s' % (kek, tk, s, index)).encode()))[33:]
            for h in hsms}
    assert len(kcvs) == 1, kcvs


def bu(h, type_code, idx, alg):
    """The KCV (16H) of the key at idx of h."""
    flag = 'S' if alg == 'SM4' else 'X'
    return ok(h.cmd(('BU%sK%03X%s' % (type_code, idx, flag)).encode()))


class KmsCliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BUILD:
            raise unittest.SkipTest('TKMS_BUILD is not set')
        cls.k = Kmsd()
        cls.hsms = []
        try:
            cls.root = Hsm(authorised=True).start()
            cls.hsms.append(cls.root)
            cls.gz = Hsm(authorised=True).start()
            cls.hsms.append(cls.gz)
            put_tk(cls.hsms, 'X', 'K001')
            put_tk(cls.hsms, 'S', 'K101')
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        errors = []
        for h in cls.hsms:
            try:
                h.__exit__(None, None, None)
            except AssertionError as e:
                errors.append(e)
        cls.k.stop()
        if errors:
            raise errors[0]

    def cli(self, who, *args):
        """`tkms kms ARGS` as who (a session file of its own)."""
        session = os.path.join(self.k.tmp, 'session-' + who)
        return subprocess.run(
            [os.path.join(BUILD, 'tkms'), 'kms'] + list(args) +
            ['--url', 'http://%s:%d' % (self.k.addr, self.k.port),
             '--session', session],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)

    def run_ok(self, who, *args):
        p = self.cli(who, *args)
        self.assertEqual(p.returncode, 0, (args, p.stderr.decode()))
        return json.loads(p.stdout) if p.stdout.strip() else None

    def login(self, who):
        pwf = os.path.join(self.k.tmp, 'pw-' + who)
        with open(pwf, 'w') as f:
            f.write(self.k.pw[who] + '\n')
        self.run_ok(who, 'login', who, '--password-file', pwf)

    def dual(self, a, b, *args):
        """A proposing command as a, `tkms kms approve` as b: the
        executed proposal's result."""
        q = self.cli(a, *args)
        self.assertEqual(q.returncode, 0, (args, q.stderr.decode()))
        p = json.loads(q.stdout)
        self.assertEqual((p['state'], p['proposer']), ('open', a), p)
        self.assertIn(b'tkms kms approve %d' % p['id'], q.stderr)
        # The proposer may not approve it.
        q = self.cli(a, 'approve', str(p['id']))
        self.assertEqual(q.returncode, 1)
        self.assertIn(b'403', q.stderr)
        p = self.run_ok(b, 'approve', str(p['id']))
        self.assertEqual(p['state'], 'executed', p)
        return p['result']

    def test_cli(self):
        k = self.k
        # Users: two key managers, through the configurators.
        self.login('ca')
        self.login('cb')
        for name, role in (('kma', 'key_manager'), ('kmb', 'key_manager'),
                           ('sup', 'supervisor')):
            k.pw[name] = name + '-password'
            pwf = os.path.join(k.tmp, 'newpw-' + name)
            with open(pwf, 'w') as f:
                f.write(k.pw[name] + '\n')
            p = self.run_ok('ca', 'propose', 'user.create',
                            json.dumps({'name': name, 'role': role}),
                            '--password-file', pwf)
            self.run_ok('cb', 'approve', str(p['id']))
            self.login(name)

        # HSMs: hsm add by ca, approved by cb.
        p = self.cli('ca', 'hsm', 'add', '--name', 'root', '--role', 'root',
                     '--host', '127.0.0.1', '--port', str(self.root.port),
                     '--mgmt-host', '127.0.0.1', '--mgmt-port',
                     str(self.root.manage_port))
        self.assertEqual(p.returncode, 0, p.stderr)
        pid = json.loads(p.stdout)['id']
        self.assertIn(b'tkms kms approve %d' % pid, p.stderr)
        p = self.cli('ca', 'approve', str(pid))
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'403', p.stderr)
        r = self.run_ok('cb', 'approve', str(pid))
        self.assertEqual(r['state'], 'executed', r)
        root_id = r['result']['id']
        r = self.dual('ca', 'cb', 'hsm', 'add', '--name', 'gz-business',
                      '--role', 'provincial_business', '--city', '5810',
                      '--host', '127.0.0.1', '--port', str(self.gz.port),
                      '--serial', 'TKMS0000000000GZ')
        gz_id = r['id']
        hsms = self.run_ok('kma', 'hsm', 'list')['hsms']
        self.assertEqual([(h['name'], h['role'], h['city_code'], h['port'])
                          for h in hsms],
                         [('root', 'root', None, self.root.port),
                          ('gz-business', 'provincial_business', '5810',
                           self.gz.port)])
        for hid in (root_id, gz_id):
            r = self.run_ok('kma', 'hsm', 'check', str(hid))
            self.assertTrue(r['ok'], r)
            self.assertEqual(r['dk_kcv'], ok(self.root.cmd(b'NC'))[:16])
        r = self.run_ok('ca', 'hsm', 'show', str(gz_id))
        self.assertEqual(r['serial'], 'TKMS0000000000GZ')
        r = self.dual('ca', 'cb', 'hsm', 'update', str(gz_id), '--mgmt-port',
                      str(self.gz.manage_port))
        self.assertEqual(r['set'], {'mgmt_port': self.gz.manage_port})

        # Templates, then two of them generated in the root.
        t = self.run_ok('kma', 'templates')['templates']
        self.assertEqual(len(t), 23)
        types = {x['name']: x['type_code'] for x in t}
        r = self.dual('kma', 'kmb', 'key', 'generate', '--hsm', str(root_id),
                      '--template', 'tac', '--template', 'load_01')
        keys = r['keys']
        self.assertEqual(sorted((x['template'], x['alg']) for x in keys),
                         [('load_01', 'DES'), ('load_01', 'SM4'),
                          ('tac', 'DES'), ('tac', 'SM4')])
        for x in keys:
            self.assertFalse(x['existed'])
            held = bu(self.root, types[x['template']], x['idx'], x['alg'])
            self.assertTrue(held.startswith(x['kcv']), (x, held))
        roots = self.run_ok('kmb', 'key', 'list', '--template', 'tac')
        roots = roots['root_keys']
        self.assertEqual([(x['alg'], x['state']) for x in roots],
                         [('DES', 'active'), ('SM4', 'active')])
        tac_des = roots[0]['id']
        r = self.run_ok('ca', 'key', 'show', str(tac_des))
        self.assertEqual([(e['kind'], e['actor']) for e in r['events']],
                         [('generated', 'kma+kmb')])

        # Issued to Guangzhou's business HSM.
        r = self.dual('kmb', 'kma', 'issue', '--hsm', str(gz_id),
                      '--template', 'tac', '--template', 'load_01')
        self.assertEqual(r['keys'], 4)
        self.assertEqual([(c['city_code'], c['total'], c['issued'],
                           c['failed']) for c in r['cities']],
                         [('5810', 4, 4, 0)])
        issued = self.run_ok('ca', 'issued', '--hsm', str(gz_id))
        issued = issued['issued_keys']
        self.assertEqual(len(issued), 4)
        for x in issued:
            self.assertEqual((x['state'], x['city_code'], x['hsm']),
                             ('active', '5810', 'gz-business'))
            held = bu(self.gz, types[x['template']], x['idx'], x['alg'])
            self.assertTrue(held.startswith(x['kcv']), (x, held))
        self.assertEqual(len(self.run_ok('ca', 'issued', '--key',
                                         str(tac_des))['issued_keys']), 1)
        plan = self.run_ok('ca', 'key', 'plan', str(tac_des))
        self.assertEqual(plan['next_index'], 'K328')

        # The distribution record, in both formats, to new files only.
        md = os.path.join(k.tmp, 'distribution.md')
        r = self.run_ok('ca', 'record',
                        'distribution', str(tac_des), '--format', 'md',
                        '--out', md)
        self.assertEqual((r['kind'], r['format'], r['file']),
                         ('distribution', 'md', md))
        self.assertNotIn('document', r)
        with open(md, encoding='utf-8') as f:
            doc = f.read()
        self.assertIn('广州市', doc)
        self.assertIn('gz-business', doc)
        self.assertIn([x for x in issued if x['root_key_id'] == tac_des][0]
                      ['kcv'], doc)
        self.assertIn('kmb+kma', doc)
        self.assertEqual(os.stat(md).st_mode & 0o777, 0o600)
        p = self.cli('ca', 'record', 'distribution', str(tac_des), '--out',
                     md)
        self.assertEqual(p.returncode, 2)
        html = os.path.join(k.tmp, 'generation.html')
        self.run_ok('ca', 'record', 'generation', str(tac_des), '--out',
                    html)
        with open(html, encoding='utf-8') as f:
            doc = f.read()
        self.assertIn('<html', doc)
        self.assertIn('kma+kmb', doc)
        # The supervisor signs the distribution record off; only once, and
        # only the supervisor; the record then shows it.
        seen = os.path.join(k.tmp, 'distribution-read.md')
        sm3 = self.run_ok('sup', 'record', 'distribution', str(tac_des),
                          '--format', 'md', '--out', seen)['sm3']
        p = self.cli('kma', 'record', 'sign', 'distribution', str(tac_des),
                     '--sm3', sm3)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'403', p.stderr)
        p = self.cli('sup', 'record', 'sign', 'distribution', str(tac_des))
        self.assertEqual(p.returncode, 2)  # --sm3: what was read
        r = self.run_ok('sup', 'record', 'sign', 'distribution',
                        str(tac_des), '--sm3', sm3)
        self.assertEqual((r['kind'], r['signed_by'], r['sm3']),
                         ('distribution', 'sup', sm3))
        p = self.cli('sup', 'record', 'sign', 'distribution', str(tac_des),
                     '--sm3', sm3)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'409', p.stderr)
        md2 = os.path.join(k.tmp, 'distribution-signed.md')
        self.run_ok('ca', 'record', 'distribution', str(tac_des), '--format',
                    'md', '--out', md2)
        with open(md2, encoding='utf-8') as f:
            self.assertIn('SM3 ' + r['sm3'][:16], f.read())

        # Refusals and usage.
        p = self.cli('kma', 'key', 'compromise', str(tac_des))
        self.assertEqual(p.returncode, 2)
        p = self.cli('kma', 'key', 'generate', '--template', 'tac')
        self.assertEqual(p.returncode, 2)
        p = self.cli('kma', 'hsm', 'list', '--reason', 'x')
        self.assertEqual(p.returncode, 2)
        p = self.cli('kma', 'key', 'destroy', str(tac_des))
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'409', p.stderr)
        p = self.cli('kma', 'hsm', 'retire', str(gz_id))
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'403', p.stderr)
        p = self.cli('ca', 'hsm', 'retire', str(gz_id))
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'live keys', p.stderr)
        p = self.cli('ca', 'key', 'confirm', str(tac_des))
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'403', p.stderr)
        p = self.cli('kma', 'key', 'confirm', str(tac_des))
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'no destruction was asked for', p.stderr)

        # An HSM that went away: check exits 1 saying so.
        self.gz.kill()
        p = self.cli('kma', 'hsm', 'check', str(gz_id))
        self.assertEqual(p.returncode, 1)
        self.assertFalse(json.loads(p.stdout)['ok'])
        self.assertIn(b'unreachable', p.stderr)
        self.gz.start()


if __name__ == '__main__':
    unittest.main(verbosity=2)
