"""test_kms_fleet - the KMS and a fleet of HSMs end to end (issue #6 item 9).

Five tkms-hsmd on ephemeral ports - a root HSM, the provincial business
HSMs of Guangzhou (5810) and Shenzhen (5840), the clearing HSM and the
Guangzhou city HSM - and tkms-kmsd with two bootstrap configurators. Users
(two key managers, a supervisor, an auditor) and every change go through
proposals and approvals over the HTTP API (docs/api.md); the HSMs share a
TK at K001/K101 made with host commands only (A0 KEK, A0 TK under it, A6
everywhere; as tests/kms/kmshsm.h does).

What is checked:
- hsm.add x5; key.generate of all 23 templates x DES/SM4 at the root; the
  KCVs the KMS records equal what BU answers at every HSM.
- key.issue to both business HSMs, to the city HSM and (the TAC keys of
  both cities) to the clearing HSM; then one card's load-transaction TAC
  (UB scheme 2, the card key derived from the issued key by the card's
  application serial number) is equal in the root (deriving city factor
  and card), business, city and clearing HSMs; the two cities differ.
- The city HSM's business listener 0 has the appendix-3 whitelist (no A6,
  no BU): issuing there fails with the HSM's whitelist message (ERR 68);
  a second listener (NC,A6,BU from 127.0.0.1) is the KMS's own
  (docs/kms-flows.md, "City HSMs: the KMS's own listener").
- Dual control: self-approval and another role's approval 403, an auditor
  proposing 403, approving twice 409, an expired proposal 409 (and nothing
  issued); the refusals and the expiry are in the audit, whose chain
  verifies.
- An HSM stopped in mid-issuance, through a TCP proxy between the KMS and
  the business HSM that SIGKILLs it at the 10th A6, either before
  forwarding it or after the HSM applied it with the answer dropped: the
  proposal fails naming the HSM, no issued row is active that the HSM (on
  restart, same directory) does not hold with that KCV, none is pending,
  and proposing the issuance again completes it (recovering the key whose
  answer was lost) to the planned 46 keys.
- The distribution record (Markdown) names the cities and the KCVs.

Run by ctest with TKMS_BUILD (and TKMS_SOURCE) set. With TKMS_PG_URL set
(tests/kms/pg.sh /usr/bin/python3 tests/e2e/test_kms_fleet.py) tkms-kmsd
runs on PostgreSQL.
"""
import os
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import BUILD, Hsm, frame, read_frame, recv_exact  # noqa: E402
from kmslib import (ALG_FLAG, GZ, GZ_ROW, PER_CITY, SZ,  # noqa: E402
                    SZ_ROW, KmsApi, bu, city_factor, hsm_cmd,
                    put_tk)
from test_kmsd import Kmsd  # noqa: E402

KILL_AT = 10  # the proxy stops the HSM at this A6

# docs/ceremonies.md 3.1 step 4: the city HSM's business whitelist.
CITY_L0 = 'NC,TE,EI,EJ,EH,EP,ER,GM,UB,KW,G1,U1,U3'
# Its second listener, for the KMS only.
CITY_L1 = 'NC,A6,BU'

# One card. The application serial number (10 bytes); card keys are the
# city's key diversified once more by its rightmost 8 bytes (the usual
# e-purse rule, as A8/UB derive: 3DES(K,D)||3DES(K,~D), SM4(K, D||~D)).
ASN = '3104581000001234ABCD'
CARD_FACTOR = ASN[-16:]
# A load (圈存) transaction's TAC input: new balance 4 | online
# transaction number 2 | amount 4 | transaction type 1 (02 load) |
# terminal number 6 | date 4 | time 3.
TAC_DATA = ('000186A0' + '0007' + '00002710' + '02' + '112233445566' +
            '20261123' + '101500')


