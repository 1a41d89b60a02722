"""test_cards - the card and PSAM simulator (`tkms card`, docs/card-flows.md)
against real tkms-hsmd processes, keys issued by a real tkms-kmsd.

The fleet (class Fleet, also used by bench/cards.py):
- a root HSM, the provincial business HSM of Guangzhou (5810), the
  clearing HSM and the Guangzhou city HSM, with the development DK; the
  shared TK made with host commands (test_kms_fleet.put_tk);
- tkms-kmsd: key.generate of all 23 templates x DES/SM4 at the root,
  key.issue to the business HSM and (the TAC keys of 5810 and 5840) to the
  clearing HSM, proposed by one key manager and approved by another; the
  key tables the card commands take are `tkms kms issued --hsm ID`;
- the TEST card-transport master keys: `tkms card transport-keys` writes
  the key mother card, the business HSM's security admin enters the
  initial TKs (`tkms hsm tk initial`), `tkms mot import` imports it, the
  TKs are deleted (docs/mot.md);
- the city HSM cloned from the business HSM's DES and SM4 library backups
  (`tkms hsm backup create|restore`), its TK deleted, its business
  listener with the appendix-3 whitelist;
- maintenance licences of the city HSM (maintenance key pair at the root,
  `tkms maint request|sign|apply`): U3 on the DES load_01 key LICENCE
  times.

Checked: every transaction in DES and SM4 - issue (U3 at the city HSM),
PSAM keys, load (UB at the business HSM), purchase (PSAM), EMV (KW; an
SM4 card refuses with 6A81), TACs at the clearing HSM; a MAC1 altered on
its way to the business HSM (a proxy flips a digit) fails with the HSM's
ERR 01; a card whose TAC key is wrong has its TAC refused by the
clearing HSM; the city HSM's U3 licence runs out (ERR A1) - each with the
message that says so, exit 1, and the card's (and PSAM's) state file
unchanged, byte for byte. `tkms card bench` runs (its figures are not
judged here).
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import BUILD, Hsm, frame, read_frame, recv_exact  # noqa: E402
from test_kms_fleet import CITY_L0, put_tk  # noqa: E402
from test_kmsd import Kmsd  # noqa: E402

GZ, SZ = '5810', '5840'
ROLES = ('A1', 'A2', 'A3', 'C')
LICENCE = 4  # U3 uses of the DES load_01 key at the city HSM
TERM = '112233445566'
FORM = """issuer_code=02205810
hsm_number=GZ-CITY-01
organisation=广州市交通一卡通有限公司
applicant=e2e
"""


def date_in(days):
    return time.strftime('%Y-%m-%d', time.gmtime(time.time() + days * 86400))


class Fleet:
    """The HSMs, the KMS and the files of a card simulation."""

    def __init__(self, tmp=None, licence=LICENCE):
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        self.licence = licence
        self.tmp = tmp or tempfile.mkdtemp(prefix='tkms-cards-')
        self.hsm = {}
        self.kms = None
        self.ids = {}
        self.f = {}

    def path(self, name):
        return os.path.join(self.tmp, name)

    # --- processes ------------------------------------------------------
    def tkms(self, *args, timeout=120):
        return subprocess.run([os.path.join(BUILD, 'tkms')] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout)

    def ok(self, *args):
        p = self.tkms(*args)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        out = p.stdout.decode()
        try:
            return json.loads(out)
        except ValueError:
            return out

    def console(self, h, *args):
        p = h.console(*args)
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        try:
            return json.loads(p.stdout)
        except ValueError:
            return p.stdout.decode()

    def mgmt(self, h, *args):
        """`tkms ARGS --host --port --session` of h's management port."""
        return self.ok(*(list(args) + [
            '--host', h.manage[0], '--port', str(h.manage[1]),
            '--session', h.session_file]))

    def login(self, h, *roles):
        for r in roles:
            self.console(h, 'login', '--role', r, '--card', self.f[r],
                         '--pin-file', self.f['pin'], '--password-file',
                         self.f['pw'])

    def enrol(self, h, roles):
        for r in roles:
            if r in ('B', 'C'):
                self.login(h, 'A1', 'A2', 'A3')
            self.console(h, 'enrol', '--role', r, '--card', self.f[r],
                         '--pin-file', self.f['pin'], '--password-file',
                         self.f['pw'])
        h.console('logout')

    def ep(self, name):
        return '127.0.0.1:%d' % self.hsm[name].port

    # --- the KMS --------------------------------------------------------
    def api(self, user, method, path, body=None):
        return self.kms.request(method, path, body, token=self.tok[user])

    def dual(self, kind, payload, a, b):
        st, p = self.api(a, 'POST', '/api/proposals',
                         {'kind': kind, 'payload': payload})
        assert st == 201, (kind, st, p)
        st, p = self.api(b, 'POST', '/api/proposals/%d/approve' % p['id'])
        assert st == 200, (kind, st, p)
        deadline = time.monotonic() + 300
        while p['state'] == 'approved' and time.monotonic() < deadline:
            time.sleep(0.1)
            st, p = self.api(b, 'GET', '/api/proposals/%d' % p['id'])
        assert p['state'] == 'executed', p
        return p['result']

    def kms_cli(self, *args):
        return self.ok('kms', *(list(args) + [
            '--url', 'http://127.0.0.1:%d' % self.kms.port,
            '--session', self.path('kms-session')]))

    # --- set-up ---------------------------------------------------------
    def start(self):
        for name, text in (('pin', '123456'), ('pw', 'admin-password'),
                           ('form', FORM), ('kma.pw', 'kma-password')):
            self.f[name] = self.path(name)
            with open(self.f[name], 'w') as fh:
                fh.write(text if name == 'form' else text + '\n')
        for name in ('root', 'business', 'clearing'):
            self.hsm[name] = Hsm(authorised=True, workers=2).start()
        self.hsm['city'] = Hsm(authorised=True, workers=2, config_lines=[
            'listen 127.0.0.1:0 commands=' + CITY_L0]).start()
        ends = [(self.hsm[n], 0) for n in ('root', 'business', 'clearing')]
        put_tk(ends, 'X')
        put_tk(ends, 'S')
        self.start_kms()
        for r in ('A1', 'A2', 'A3', 'B', 'C'):
            self.f[r] = self.path(r + '.card')
            self.ok('hsm', 'card', 'new', '--role', r, '--out', self.f[r],
                    '--pin-file', self.f['pin'])
        self.enrol(self.hsm['root'], ('A1', 'A2', 'A3'))
        self.enrol(self.hsm['business'], ROLES)
        self.enrol(self.hsm['city'], ROLES)
        self.transport_keys()
        self.clone()
        self.licences()

    def start_kms(self):
        self.kms = Kmsd()
        self.tok = {'ca': self.kms.login('ca'), 'cb': self.kms.login('cb')}
        for name in ('kma', 'kmb'):
            self.kms.pw[name] = name + '-password'
            self.dual('user.create', {'name': name, 'role': 'key_manager',
                                      'password': self.kms.pw[name]},
                      'ca', 'cb')
            self.tok[name] = self.kms.login(name)
        for name, role, city in (('root', 'root', None),
                                 ('business', 'provincial_business', GZ),
                                 ('clearing', 'clearing', None)):
            payload = {'name': name, 'role': role, 'host': '127.0.0.1',
                       'port': self.hsm[name].port, 'header_len': 8}
            if city:
                payload['city'] = city
            self.ids[name] = self.dual('hsm.add', payload, 'ca', 'cb')['id']
        self.dual('key.generate', {'hsm': self.ids['root']}, 'kma', 'kmb')
        r = self.dual('key.issue', {'hsm': self.ids['business']},
                      'kma', 'kmb')
        assert r['keys'] == 46, r
        r = self.dual('key.issue', {'hsm': self.ids['clearing'],
                                    'cities': [GZ, SZ]}, 'kma', 'kmb')
        assert r['keys'] == 4, r
        # The key tables, as an operator gets them.
        self.kms_cli('login', 'kma', '--password-file', self.f['kma.pw'])
        for name in ('business', 'clearing'):
            rows = self.kms_cli('issued', '--hsm', str(self.ids[name]))
            self.f[name + '.keys'] = self.path(name + '-keys.json')
            with open(self.f[name + '.keys'], 'w') as fh:
                json.dump(rows, fh)
        self.keys = {(x['template'], x['alg']): x for x in
                     self.kms_cli('issued', '--hsm',
                                  str(self.ids['business']))['issued_keys']}

    def transport_keys(self):
        """The card factory's TEST master keys into the business HSM,
        the way the ministry's keys come (docs/mot.md)."""
        b = self.hsm['business']
        self.f['transport'] = self.path('transport.card')
        r = self.ok('card', 'transport-keys', '--out', self.f['transport'])
        self.transport_kcv = {k['alg']: k['kcv'] for k in r['keys']}
        self.login(b, 'C')
        self.console(b, 'tk', 'initial')
        self.ok('mot', 'import', '--card', self.f['transport'], '--host',
                '127.0.0.1', '--port', str(b.port))
        self.console(b, 'keys', 'delete', '--lib', 'des', '--index', '000')
        self.console(b, 'keys', 'delete', '--lib', 'sm4', '--index', '100')
        for lib in ('des', 'sm4'):
            self.f[lib + '.bak'] = self.path('business-%s.bak' % lib)
            self.console(b, 'backup', 'create', '--lib', lib, '--out',
                         self.f[lib + '.bak'])
        b.console('logout')

    def clone(self):
        """docs/ceremonies.md 3.1: the city HSM from the business HSM's
        libraries (same DK: the development components)."""
        c = self.hsm['city']
        self.login(c, 'C')
        for lib in ('des', 'sm4'):
            self.console(c, 'backup', 'restore', '--in',
                         self.f[lib + '.bak'])
        self.console(c, 'keys', 'delete', '--lib', 'des', '--index', '001')
        self.console(c, 'keys', 'delete', '--lib', 'sm4', '--index', '101')
        c.console('logout')

    def licences(self):
        root, c = self.hsm['root'], self.hsm['city']
        self.login(root, 'A1', 'A2', 'A3')
        self.console(root, 'mkey', 'generate', '--index', '20', '--out',
                     self.path('mkey.bak'), '--pub-out',
                     self.path('mkey.pub'))
        root.console('logout')
        self.login(c, 'A1', 'A2', 'A3')
        self.console(c, 'mkey', 'import', '--in', self.path('mkey.pub'))
        c.console('logout')
        st = self.console(c, 'status')
        with open(self.path('city.pub'), 'w') as fh:
            fh.write(st['identity']['public'] + '\n')
        self.load01_des = self.keys[('load_01', 'DES')]['index']
        with open(self.path('licences'), 'w') as fh:
            fh.write('U3 %s des %d %s\n'
                     % (self.load01_des, self.licence, date_in(400)))
        self.login(c, 'C')
        self.mgmt(c, 'maint', 'request', '--form', self.f['form'],
                  '--out', self.path('request'))
        self.ok('maint', 'sign', '--request', self.path('request'),
                '--licences', self.path('licences'), '--root',
                self.ep('root'), '--identity', self.path('city.pub'),
                '--mkey', self.path('mkey.pub'), '--out',
                self.path('update'))
        self.mgmt(c, 'maint', 'apply', '--in', self.path('update'))

    def u3_remaining(self):
        st = self.mgmt(self.hsm['city'], 'maint', 'show')
        for lic in st['licences']:
            if lic['cmd'] == 'U3' and lic['key'] == self.load01_des:
                return lic['remaining']
        raise AssertionError('no U3 licence in %r' % st)

    def stop(self, check=True):
        errors = []
        if self.kms is not None:
            try:
                self.kms.stop()
            except AssertionError as e:
                errors.append(e)
        for h in self.hsm.values():
            try:
                h.__exit__(None if check else AssertionError, None, None)
            except AssertionError as e:
                errors.append(e)
        if check and errors:
            raise errors[0]
        if check:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- the card commands, as a host runs them -------------------------
    def issue_args(self):
        return ['--city', self.ep('city'), '--keys', self.f['business.keys']]

    def load_args(self, clearing=True):
        a = ['--business', self.ep('business'), '--keys',
             self.f['business.keys']]
        return a + self.clear_args() if clearing else a

    def clear_args(self):
        return ['--clearing', self.ep('clearing'), '--clearing-keys',
                self.f['clearing.keys'], '--city-code', GZ]


