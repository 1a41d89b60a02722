"""test_kms_maint - maintenance licences through the KMS, end to end
(docs/maintenance.md "Through the KMS", docs/api.md "Maintenance
applications"), with the command line as the operators run it:

- a root tkms-hsmd whose A1+A2+A3 made the maintenance key pair (`tkms hsm
  mkey generate`, SM2 index 20) and a city tkms-hsmd that imported its
  public key; both registered in tkms-kmsd by hsm.add proposals;
- the city's security admin makes a request (`tkms maint request`);
- key manager A imports it (`tkms kms maint import`) and proposes the
  licences (`tkms kms maint licence`); A cannot approve it; B's approval
  fails while the root is not in the authorised state (the reason is in
  the answer, the application is usable again); the root's security
  admin opens it (`tkms hsm auth open`), A proposes again and B's approval
  has the root sign;
- A exports the update (`tkms kms maint export`), the city applies it
  (`tkms maint apply`), and the licensed key answers UB exactly QUOTA
  times, then the licence-exhausted error (A1).

Run by ctest with TKMS_BUILD set; with TKMS_PG_URL set (tests/kms/pg.sh)
tkms-kmsd runs on PostgreSQL.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import BUILD, Hsm  # noqa: E402
from test_kmsd import Kmsd  # noqa: E402

ROLES = ('A1', 'A2', 'A3', 'B', 'C')
IV0 = b'0' * 16
DATA = b'0011223344556677'
# UB, PBOC MAC over 8 bytes with the DES MK at K2A0 (type 509).
UB = b'UBX00509K2A0' + b'00' + IV0 + b'008' + DATA + b'04'
QUOTA = 4
DAY = 86400
# 广州市: issuer code 02205810, city code 5810 (appendix 1).
FORM = """# 广东省全国交通一卡通加密机维保申请表
issuer_code=02205810
hsm_number=GZ-CITY-01
organisation=广州羊城通有限公司
applicant=张三
address=广东省广州市
phone=020-12345678
cards_this_year=120000
cards_next_year=150000
remarks=e2e kms
"""


def date_in(days):
    """The date (UTC+8) days from now."""
    return time.strftime('%Y-%m-%d',
                         time.gmtime(time.time() + 8 * 3600 + days * DAY))


class KmsMaint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BUILD:
            raise unittest.SkipTest('TKMS_BUILD is not set')
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        cls.tmp = tempfile.mkdtemp(prefix='tkms-kms-maint-')
        cls.f = {}
        for name, text in (('pin', '123456\n'), ('pw', 'admin-password\n'),
                           ('form', FORM)):
            cls.f[name] = cls.path(name)
            with open(cls.f[name], 'w') as fh:
                fh.write(text)
        # The root as after its initialisation: not in the authorised
        # state. The city HSM is, for the A0 that makes its key.
        cls.root = Hsm(authorised=False, workers=2)
        cls.city = Hsm(authorised=True, workers=2)
        cls.hsms = [cls.root, cls.city]
        cls.kms = None
        for h in cls.hsms:
            h.start()
        for r in ROLES:
            cls.f[r] = cls.path(r + '.card')
            p = cls.root.tkms('hsm', 'card', 'new', '--role', r, '--out',
                              cls.f[r], '--pin-file', cls.f['pin'])
            assert p.returncode == 0, p.stderr
        for h in cls.hsms:
            cls.enrol(h)
        cls.login(cls.root, 'A1', 'A2', 'A3')
        cls.ok(cls.root, 'mkey', 'generate', '--index', '20', '--out',
               cls.path('mkey.bak'), '--pub-out', cls.path('mkey.pub'))
        cls.root.console('logout')
        cls.login(cls.city, 'A1', 'A2', 'A3')
        cls.ok(cls.city, 'mkey', 'import', '--in', cls.path('mkey.pub'))
        cls.city.console('logout')
        assert cls.city.cmd(b'A02509XK2A0')[:4] == b'A100'
        st = cls.ok(cls.city, 'status')
        cls.serial = st['serial']
        cls.identity = st['identity']['fingerprint']
        with open(cls.path('city.pub'), 'w') as fh:
            fh.write(st['identity']['public'] + '\n')
        cls.kms = Kmsd()
        cls.env = dict(os.environ, TKMS_KMS_URL='http://%s:%d' % (
            cls.kms.addr, cls.kms.port))

    @classmethod
    def tearDownClass(cls):
        for h in cls.hsms:
            h.stop()
        if cls.kms is not None:
            cls.kms.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # --- helpers -------------------------------------------------------
    @classmethod
    def path(cls, name):
        return os.path.join(cls.tmp, name)

    @classmethod
    def ok(cls, h, *args):
        p = h.console(*args)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        try:
            return json.loads(p.stdout)
        except ValueError:
            return p.stdout.decode()

    @classmethod
    def enrol(cls, h):
        for r in ROLES:
            if r == 'B':  # after A1-A3: they must be logged in for B, C
                cls.login(h, 'A1', 'A2', 'A3')
            cls.ok(h, 'enrol', '--role', r, '--card', cls.f[r],
                   '--pin-file', cls.f['pin'], '--password-file',
                   cls.f['pw'])
        h.console('logout')

    @classmethod
    def login(cls, h, *roles):
        for r in roles:
            cls.ok(h, 'login', '--role', r, '--card', cls.f[r],
                   '--pin-file', cls.f['pin'], '--password-file',
                   cls.f['pw'])

    def run_tkms(self, *args):
        p = subprocess.run([os.path.join(BUILD, 'tkms')] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=self.env, timeout=120)
        out, err = p.stdout.decode(), p.stderr.decode()
        self.assertNotIn('Sanitizer', err)  # the asan build's tkms
        return p.returncode, out, err

    def kms_as(self, user, *args, ok=True):
        """`tkms kms ARGS --session USER's`: the JSON answer, or (with
        ok=False) the refusal's message."""
        rc, out, err = self.run_tkms(
            'kms', *(list(args) + ['--session', self.path(user + '.kms')]))
        if ok:
            self.assertEqual(rc, 0, (args, out, err))
            return json.loads(out)
        self.assertEqual(rc, 1, (args, out, err))
        return err

    def kms_login(self, user):
        pw = self.path(user + '.pw')
        with open(pw, 'w') as fh:
            fh.write(self.kms.pw[user] + '\n')
        self.kms_as(user, 'login', user, '--password-file', pw)

    def city_maint(self, *args):
        """`tkms maint ARGS` at the city HSM's management port."""
        rc, out, err = self.run_tkms(
            'maint', *(list(args) + [
                '--host', self.city.manage[0], '--port',
                str(self.city.manage[1]), '--session',
                self.city.session_file]))
        self.assertEqual(rc, 0, (args, out, err))
        return json.loads(out)

    def propose_approve(self, kind, payload):
        p = self.kms_as('ca', 'propose', kind, json.dumps(payload))
        a = self.kms_as('cb', 'approve', str(p['id']))
        self.assertEqual(a['state'], 'executed', a)
        return a['result']

    # --- the loop ------------------------------------------------------
    def test_loop(self):
        k = self.kms
        for u in ('ca', 'cb'):
            self.kms_login(u)
        # Two key managers (dual control), made by the configurators.
        for name in ('kma', 'kmb'):
            k.pw[name] = name + '-password'
            pwf = self.path(name + '.pw')
            with open(pwf, 'w') as fh:
                fh.write(k.pw[name] + '\n')
            p = self.kms_as('ca', 'propose', 'user.create',
                            json.dumps({'name': name,
                                        'role': 'key_manager'}),
                            '--password-file', pwf)
            self.kms_as('cb', 'approve', str(p['id']))
            self.kms_login(name)
        # The fleet: the root HSM, and the city HSM with its serial.
        self.propose_approve('hsm.add', {
            'name': 'root', 'role': 'root', 'host': '127.0.0.1',
            'port': self.root.port})
        city_hsm = self.propose_approve('hsm.add', {
            'name': 'gz-city', 'role': 'city', 'city': '5810',
            'host': '127.0.0.1', 'port': self.city.port,
            'serial': self.serial})['id']

        # 配置加密机维保信息 step 1: the city's request.
        self.login(self.city, 'C')
        req = self.path('request.txt')
        r = self.city_maint('request', '--form', self.f['form'], '--out',
                            req)
        self.assertEqual(r['serial'], self.serial)
        # Step 2: imported into the KMS, checked against the identity key
        # the province keeps.
        app = self.kms_as('kma', 'maint', 'import', '--request', req,
                          '--identity', self.path('city.pub'))
        self.assertEqual(app['state'], 'imported')
        self.assertEqual(app['serial'], self.serial)
        self.assertEqual(app['identity'], self.identity)
        self.assertEqual(app['city_code'], '5810')
        self.assertEqual(app['hsm_id'], city_hsm)
        self.assertEqual(app['form']['applicant'], '张三')
        aid = str(app['id'])
        err = self.kms_as('kmb', 'maint', 'import', '--request', req,
                          ok=False)
        self.assertIn('imported already', err)
        # Step 3: the licences, proposed by A.
        lic = self.path('licences.txt')
        with open(lic, 'w') as fh:
            fh.write('# UB on the load key x times until y\n'
                     'UB K2A0 des %d %s\n'
                     'U1,U3 K2A0 des 10 %s\n'
                     % (QUOTA, date_in(200), date_in(200)))
        p = self.kms_as('kma', 'maint', 'licence', aid, '--licences', lic)
        self.assertEqual(p['kind'], 'maint.licence')
        self.assertEqual(p['payload']['seq'], 1)
        self.assertEqual(p['payload']['count'], 3)
        err = self.kms_as('kma', 'approve', str(p['id']), ok=False)
        self.assertIn('another user of your role', err)
        # B approves while the root is not in the authorised state: the
        # root refuses EW, the proposal fails saying so.
        err = self.kms_as('kmb', 'approve', str(p['id']), ok=False)
        self.assertIn('ERR 17', err)
        self.assertIn('tkms hsm auth open', err)
        failed = self.kms_as('kmb', 'proposals', '--state', 'failed')
        self.assertEqual(failed['proposals'][0]['id'], p['id'])
        self.assertEqual(self.kms_as('kma', 'maint', 'show', aid)['state'],
                         'imported')
        # The root's security admin opens it for the signing.
        self.login(self.root, 'C')
        self.ok(self.root, 'auth', 'open', '--minutes', '10')
        p = self.kms_as('kma', 'maint', 'licence', aid, '--licences', lic)
        a = self.kms_as('kmb', 'approve', str(p['id']))
        self.assertEqual(a['state'], 'executed', a)
        self.assertEqual(a['result']['seq'], 1)
        mkey = self.ok(self.root, 'mkey', 'show')
        self.assertEqual(a['result']['mkey'], mkey['fingerprint'])
        self.ok(self.root, 'auth', 'close')
        app = self.kms_as('kma', 'maint', 'show', aid)
        self.assertEqual(app['state'], 'signed')
        self.assertEqual(app['proposal_id'], p['id'])
        listed = self.kms_as('kmb', 'maint', 'list', '--state', 'signed')
        self.assertEqual([x['id'] for x in listed['applications']],
                         [app['id']])
        # Export, and step 4 at the city: applied, then in force.
        upd = self.path('update.txt')
        ex = self.kms_as('kma', 'maint', 'export', aid, '--out', upd)
        self.assertEqual((ex['seq'], ex['serial']), (1, self.serial))
        self.assertEqual(self.kms_as('kma', 'maint', 'show', aid)['state'],
                         'exported')
        res = self.city_maint('apply', '--in', upd)
        self.assertEqual(res['seq'], 1)
        # Step 5: the city's system admin confirms.
        self.city.console('logout')
        self.login(self.city, 'B')
        st = self.city_maint('show')
        self.assertTrue(st['enforce'])
        ub = [x for x in st['licences']
              if (x['cmd'], x['key']) == ('UB', 'K2A0')][0]
        self.assertEqual((ub['remaining'], ub['until_date']),
                         (QUOTA, date_in(200)))
        # The licensed key answers UB exactly QUOTA times, then A1.
        for _ in range(QUOTA):
            self.assertEqual(self.city.cmd(UB)[:4], b'UC00')
        self.assertEqual(self.city.cmd(UB)[:4], b'UCA1')
        self.assertEqual(self.city.cmd(UB)[:4], b'UCA1')
        # The update applies once: a second export is the same file,
        # which the city refuses now.
        upd2 = self.path('update2.txt')
        self.kms_as('kmb', 'maint', 'export', aid, '--out', upd2)
        with open(upd) as a, open(upd2) as b:
            self.assertEqual(a.read(), b.read())
        self.city.console('logout')
        self.login(self.city, 'C')
        rc, out, err = self.run_tkms(
            'maint', 'apply', '--in', upd2, '--host', self.city.manage[0],
            '--port', str(self.city.manage[1]), '--session',
            self.city.session_file)
        self.assertNotEqual(rc, 0)
        self.assertIn('applied already', err)
        # The audit names every step.
        self.kms.pw['sup'] = 'sup-password'
        with open(self.path('sup.pw'), 'w') as fh:
            fh.write('sup-password\n')
        p = self.kms_as('ca', 'propose', 'user.create',
                        json.dumps({'name': 'sup', 'role': 'supervisor'}),
                        '--password-file', self.path('sup.pw'))
        self.kms_as('cb', 'approve', str(p['id']))
        self.kms_login('sup')
        rows = self.kms_as('sup', 'audit', '--limit', '1000')['records']
        actions = [r['action'] for r in rows]
        self.assertEqual(actions.count('maint.import'), 1)
        self.assertEqual(actions.count('maint.export'), 2)
        self.assertIn('proposal.failed', actions)
        self.assertIn('proposal.executed', actions)
        self.assertTrue(self.kms_as('sup', 'audit', 'verify')['ok'])


if __name__ == '__main__':
    unittest.main()