class Proxy:
    """A TCP proxy between the KMS and one HSM listener (header length
    8), relaying one request and its answer at a time. Armed with
    arm(mode, k), at the k-th A6 it passes through it SIGKILLs the HSM:
    mode 'before' - before forwarding the A6 (the HSM never saw it);
    'lost' - after the HSM answered it, the answer dropped (the key is
    in the HSM, the KMS does not know)."""

    HDR = 8

    def __init__(self, hsm, listener=0):
        self.hsm, self.listener = hsm, listener
        self.lock = threading.Lock()
        self.a6 = 0
        self.mode, self.at, self.fired = None, 0, False
        self.conns = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, mode, k):
        with self.lock:
            self.mode, self.at, self.a6, self.fired = mode, k, 0, False

    def close(self):
        self.closed = True
        self.sock.close()
        with self.lock:
            for c in self.conns:
                c.close()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _upstream(self):
        if self.hsm.proc is None:
            return None
        try:
            return self.hsm.connect(self.listener, timeout=15)
        except OSError:
            return None

    def _serve(self, c):
        up = self._upstream()
        try:
            if up is None:
                return  # the HSM is down: the KMS sees a closed link
            while True:
                try:
                    (n,) = struct.unpack('>H', recv_exact(c, 2))
                    req = recv_exact(c, n)
                except (ConnectionError, OSError):
                    return
                fire = None
                if req[self.HDR:self.HDR + 2] == b'A6':
                    with self.lock:
                        self.a6 += 1
                        if (self.mode and not self.fired and
                                self.a6 == self.at):
                            fire, self.fired = self.mode, True
                if fire == 'before':
                    self.hsm.kill()
                    return
                up.sendall(frame(req))
                answer = read_frame(up)
                if fire == 'lost':
                    self.hsm.kill()
                    return
                c.sendall(frame(answer))
        except (ConnectionError, OSError):
            return
        finally:
            if up is not None:
                up.close()
            c.close()


def tac(h, alg, idx, factors, listener=0):
    """The TAC (4 bytes, 8H) of TAC_DATA under the key at K idx derived
    by factors: UB mode 0, scheme 2 (DES: K_L xor K_R, single-DES
    CBC-MAC; SM4: SM4 CBC-MAC), padding 80 00..., IV zero."""
    s = ALG_FLAG[alg]
    iv = '0' * (32 if s == 'S' else 16)
    req = 'UB%s02509K%03X%d%s0%s%03d%s04' % (
        s, idx, len(factors), ''.join(factors), iv, len(TAC_DATA) // 2,
        TAC_DATA)
    r = hsm_cmd(h, req, listener)
    assert r.startswith('UC00') and len(r) == 12, (req, r)
    return r[4:]