class TamperProxy:
    """Between a client and an HSM listener (header 8): relays frames;
    armed, it flips the last hex digit of every UB request in mode 2 (a
    verification), which for a load's MAC1 check is the MAC1."""

    HDR = 8

    def __init__(self, hsm):
        self.hsm = hsm
        self.armed = False
        self.flipped = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        self.sock.close()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        up = self.hsm.connect()
        try:
            while True:
                (n,) = struct.unpack('>H', recv_exact(c, 2))
                req = recv_exact(c, n)
                body = req[self.HDR:]
                if self.armed and body[:2] == b'UB' and body[3:4] == b'2':
                    last = b'1' if body[-1:] == b'0' else b'0'
                    req = req[:-1] + last
                    self.flipped += 1
                up.sendall(frame(req))
                c.sendall(frame(read_frame(up)))
        except (ConnectionError, OSError):
            pass
        finally:
            up.close()
            c.close()


class CardsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BUILD:
            raise unittest.SkipTest('TKMS_BUILD is not set')
        cls.fl = Fleet()
        try:
            cls.fl.start()
        except BaseException:
            cls.fl.stop(check=False)
            raise
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.fl.stop()

    # --- helpers --------------------------------------------------------
    def card(self, *args, ok=True):
        """`tkms card ARGS`: the JSON answer, or (exit status, stderr)."""
        p = self.fl.tkms('card', *args)
        err = p.stderr.decode()
        self.assertNotIn('Sanitizer', err)
        if ok:
            self.assertEqual(p.returncode, 0, (args, p.stdout, err))
            return json.loads(p.stdout)
        self.assertNotEqual(p.returncode, 0, (args, p.stdout, err))
        self.assertEqual(p.stdout, b'')
        return p.returncode, err

    def fresh(self, name):
        CardsTest.n += 1
        return self.fl.path('%s.%d' % (name, CardsTest.n))

    def asn(self):
        CardsTest.n += 1
        return '3104%s%08d' % (GZ, CardsTest.n)

    def new_card(self, alg, issue=True):
        path = self.fresh('card')
        asn = self.asn()
        r = self.card('new', '--card', path, '--asn', asn, '--alg', alg)
        self.assertEqual((r['alg'], r['asn'], r['balance']), (alg, asn, 0))
        self.assertEqual((r['keys'], r['personalised']),
                         (['ecash_enc'], False))
        if issue:
            r = self.card('issue', '--card', path, *self.fl.issue_args())
            self.assertEqual(r['written'], 23)
            self.assertTrue(r['personalised'])
        return path

    def new_psam(self):
        path = self.fresh('psam')
        r = self.card('psam', '--psam', path, '--term', TERM,
                      *self.fl.issue_args())
        self.assertEqual(r['written'], 4)
        self.assertEqual(r['keys'], [
            {'alg': 'DES', 'version': 1}, {'alg': 'DES', 'version': 2},
            {'alg': 'SM4', 'version': 1}, {'alg': 'SM4', 'version': 2}])
        self.assertEqual((r['term'], r['term_sn']), (TERM, 1))
        return path

    def read(self, path):
        with open(path, 'rb') as fh:
            return fh.read()

    def show(self, path):
        return self.card('show', '--card', path)

    # --- every transaction ----------------------------------------------
    def flow(self, alg):
        card, psam = self.new_card(alg), self.new_psam()
        r = self.show(card)
        keys = [t for t, a in self.fl.keys if a == alg]
        self.assertEqual(sorted(r['keys']), sorted(keys))
        # load 100.00 yuan: MAC1/MAC2 at the business HSM, TAC at clearing
        r = self.card('load', '--card', card, '--amount', '10000',
                      '--term', '000000000042', '--date', '20261123',
                      '--time', '101500', *self.fl.load_args())
        self.assertEqual((r['type'], r['alg'], r['amount'], r['balance'],
                          r['online_sn'], r['term'], r['date'], r['time'],
                          r['tac_verified']),
                         ('load', alg, 10000, 10000, 0, '000000000042',
                          '20261123', '101500', True))
        self.assertEqual(len(r['tac']), 8)
        # without --clearing the TAC is not verified, and it says so
        r = self.card('load', '--card', card, '--amount', '500',
                      *self.fl.load_args(clearing=False))
        self.assertEqual((r['balance'], r['online_sn'], r['tac_verified']),
                         (10500, 1, False))
        # purchase 15.00 through the PSAM, TAC at the clearing HSM
        r = self.card('purchase', '--card', card, '--psam', psam,
                      '--amount', '1500', *self.fl.clear_args())
        self.assertEqual((r['type'], r['amount'], r['balance'],
                          r['offline_sn'], r['term'], r['term_sn'],
                          r['tac_verified']),
                         ('purchase', 1500, 9000, 0, TERM, 1, True))
        r = self.card('purchase', '--card', card, '--psam', psam,
                      '--amount', '9000', '--key-index', '2',
                      *self.fl.clear_args())
        self.assertEqual((r['balance'], r['offline_sn'], r['term_sn'],
                          r['key_index']), (0, 1, 2, 2))
        # more than the balance: the card refuses (9401), nothing changes
        before = (self.read(card), self.read(psam))
        st, err = self.card('purchase', '--card', card, '--psam', psam,
                            '--amount', '1', ok=False)
        self.assertEqual(st, 1)
        self.assertIn('INITIALIZE FOR PURCHASE: the card answers 9401 '
                      '(balance insufficient)', err)
        self.assertEqual((self.read(card), self.read(psam)), before)
        r = self.card('show', '--psam', psam)
        self.assertEqual(r['term_sn'], 3)
        r = self.show(card)
        self.assertEqual((r['balance'], r['online_sn'], r['offline_sn']),
                         (0, 2, 2))
        return card

    def test_10_des(self):
        card = self.flow('DES')
        r = self.card('emv', '--card', card, '--amount', '2000',
                      *self.fl.load_args(clearing=False))
        self.assertEqual((r['atc'], r['arqc_verified'],
                          r['issuer_authentication']), (1, True, '9000'))
        self.assertEqual(len(r['arqc']), 16)
        self.assertEqual(len(r['arpc']), 16)
        r = self.card('emv', '--card', card, '--amount', '1',
                      *self.fl.load_args(clearing=False))
        self.assertEqual(r['atc'], 2)
        self.assertEqual(self.show(card)['atc'], 2)

    def test_20_sm4(self):
        card = self.flow('SM4')
        before = self.read(card)
        st, err = self.card('emv', '--card', card, '--amount', '2000',
                            *self.fl.load_args(clearing=False), ok=False)
        self.assertEqual(st, 1)
        self.assertIn('GENERATE AC: the card answers 6A81', err)
        self.assertIn('3DES only', err)
        self.assertIn('the card file is unchanged', err)
        self.assertEqual(self.read(card), before)

    # --- refusals ---------------------------------------------------------
    def test_30_tampered_mac1(self):
        proxy = TamperProxy(self.fl.hsm['business'])
        try:
            card = self.new_card('DES')
            args = ['--business', '127.0.0.1:%d' % proxy.port, '--keys',
                    self.fl.f['business.keys']]
            r = self.card('load', '--card', card, '--amount', '300', *args)
            self.assertEqual(r['balance'], 300)  # unarmed: it passes
            before = self.read(card)
            proxy.armed = True
            st, err = self.card('load', '--card', card, '--amount', '300',
                                *args, ok=False)
            self.assertEqual(proxy.flipped, 1)
            self.assertEqual(st, 1)
            self.assertIn('load: MAC1 verification (UB): the business HSM '
                          'at 127.0.0.1:%d answers ERR 01' % proxy.port, err)
            self.assertIn('MAC1 does not verify', err)
            self.assertIn('nothing was loaded', err)
            self.assertIn('the card file is unchanged', err)
            self.assertEqual(self.read(card), before)
            self.assertEqual(self.show(card)['balance'], 300)
        finally:
            proxy.close()

    def tamper_tac_key(self, card):
        """The card's TAC key altered in its state file (which holds its
        keys in clear, as a card's memory does)."""
        with open(card) as fh:
            lines = fh.read().split('\n')
        for i, line in enumerate(lines):
            if line.startswith('key tac '):
                k = line[8:]
                lines[i] = 'key tac ' + ('0' if k[0] != '0' else '1') + k[1:]
                break
        else:
            self.fail('no TAC key in %s' % card)
        with open(card, 'w') as fh:
            fh.write('\n'.join(lines))

    def test_40_wrong_tac(self):
        for alg in ('DES', 'SM4'):
            card, psam = self.new_card(alg), self.new_psam()
            self.card('load', '--card', card, '--amount', '5000',
                      *self.fl.load_args())
            self.tamper_tac_key(card)
            before = (self.read(card), self.read(psam))
            # a load: MAC1, MAC2 fine; the TAC refused by the clearing
            st, err = self.card('load', '--card', card, '--amount', '100',
                                *self.fl.load_args(), ok=False)
            self.assertEqual(st, 1)
            self.assertIn('clear: TAC verification (UB): the clearing HSM '
                          'at %s answers ERR 01' % self.fl.ep('clearing'),
                          err)
            self.assertIn('the TAC of the load (SN 1) does not verify', err)
            self.assertIn('the clearing refuses the transaction', err)
            # a purchase likewise, the PSAM file unchanged too
            st, err = self.card('purchase', '--card', card, '--psam', psam,
                                '--amount', '100', *self.fl.clear_args(),
                                ok=False)
            self.assertEqual(st, 1)
            self.assertIn('the TAC of the purchase (SN 0) does not verify',
                          err)
            self.assertIn('the card and PSAM files are unchanged', err)
            self.assertEqual((self.read(card), self.read(psam)), before)
            self.assertEqual(self.show(card)['balance'], 5000)

    def test_50_licence_exhausted(self):
        left = self.fl.u3_remaining()
        self.assertLess(left, LICENCE)  # the DES cards above used it
        for _ in range(left):
            self.new_card('DES')
        self.assertEqual(self.fl.u3_remaining(), 0)
        card = self.new_card('DES', issue=False)
        before = self.read(card)
        st, err = self.card('issue', '--card', card, *self.fl.issue_args(),
                            ok=False)
        self.assertEqual(st, 1)
        self.assertIn('issue: U3 of load_01 (DES %s): the city HSM at %s '
                      'answers ERR A1 (licence count exhausted)'
                      % (self.fl.load01_des, self.fl.ep('city')), err)
        self.assertIn("maintenance licence for U3 on this key is used up",
                      err)
        self.assertIn('the card file is unchanged', err)
        self.assertEqual(self.read(card), before)
        self.assertFalse(self.show(card)['personalised'])
        # an SM4 card's keys have no licence: not limited
        self.new_card('SM4')
        self.assertEqual(self.fl.u3_remaining(), 0)

    # --- the rest ---------------------------------------------------------
    def test_60_bench(self):
        r = self.card('bench', '--cards', '3', '--alg', 'SM4', '--first',
                      '900', '--city', self.fl.ep('city'),
                      '--business', self.fl.ep('business'),
                      *self.fl.load_args()[2:], *self.fl.clear_args())
        self.assertEqual((r['cards'], r['alg'], r['issue']['u3_per_card'],
                          r['load']['hsm_calls_per_load']),
                         (3, 'SM4', 23, 3))
        for part, key in (('issue', 'cards_per_s'), ('load', 'loads_per_s'),
                          ('nc', 'city_us')):
            self.assertGreater(r[part][key], 0)

    def test_70_usage_and_files(self):
        card = self.new_card('SM4')
        # personalised once only
        st, err = self.card('issue', '--card', card, *self.fl.issue_args(),
                            ok=False)
        self.assertEqual(st, 2)
        self.assertIn('personalised already', err)
        # state files are never replaced by new ones
        st, err = self.card('new', '--card', card, '--asn', self.asn(),
                            ok=False)
        self.assertEqual(st, 2)
        self.assertIn('exists', err)
        # a damaged state file: its line and why
        bad = self.fresh('bad')
        with open(bad, 'w') as fh:
            fh.write(self.read(card).decode().replace('balance 0',
                                                      'balance x'))
        st, err = self.card('show', '--card', bad, ok=False)
        self.assertEqual(st, 2)
        self.assertIn('line 5', err)
        # options: unknown to the subcommand, malformed, missing
        for args, why in (
                (['show', '--card', card, '--amount', '1'],
                 'an option it does not take'),
                (['new', '--card', self.fresh('c'), '--asn', '12'],
                 '--asn: malformed'),
                (['load', '--card', card, '--amount', '1'],
                 'a required option is missing'),
                (['load', '--card', card, '--amount', '1', '--business',
                  self.fl.ep('business')], 'needs its key indexes'),
                (['load', '--card', card, '--amount', '1', '--date',
                  '20260230', '--time', '120000', *self.fl.load_args()],
                 'real date')):
            st, err = self.card(*args, ok=False)
            self.assertEqual(st, 2, args)
            self.assertIn(why, err)
        # the clearing keys of two cities without the card's city
        st, err = self.card('load', '--card', card, '--amount', '1',
                            '--business', self.fl.ep('business'),
                            '--keys', self.fl.f['clearing.keys'],
                            '--clearing', self.fl.ep('clearing'),
                            '--clearing-keys', self.fl.f['clearing.keys'],
                            ok=False)
        self.assertEqual(st, 2)
        self.assertIn('keys of several cities', err)
        # an HSM that is not there
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        dead = '127.0.0.1:%d' % s.getsockname()[1]
        s.close()
        before = self.read(card)
        st, err = self.card('load', '--card', card, '--amount', '1',
                            '--business', dead, '--keys',
                            self.fl.f['business.keys'], ok=False)
        self.assertEqual(st, 2)
        self.assertIn('no answer from the business HSM at ' + dead, err)
        self.assertEqual(self.read(card), before)

    def test_80_transport_master(self):
        """The transport masters arrived at the business HSM and, by the
        clone, at the city HSM, with the KCVs of the mother card; the
        initial TKs are gone, and so is the city's TK."""
        b = self.fl.hsm['business']
        for alg, idx, flag in (('DES', 'K7F0', 'X'), ('SM4', 'K7F1', 'S')):
            r = b.cmd(('BU309%s%s' % (idx, flag)).encode()).decode()
            self.assertEqual(r, 'BV00' + self.fl.transport_kcv[alg])
        self.assertEqual(b.cmd(b'BU000K000X'), b'BV12')
        self.assertEqual(b.cmd(b'BU000K100S'), b'BV12')
        c = self.fl.hsm['city']  # its business port has no BU
        self.fl.login(c, 'C')
        keys = {(k['lib'], k['ref']): k for k in
                self.fl.console(c, 'keys', 'list')['keys']}
        for lib, ref, alg in (('des', '7F0', 'DES'), ('sm4', '7F1', 'SM4')):
            self.assertEqual((keys[lib, ref]['type'],
                              keys[lib, ref]['kcv_full']),
                             ('309', self.fl.transport_kcv[alg]))
        for lib, ref in (('des', '000'), ('des', '001'), ('sm4', '100'),
                         ('sm4', '101')):
            self.assertNotIn((lib, ref), keys)

if __name__ == '__main__':
    unittest.main()
