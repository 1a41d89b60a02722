"""test_maint - maintenance licences end to end (docs/maintenance.md), with
the command line as the operators run it: a root HSM with the maintenance
key pair (`mkey generate`), a city HSM that imported its public key; the
city's security admin makes a request (`tkms maint request`), the
province signs an update at the root (`tkms maint sign`, EW over the
business port), the city applies it (`tkms maint apply`) and its system
admin confirms (`tkms maint show`). The licensed key then answers UB
exactly n times, then A1; a renewal makes it work again. Replayed,
altered, wrong-serial, stale-sequence and expired updates are refused and
change nothing; counters and state survive SIGKILL and a restart.

The HSMs start with the development DK components (unsealed) to save the
DK ceremony (test_ceremony.py runs that); cards, logins and every
maintenance step go through `tkms`.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import BUILD, Hsm, frame, read_frame  # noqa: E402

ROLES = ('A1', 'A2', 'A3', 'B', 'C')
IV0 = b'0' * 16
DATA = b'0011223344556677'
# UB, PBOC MAC over 8 bytes with the DES MK at K2A0 (type 509).
UB = b'UBX00509K2A0' + b'00' + IV0 + b'008' + DATA + b'04'
QUOTA = 5
DAY = 86400
FORM = """# 广东省全国交通一卡通加密机维保申请表
issuer_code=02885820
hsm_number=SG-CITY-01
organisation=韶关市交通一卡通有限公司
applicant=张三
address=广东省韶关市
phone=0751-1234567
cards_this_year=120000
cards_next_year=150000
remarks=e2e
"""


def date_in(days):
    return time.strftime('%Y-%m-%d', time.gmtime(time.time() + days * DAY))


class Maint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        cls.tmp = tempfile.mkdtemp(prefix='tkms-maint-')
        cls.f = {}
        for name, text in (('pin', '123456'), ('pw', 'admin-password'),
                           ('form', FORM)):
            cls.f[name] = cls.path(name)
            with open(cls.f[name], 'w') as fh:
                fh.write(text if name == 'form' else text + '\n')
        cls.root = Hsm(authorised=True, workers=2)
        cls.city = Hsm(authorised=True, workers=4)
        cls.other = Hsm(authorised=True, workers=1)
        cls.hsms = [cls.root, cls.city, cls.other]
        for h in cls.hsms:
            h.start()
        for r in ROLES:
            cls.f[r] = cls.path(r + '.card')
            p = cls.root.tkms('hsm', 'card', 'new', '--role', r, '--out',
                              cls.f[r], '--pin-file', cls.f['pin'])
            assert p.returncode == 0, p.stderr
        for h in cls.hsms:
            cls.enrol(h)
        # 加密机初始化: the maintenance key pair at the root (SM2 index
        # 20), its public key imported by the business / city HSMs.
        cls.login(cls.root, 'A1', 'A2', 'A3')
        cls.ok(cls.root, 'mkey', 'generate', '--index', '20', '--out',
               cls.path('mkey.bak'), '--pub-out', cls.path('mkey.pub'))
        for h in (cls.city, cls.other):
            cls.login(h, 'A1', 'A2', 'A3')
            cls.ok(h, 'mkey', 'import', '--in', cls.path('mkey.pub'))
            h.console('logout')
        # The licensed key: a DES master key at K2A0 of the city HSM.
        assert cls.city.cmd(b'A02509XK2A0')[:4] == b'A100'
        st = cls.ok(cls.city, 'status')
        cls.serial = st['serial']
        with open(cls.path('city.pub'), 'w') as fh:
            fh.write(st['identity']['public'] + '\n')
        cls.licences = cls.path('licences')
        with open(cls.licences, 'w') as fh:
            fh.write('# UB on the load key x times until y\n'
                     'UB K2A0 des %d %s\n'
                     'EH 05 sm2 2 %s\n'
                     'U1,U3 K2A0 des 10 %s\n'
                     % (QUOTA, date_in(400), date_in(400), date_in(400)))
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        for h in cls.hsms:
            h.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # --- helpers -------------------------------------------------------
    @classmethod
    def path(cls, name):
        return os.path.join(cls.tmp, name)

    @classmethod
    def fresh(cls, name):
        cls.n += 1
        return cls.path('%s.%d' % (name, cls.n))

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

    def maint(self, h, *args, ok=True):
        """`tkms maint ARGS` against h's management port."""
        argv = [os.path.join(BUILD, 'tkms'), 'maint'] + list(args)
        if h is not None:
            argv += ['--host', h.manage[0], '--port', str(h.manage[1]),
                     '--session', h.session_file]
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        out, err = p.stdout.decode(), p.stderr.decode()
        self.assertNotIn('Sanitizer', err)  # the asan build's tkms
        if ok:
            self.assertEqual(p.returncode, 0, (args, out, err))
            try:
                return json.loads(out)
            except ValueError:
                return out
        self.assertNotEqual(p.returncode, 0, (args, out, err))
        return err

    def request(self, h=None, *extra):
        h = h or self.city
        out = self.fresh('request')
        res = self.maint(h, 'request', '--out', out, '--form',
                         self.f['form'], *extra)
        self.assertEqual(res['serial'], self.serial if h is self.city
                         else res['serial'])
        return out

    def sign(self, request, *extra, ok=True, licences=None):
        out = self.fresh('update')
        r = self.maint(None, 'sign', '--request', request, '--licences',
                       licences or self.licences, '--root',
                       '127.0.0.1:%d' % self.root.port, '--out', out,
                       '--identity', self.path('city.pub'), '--mkey',
                       self.path('mkey.pub'), *extra, ok=ok)
        return out if ok else r

    def apply(self, update, h=None, ok=True):
        return self.maint(h or self.city, 'apply', '--in', update, ok=ok)

    def show(self):
        return self.maint(self.city, 'show')

    def ub(self):
        return self.city.cmd(UB)[:4]

    def licence(self, res, cmd='UB', key='K2A0'):
        for lic in res['licences']:
            if lic['cmd'] == cmd and lic['key'] == key:
                return lic
        self.fail('no licence %s %s in %r' % (cmd, key, res))

    def city_session(self):
        """The security admin (request, apply) and the system admin
        (show, time) of the city HSM, on one session."""
        self.city.console('logout')
        self.login(self.city, 'C', 'B')

    # --- the cycle -----------------------------------------------------
    def test_a_cycle(self):
        self.city_session()
        # 配置加密机维保信息 step 1: the request.
        req = self.request(self.city, '--applicant', '李四')
        with open(req, encoding='utf-8') as fh:
            text = fh.read()
        self.assertTrue(text.startswith('TKMS-MAINT-REQUEST 1\n'))
        self.assertIn('\nserial=%s\n' % self.serial, text)
        self.assertIn('\napplicant=李四\n', text)  # option over the form
        self.assertIn('\norganisation=韶关市交通一卡通有限公司\n', text)
        self.assertIn('\nlast_seq=0\nlast_applied=-\n', text)
        self.assertTrue(text.endswith('\n') and '\nsig=' in text)
        self.assertTrue(self.show()['request_pending'])
        # Steps 2-3: the province checks it and signs an update at the
        # root HSM.
        upd = self.sign(req)
        with open(upd) as fh:
            utext = fh.read()
        self.assertIn('\nserial=%s\nnonce=' % self.serial, utext)
        self.assertIn('\nseq=1\n', utext)
        self.assertIn('\nlic=U3 K2A0 des 10 ', utext)
        # Step 4: imported into the city HSM; step 5: confirmed.
        res = self.apply(upd)
        self.assertEqual(res['seq'], 1)
        st = self.show()
        self.assertTrue(st['enforce'])
        self.assertEqual(st['last_seq'], 1)
        self.assertFalse(st['request_pending'])
        self.assertEqual(len(st['licences']), 4)
        ub = self.licence(st)
        self.assertEqual((ub['remaining'], ub['used']), (QUOTA, 0))
        self.assertEqual(ub['until_date'], date_in(400))
        # The licensed key answers UB exactly QUOTA times, then A1.
        for _ in range(QUOTA):
            self.assertEqual(self.ub(), b'UC00')
        self.assertEqual(self.ub(), b'UCA1')
        self.assertEqual(self.ub(), b'UCA1')
        lic = self.licence(self.show())
        self.assertEqual((lic['remaining'], lic['used']), (0, QUOTA))
        # 加密机维保信息更新: the next request reports the use; the
        # renewal makes the key work again.
        req2 = self.request()
        with open(req2) as fh:
            self.assertIn('\nlast_seq=1\n', fh.read())
        with open(req2) as fh:
            self.assertIn(' des 0 %d ' % QUOTA, fh.read())
        upd2 = self.sign(req2)
        self.assertEqual(self.apply(upd2)['seq'], 2)
        self.assertEqual(self.ub(), b'UC00')
        lic = self.licence(self.show())
        self.assertEqual((lic['remaining'], lic['used']), (QUOTA - 1, 1))
        # Replayed: refused, nothing changes.
        err = self.apply(upd2, ok=False)
        self.assertIn('applied already', err)
        self.assertEqual(self.show()['last_seq'], 2)

    # --- refusals ------------------------------------------------------
    def test_b_refusals(self):
        self.city_session()
        req = self.request()
        upd = self.sign(req)
        before = self.show()
        # Altered: the signature no longer verifies.
        with open(upd) as fh:
            text = fh.read()
        bad = self.fresh('altered')
        with open(bad, 'w') as fh:
            fh.write(text.replace(' des %d ' % QUOTA, ' des 999 ', 1))
        self.assertIn('signature', self.apply(bad, ok=False))
        # For another HSM (its serial).
        self.other.console('logout')
        self.login(self.other, 'C')
        self.assertIn('another HSM',
                      self.apply(upd, h=self.other, ok=False))
        # Made more than 30 days ago by HSM time (B moves the clock).
        self.ok(self.city, 'time', 'set', '--offset', str(31 * DAY))
        self.assertIn('30 days', self.apply(upd, ok=False))
        self.ok(self.city, 'time', 'set', '--offset', '0')
        after = self.show()
        for k in ('last_seq', 'last_applied', 'licences', 'enforce'):
            self.assertEqual(before[k], after[k], k)
        # After all that the genuine update applies.
        self.assertEqual(self.apply(upd)['seq'], before['last_seq'] + 1)
        # Stale sequence: signed with the last applied one.
        req = self.request()
        last = self.show()['last_seq']
        stale = self.sign(req, '--seq', str(last))
        self.assertIn('stale', self.apply(stale, ok=False))
        # An update for an older request than the last one made.
        req_old = self.request()
        upd_old = self.sign(req_old)
        self.request()
        self.assertIn('another request', self.apply(upd_old, ok=False))
        self.assertEqual(self.show()['last_seq'], last)
        # The province refuses an altered request or another HSM's.
        req = self.request()
        with open(req) as fh:
            text = fh.read()
        bad = self.fresh('bad-request')
        with open(bad, 'w') as fh:
            fh.write(text.replace('cards_this_year=120000',
                                  'cards_this_year=999999'))
        self.assertIn('does not verify', self.sign(bad, ok=False))
        other_req = self.request(self.other)
        self.assertIn('another HSM', self.sign(other_req, ok=False))
        # ... and a licences file with a mistake, naming its line.
        lf = self.fresh('licences')
        with open(lf, 'w') as fh:
            fh.write('UB K2A0 des 5 %s\nUB K2A0 aes 5 %s\n'
                     % (date_in(10), date_in(10)))
        self.assertIn(':2: LIB', self.sign(req, ok=False, licences=lf))
        with open(lf, 'w') as fh:
            fh.write('UB K2A0 des 5 %s\n' % date_in(-2))
        self.assertIn('past', self.sign(req, ok=False, licences=lf))
        # Roles: B alone may look but not apply.
        self.city.console('logout')
        self.login(self.city, 'B')
        self.show()
        upd = self.sign(req)
        self.assertIn('29', self.apply(upd, ok=False))

    # --- crash ---------------------------------------------------------
    def test_c_restart(self):
        self.city_session()
        req = self.request()
        self.apply(self.sign(req))
        for _ in range(2):
            self.assertEqual(self.ub(), b'UC00')
        before = self.show()
        self.city.kill()
        self.city.start()
        self.city_session()
        after = self.show()
        for k in ('last_seq', 'last_applied', 'licences', 'enforce',
                  'request_pending'):
            self.assertEqual(before[k], after[k], k)
        lic = self.licence(after)
        self.assertEqual((lic['remaining'], lic['used']), (QUOTA - 2, 2))
        for _ in range(QUOTA - 2):
            self.assertEqual(self.ub(), b'UC00')
        self.assertEqual(self.ub(), b'UCA1')

    # --- concurrency ---------------------------------------------------
    def test_d_concurrent(self):
        """A quota of n gives exactly n answers to 16 clients hammering
        the licensed key at once, each on its own connection."""
        n = 200
        lic = self.fresh('licences')
        with open(lic, 'w') as fh:
            fh.write('UB K2A0 des %d %s\n' % (n, date_in(30)))
        self.city_session()
        self.apply(self.sign(self.request(), licences=lic))
        answers = {}
        lock = threading.Lock()

        def client():
            s = self.city.connect()
            got = {}
            try:
                while True:
                    s.sendall(frame(b'12345678' + UB))
                    code = read_frame(s)[8:12]
                    got[code] = got.get(code, 0) + 1
                    if code != b'UC00':
                        break
            finally:
                s.close()
            with lock:
                for k, v in got.items():
                    answers[k] = answers.get(k, 0) + v

        threads = [threading.Thread(target=client) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(answers.get(b'UC00'), n, answers)
        self.assertEqual(answers.get(b'UCA1'), 16, answers)
        self.assertEqual(set(answers), {b'UC00', b'UCA1'})
        lic = self.licence(self.show())
        self.assertEqual((lic['remaining'], lic['used']), (0, n))


if __name__ == '__main__':
    unittest.main()