class FleetTest(KmsApi, unittest.TestCase):
    """One fleet and one KMS for the whole class; the tests run in the
    order of their names and build on each other."""

    @classmethod
    def setUpClass(cls):
        if not BUILD:
            raise unittest.SkipTest('TKMS_BUILD is not set')
        cls.hsm = {}
        cls.proxy = {}
        cls.k = None
        try:
            cls._start()
        except BaseException:
            cls._stop(check=False)
            raise

    @classmethod
    def _start(cls):
        for name in ('root', 'gz-business', 'sz-business', 'clearing'):
            cls.hsm[name] = Hsm(authorised=True, workers=2).start()
        cls.hsm['gz-city'] = Hsm(authorised=True, workers=2, config_lines=[
            'listen 127.0.0.1:0 commands=' + CITY_L0,
            'listen 127.0.0.1:0 commands=%s ip=127.0.0.1' % CITY_L1,
        ]).start()
        # The shared TK. The city HSM takes it on its KMS listener (1):
        # listener 0 refuses A6.
        ends = [(cls.hsm[n], 0) for n in
                ('root', 'gz-business', 'sz-business', 'clearing')]
        ends.append((cls.hsm['gz-city'], 1))
        put_tk(ends, 'X')
        put_tk(ends, 'S')
        # The KMS reaches the business HSMs through proxies that can stop
        # them in mid-issuance.
        for name in ('gz-business', 'sz-business'):
            cls.proxy[name] = Proxy(cls.hsm[name])
        cls.k = Kmsd()
        cls.add_users()
        cls.ids = {}  # HSM name -> id in the KMS

    @classmethod
    def _stop(cls, check=True):
        for p in cls.proxy.values():
            p.close()
        errors = []
        if cls.k is not None:
            try:
                cls.k.stop()
            except AssertionError as e:
                errors.append(e)
        for h in cls.hsm.values():
            try:
                h.__exit__(None if check else AssertionError, None, None)
            except AssertionError as e:
                errors.append(e)
        if check and errors:
            raise errors[0]

    @classmethod
    def tearDownClass(cls):
        cls._stop(check=True)

    # --- the API (kmslib.KmsApi and these) ---------------------------
    def failed(self, kind, payload, hsm_name):
        """An approval whose execution fails: the proposal failed, its
        result.error and the answer's message naming the HSM."""
        st, r, p = self.dual(kind, payload)
        self.assertNotEqual(st, 200, r)
        self.assertIn(hsm_name, r['message'])
        self.assertEqual(p['state'], 'failed', p)
        self.assertEqual(p['approver'], 'kmb')
        self.assertIn(hsm_name, p['result']['error'])
        return r, p

    def issued(self, hsm, state=None):
        q = '/api/issued-keys?hsm=%d' % self.ids[hsm]
        if state:
            q += '&state=' + state
        return self.get('sup', q)['issued_keys']

    def assert_audit_ok(self):
        r = self.get('aud', '/api/audit/verify')
        self.assertTrue(r['ok'], r)
        self.assertEqual(r['first_bad'], 0)

    def assert_held(self, rows, hsm_name, listener=0):
        """Every row's key is at its index of hsm_name with the recorded
        KCV (DES 6H, SM4 16H; BU answers 16H)."""
        types = {n: t['type_code'] for n, t in self.templates().items()}
        h = self.hsm[hsm_name]
        for row in rows:
            err, kcv = bu(h, types[row['template']], row['idx'], row['alg'],
                          listener)
            self.assertEqual(err, '00', (hsm_name, row))
            self.assertEqual(len(row['kcv']),
                             6 if row['alg'] == 'DES' else 16, row)
            self.assertEqual(kcv[:len(row['kcv'])], row['kcv'],
                             (hsm_name, row))

    # --- tests, in order ------------------------------------------------
    def test_10_fleet(self):
        l0 = self.hsm['gz-city'].listeners[0][1]
        plan = [
            ('root', 'root', None, self.hsm['root'].port),
            ('gz-business', 'provincial_business', GZ,
             self.proxy['gz-business'].port),
            ('sz-business', 'provincial_business', SZ,
             self.proxy['sz-business'].port),
            ('clearing', 'clearing', None, self.hsm['clearing'].port),
            # Registered first at its business listener, as a
            # configurator who did not read docs/kms-flows.md would:
            # test_40 finds the whitelist and moves it.
            ('gz-city', 'city', GZ, l0),
        ]
        for name, role, city, port in plan:
            payload = {'name': name, 'role': role, 'host': '127.0.0.1',
                       'port': port, 'header_len': 8,
                       'mgmt_host': '127.0.0.1',
                       'mgmt_port': self.hsm[name].manage_port}
            if city:
                payload['city'] = city
            r = self.executed('hsm.add', payload, 'ca', 'cb')
            self.ids[name] = r['id']
        hsms = self.get('aud', '/api/hsms')['hsms']
        self.assertEqual([h['name'] for h in hsms], [p[0] for p in plan])
        for h, (name, role, city, port) in zip(hsms, plan):
            self.assertEqual((h['role'], h['city_code'], h['port'],
                              h['state']), (role, city, port, 'active'))
        # A configurator may not add an HSM alone, a key manager not at
        # all.
        st, r = self.req('kma', 'POST', '/api/proposals', {
            'kind': 'hsm.add', 'payload': {
                'name': 'root2', 'role': 'root', 'host': '127.0.0.1',
                'port': self.hsm['root'].port}})
        self.assertEqual(st, 403, r)
        # Health: every HSM answers NC with the development DK.
        kcvs = set()
        for name in self.ids:
            st, r = self.req('kma', 'POST',
                             '/api/hsms/%d/check' % self.ids[name])
            self.assertEqual(st, 200, r)
            self.assertTrue(r['ok'], (name, r))
            self.assertEqual(r['health'], 'ok')
            self.assertEqual(r['hsm']['health'], 'ok')
            kcvs.add(r['dk_kcv'])
        self.assertEqual(len(kcvs), 1, kcvs)
        self.assertEqual(kcvs.pop(), hsm_cmd(self.hsm['root'], 'NC')[4:20])

    def test_20_dual_control(self):
        """Dual control on kinds of both roles: user.create
        (configurators) and key.generate / key.issue (key managers)."""
        refused = []
        # user.create: self-approval, another role, approving twice.
        p = self.propose('ca', 'user.create', {
            'name': 'aud2', 'role': 'auditor', 'password': 'aud2-password'})
        st, r = self.req('ca', 'POST', '/api/proposals/%d/approve' % p['id'])
        self.assertEqual(st, 403, r)
        self.assertIn('another user of your role must approve',
                      r['message'])
        refused.append((p['id'], 'ca'))
        st, r = self.req('kma', 'POST',
                         '/api/proposals/%d/approve' % p['id'])
        self.assertEqual(st, 403, r)
        refused.append((p['id'], 'kma'))
        self.assertEqual(self.approve('cb', p['id'])['state'], 'executed')
        st, r = self.req('cb', 'POST', '/api/proposals/%d/approve' % p['id'])
        self.assertEqual(st, 409, r)
        # An auditor (or supervisor) proposes nothing.
        for who, kind, payload in (
                ('aud', 'user.create', {'name': 'x', 'role': 'auditor',
                                        'password': 'x-password'}),
                ('aud', 'key.generate', {'hsm': self.ids['root']}),
                ('sup', 'key.generate', {'hsm': self.ids['root']})):
            st, r = self.req(who, 'POST', '/api/proposals',
                             {'kind': kind, 'payload': payload})
            self.assertEqual(st, 403, (who, kind, r))
        # key.generate: the proposer and a configurator may not approve.
        p = self.propose('kma', 'key.generate', {
            'hsm': self.ids['root'], 'templates': ['tac']})
        gen = p['id']
        for who in ('kma', 'cb'):
            st, r = self.req(who, 'POST', '/api/proposals/%d/approve' % gen)
            self.assertEqual(st, 403, (who, r))
            refused.append((gen, who))
        self.assertEqual(self.get('aud', '/api/proposals/%d' % gen)['state'],
                         'open')
        self.assertEqual(self.get('aud', '/api/root-keys')['root_keys'], [])
        # An expired key.issue is not applied, even by the right person.
        p = self.propose('kma', 'key.issue', {'hsm': self.ids['clearing'],
                                               'cities': [GZ]},
                         expires_in=1)
        expired = p['id']
        time.sleep(2.1)
        st, r = self.req('kmb', 'POST',
                         '/api/proposals/%d/approve' % expired)
        self.assertEqual(st, 409, r)
        self.assertIn('expired', r['message'])
        p = self.get('aud', '/api/proposals/%d' % expired)
        self.assertEqual(p['state'], 'expired')
        self.assertEqual(self.issued('clearing'), [])
        # Withdrawn by its proposer: key.generate above, not needed.
        st, r = self.req('kma', 'POST', '/api/proposals/%d/reject' % gen,
                         {'reason': 'test_30 generates everything'})
        self.assertEqual((st, r['state']), (200, 'withdrawn'), r)
        st, r = self.req('kmb', 'POST', '/api/proposals/%d/approve' % gen)
        self.assertEqual(st, 409, r)
        # The audit has every refusal and the expiry; the chain holds.
        rows = self.audit()
        got = {(x['detail'].get('id'), x['actor']) for x in rows
               if x['action'] == 'proposal.refused'}
        for pid, who in refused:
            self.assertIn((pid, who), got)
        self.assertIn(expired, [x['detail'].get('id') for x in rows
                                if x['action'] == 'proposal.expire'])
        self.assert_audit_ok()

    def test_30_generate(self):
        r = self.executed('key.generate', {'hsm': self.ids['root']})
        keys = r['keys']
        self.assertEqual(len(keys), PER_CITY)
        self.assertEqual(sorted({(x['template'], x['alg']) for x in keys}),
                         sorted((t, a) for t in self.templates()
                                for a in ('DES', 'SM4')))
        self.assertFalse(any(x['existed'] for x in keys))
        roots = self.get('sup', '/api/root-keys')['root_keys']
        self.assertEqual(len(roots), PER_CITY)
        for x in roots:
            self.assertEqual((x['state'], x['version'], x['hsm']),
                             ('active', 1, 'root'), x)
            self.assertEqual(x['index'], 'K%03X' % x['idx'])
        self.assert_held(roots, 'root')
        # Again: nothing generated, the same keys.
        r = self.executed('key.generate', {'hsm': self.ids['root'],
                                           'templates': ['tac']}, 'kmb',
                          'kma')
        self.assertEqual(len(r['keys']), 2)
        self.assertTrue(all(x['existed'] for x in r['keys']))

    def test_40_city_whitelist(self):
        """Listener 0 of the city HSM refuses A6 (ERR 68): the issuance
        fails naming the HSM and the whitelist, and nothing is recorded.
        Moved to the KMS's listener, it goes through."""
        city = self.hsm['gz-city']
        self.assertEqual(hsm_cmd(city, 'BU509K308X'), 'BV68')
        r, p = self.failed('key.issue', {'hsm': self.ids['gz-city']},
                           'gz-city')
        self.assertIn('whitelist', p['result']['error'])
        self.assertIn('ERR 68', p['result']['error'])
        self.assertEqual(self.issued('gz-city'), [])
        l1 = city.listeners[1][1]
        self.executed('hsm.update', {'id': self.ids['gz-city'],
                                     'set': {'port': l1}}, 'cb', 'ca')
        self.assertEqual(self.get('sup', '/api/hsms/%d' %
                                  self.ids['gz-city'])['port'], l1)
        r = self.executed('key.issue', {'hsm': self.ids['gz-city']})
        self.assertEqual(r['keys'], PER_CITY)
        (c,) = r['cities']
        self.assertEqual((c['city_code'], c['total'], c['failed']),
                         (GZ, PER_CITY, 0))
        self.assertEqual(c['issued'] + c['existed'], PER_CITY)
        rows = self.issued('gz-city', 'active')
        self.assertEqual(len(rows), PER_CITY)
        self.assertTrue(all(x['city_code'] == GZ for x in rows))
        self.assert_held(rows, 'gz-city', listener=1)

    def stopped_mid_issuance(self, name, city, mode):
        """Issue a city's keys to business HSM name with its proxy armed
        to stop it at the KILL_AT-th A6 (mode as Proxy), check what the
        KMS recorded against the HSM, restart it, issue again."""
        h, proxy = self.hsm[name], self.proxy[name]
        proxy.arm(mode, KILL_AT)
        r, p = self.failed('key.issue', {'hsm': self.ids[name]}, name)
        self.assertTrue(proxy.fired, 'the proxy saw %d A6' % proxy.a6)
        self.assertIn('unreachable', p['result']['error'])
        # What was done before the failure stays in the result.
        self.assertEqual(p['result']['keys'], KILL_AT - 1)
        (c,) = p['result']['cities']
        self.assertEqual((c['city_code'], c['total'], c['issued'],
                          c['existed'], c['failed']),
                         (city, PER_CITY, KILL_AT - 1, 0, 1))
        self.assertIsNone(h.proc)
        # Down: the health check says so, in a 200.
        st, r = self.req('kma', 'POST', '/api/hsms/%d/check' % self.ids[name])
        self.assertEqual(st, 200, r)
        self.assertFalse(r['ok'])
        self.assertEqual(r['health'], 'unreachable')
        self.assertTrue(r['message'])
        # The same directory; the proxy keeps the KMS's port.
        h.start()
        rows = self.issued(name)
        self.assertEqual([x for x in rows if x['state'] == 'pending'], [])
        active = [x for x in rows if x['state'] == 'active']
        self.assertEqual(len(active), KILL_AT - 1, rows)
        self.assert_held(active, name)
        # The key of the stopped A6: in the HSM only when it applied it.
        done = {(x['template'], x['alg']) for x in active}
        tpl = self.templates()
        missing = [(t['type_code'], t['des_index'] if a == 'DES'
                    else t['sm4_index'], a)
                   for t in sorted(tpl.values(), key=lambda t: t['seq'])
                   for a in ('DES', 'SM4') if (t['name'], a) not in done]
        held = [m for m in missing if bu(h, *m)[0] == '00']
        self.assertEqual(len(held), 1 if mode == 'lost' else 0, held)
        # Again: completed, the lost record recovered.
        proxy.arm(None, 0)
        r = self.executed('key.issue', {'hsm': self.ids[name]})
        (c,) = r['cities']
        self.assertEqual((c['city_code'], c['total'], c['failed'],
                          c['existed'], c['issued']),
                         (city, PER_CITY, 0, KILL_AT - 1,
                          PER_CITY - KILL_AT + 1), r)
        if 'recovered' in c:
            self.assertEqual(c['recovered'], 1 if mode == 'lost' else 0)
        rows = self.issued(name)
        self.assertEqual(len(rows), PER_CITY)
        self.assertTrue(all(x['state'] == 'active' and x['city_code'] == city
                            for x in rows), rows)
        self.assert_held(rows, name)

    def test_50_business_gz_answer_lost(self):
        self.stopped_mid_issuance('gz-business', GZ, 'lost')

    def test_51_business_sz_stopped_before(self):
        self.stopped_mid_issuance('sz-business', SZ, 'before')

    def test_52_clearing(self):
        r = self.executed('key.issue', {'hsm': self.ids['clearing'],
                                        'cities': [GZ, SZ]})
        self.assertEqual(r['keys'], 4)
        self.assertEqual([(c['city_code'], c['total'], c['failed'])
                          for c in r['cities']],
                         [(GZ, 2, 0), (SZ, 2, 0)])
        rows = self.issued('clearing', 'active')
        self.assertEqual(sorted((x['city_code'], x['alg'], x['template'],
                                 x['idx']) for x in rows),
                         [(GZ, 'DES', 'tac', 0x500 + GZ_ROW - 1),
                          (GZ, 'SM4', 'tac', 0x600 + GZ_ROW - 1),
                          (SZ, 'DES', 'tac', 0x500 + SZ_ROW - 1),
                          (SZ, 'SM4', 'tac', 0x600 + SZ_ROW - 1)])
        self.assert_held(rows, 'clearing')
        # A business HSM serves its own city only: refused when proposed
        # (docs/api.md: 400, 404, 409) or when applied (failed).
        st, p = self.req('kma', 'POST', '/api/proposals', {
            'kind': 'key.issue', 'payload': {
                'hsm': self.ids['sz-business'], 'cities': [GZ]}})
        if st == 201:
            p = self.approve('kmb', p['id'])
            self.assertEqual(p['state'], 'failed', p)
        else:
            self.assertIn(st, (400, 409), p)
            self.assertIn('5840', p['message'])
        self.assertEqual(len(self.issued('sz-business')), PER_CITY)

    def test_60_same_tac_everywhere(self):
        """One card's load TAC: the root (city factor, then card), the
        business and city HSMs (the city key, then card) and the clearing
        HSM (the city's TAC key, then card) agree; the cities differ.
        The city HSM computes it on its business listener 0."""
        roots = {(x['template'], x['alg']): x for x in
                 self.get('sup', '/api/root-keys?template=tac')['root_keys']}
        self.assertEqual(len(roots), 2)
        holders = {GZ: [('gz-business', 0), ('gz-city', 0),
                        ('clearing', 0)],
                   SZ: [('sz-business', 0), ('clearing', 0)]}
        for alg in ('DES', 'SM4'):
            root = roots[('tac', alg)]
            macs = {}
            for city, where in holders.items():
                want = tac(self.hsm['root'], alg, root['idx'],
                           [city_factor(city), CARD_FACTOR])
                for name, listener in where:
                    (row,) = [x for x in self.issued(name, 'active')
                              if x['template'] == 'tac' and
                              x['alg'] == alg and x['city_code'] == city]
                    self.assertEqual(row['root_key_id'], root['id'])
                    got = tac(self.hsm[name], alg, row['idx'],
                              [CARD_FACTOR], listener)
                    self.assertEqual(got, want, (alg, city, name))
                macs[city] = want
            self.assertNotEqual(macs[GZ], macs[SZ], alg)
        # The card factor matters too: another card, another TAC.
        other = tac(self.hsm['gz-business'], 'DES', roots[('tac', 'DES')]
                    ['idx'], ['5810000012345679'])
        self.assertNotEqual(other, tac(self.hsm['gz-business'], 'DES',
                                       roots[('tac', 'DES')]['idx'],
                                       [CARD_FACTOR]))

    def test_70_kcvs_everywhere(self):
        """Every issued key the KMS knows, checked with BU where it is."""
        rows = self.get('sup', '/api/issued-keys')['issued_keys']
        self.assertEqual(len(rows), 3 * PER_CITY + 4)
        self.assertTrue(all(x['state'] == 'active' for x in rows))
        by = {}
        for x in rows:
            by.setdefault(x['hsm'], []).append(x)
        self.assertEqual(sorted(by), ['clearing', 'gz-business', 'gz-city',
                                      'sz-business'])
        for name, keys in by.items():
            self.assert_held(keys, name, 1 if name == 'gz-city' else 0)
        # The same root key issued to one city's HSMs has one KCV; the
        # other city's differs.
        for root_id in {x['root_key_id'] for x in rows}:
            k = {}
            for x in rows:
                if x['root_key_id'] == root_id:
                    k.setdefault(x['city_code'], set()).add(x['kcv'])
            self.assertEqual(len(k[GZ]), 1, k)
            self.assertEqual(len(k[SZ]), 1, k)
            self.assertNotEqual(k[GZ], k[SZ])

    def test_80_records(self):
        (root,) = [x for x in self.get('kma', '/api/root-keys?template=tac'
                                       '&alg=DES')['root_keys']]
        r = self.get('aud', '/api/records/distribution/%d?format=md' %
                     root['id'])
        self.assertEqual((r['kind'], r['root_key_id'], r['format']),
                         ('distribution', root['id'], 'md'))
        doc = r['document']
        for city in ('广州市', '深圳市'):
            self.assertIn(city, doc)
        self.assertIn(root['kcv'], doc)
        copies = [x for x in self.get('sup', '/api/issued-keys?root_key=%d'
                                      % root['id'])['issued_keys']]
        self.assertEqual(len(copies), 5)  # gz x2, sz, clearing x2
        for x in copies:
            self.assertIn(x['kcv'], doc)
        self.assertIn('record.export', [x['action'] for x in self.audit()])
        # The key's events name both key managers and their proposals.
        ev = self.get('aud', '/api/root-keys/%d' % root['id'])['events']
        self.assertEqual(ev[0]['kind'], 'generated')
        self.assertEqual({e['kind'] for e in ev[1:]}, {'issued'})
        for e in ev:
            self.assertEqual(e['actor'], 'kma+kmb', e)
            p = self.get('aud', '/api/proposals/%d' % e['proposal_id'])
            self.assertEqual(p['kind'], 'key.' + {
                'generated': 'generate', 'issued': 'issue'}[e['kind']])
            self.assertIn(p['state'], ('executed', 'failed'))

    def test_90_audit(self):
        rows = self.audit()
        self.assertEqual([x['seq'] for x in rows],
                         list(range(1, len(rows) + 1)))
        actions = {x['action'] for x in rows}
        for a in ('proposal.create', 'proposal.approve', 'proposal.refused',
                  'proposal.expire', 'proposal.executed', 'proposal.failed',
                  'hsm.check'):
            self.assertIn(a, actions)
        self.assert_audit_ok()


if __name__ == '__main__':
    unittest.main(verbosity=2)
