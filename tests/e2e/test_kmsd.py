"""End-to-end tests of tkms-kmsd (docs/api.md): bootstrap, users by
proposal and approval, dual control refused with a clear message, roles,
sessions, garbage and oversized bodies, the audit chain verified and a
tampered row found, and `tkms kms ...` over the same API.

Run by ctest with TKMS_BUILD set. With TKMS_PG_URL set (tests/kms/pg.sh
python3 tests/e2e/test_kmsd.py) the daemon runs on PostgreSQL.
"""
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kmslib import KmsDaemon  # noqa: E402

BUILD = os.environ.get('TKMS_BUILD', '')
PG_URL = os.environ.get('TKMS_PG_URL', '')


class Kmsd(KmsDaemon):
    """kmslib.KmsDaemon, started: tkms-kmsd on an ephemeral port in a
    temporary directory (or at TKMS_PG_URL), with two bootstrap
    configurators ca and cb."""

    def __init__(self):
        super().__init__(threads=2)  # test_slow_hsm_does_not_stall's limit
        self.start()


class KmsdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BUILD:
            raise unittest.SkipTest('TKMS_BUILD is not set')
        cls.k = Kmsd()
        k = cls.k
        cls.ca, cls.cb = k.login('ca'), k.login('cb')
        # Users by proposal and approval: two key managers, a
        # supervisor, an auditor.
        for name, role in (('kma', 'key_manager'), ('kmb', 'key_manager'),
                           ('sup', 'supervisor'), ('aud', 'auditor')):
            k.pw[name] = name + '-password'
            st, p = k.request('POST', '/api/proposals', {
                'kind': 'user.create',
                'payload': {'name': name, 'role': role,
                            'password': k.pw[name]}}, token=cls.ca)
            assert st == 201, (st, p)
            assert p['state'] == 'open' and p['payload']['pwhash'] == \
                '(hidden)', p
            st, p = k.request('POST', '/api/proposals/%d/approve' % p['id'],
                              token=cls.cb)
            assert st == 200 and p['state'] == 'executed', (st, p)

    @classmethod
    def tearDownClass(cls):
        cls.k.stop()

    def test_dual_control_key_managers(self):
        k = self.k
        a, b = k.login('kma'), k.login('kmb')
        st, p = k.request('POST', '/api/proposals', {
            'kind': 'template.update',
            'payload': {'name': 'load_01', 'set': {'category': 'recharge',
                                                    'clearing': 0}}},
            token=a)
        self.assertEqual(st, 201, p)
        pid = p['id']
        st, r = k.request('POST', '/api/proposals/%d/approve' % pid, token=a)
        self.assertEqual(st, 403)
        self.assertEqual(r['error'], 'forbidden')
        self.assertIn('another user of your role must approve', r['message'])
        # A configurator is not a key manager.
        st, r = k.request('POST', '/api/proposals/%d/approve' % pid,
                          token=self.cb)
        self.assertEqual(st, 403)
        st, r = k.request('POST', '/api/proposals/%d/approve' % pid, token=b)
        self.assertEqual(st, 200, r)
        self.assertEqual(r['state'], 'executed')
        self.assertEqual(r['approver'], 'kmb')
        st, r = k.request('POST', '/api/proposals/%d/approve' % pid, token=b)
        self.assertEqual(st, 409)
        # Key managers may not manage users.
        st, r = k.request('POST', '/api/proposals', {
            'kind': 'user.disable', 'payload': {'name': 'aud'}}, token=a)
        self.assertEqual(st, 403)

    def test_slow_hsm_does_not_stall(self):
        """An HSM that accepts and never answers: requests that wait for
        HSMs are limited (here --threads 2: one at a time, 503 past it),
        and everything else is still answered meanwhile."""
        import threading
        k = self.k
        hole = socket.socket()
        hole.bind(('127.0.0.1', 0))
        hole.listen(8)
        held = []

        def swallow():
            while True:
                try:
                    c, _ = hole.accept()
                except OSError:
                    return
                held.append(c)  # never read, never answered
        threading.Thread(target=swallow, daemon=True).start()
        st, p = k.request('POST', '/api/proposals', {
            'kind': 'hsm.add', 'payload': {
                'name': 'blackhole', 'role': 'standby', 'host': '127.0.0.1',
                'port': hole.getsockname()[1]}}, token=self.ca)
        self.assertEqual(st, 201, p)
        st, p = k.request('POST', '/api/proposals/%d/approve' % p['id'],
                          token=self.cb)
        self.assertEqual(st, 200, p)
        hid = p['result']['id']
        first = {}

        def check():
            first['st'], first['r'] = k.request(
                'POST', '/api/hsms/%d/check' % hid, token=self.ca)
        t = threading.Thread(target=check)
        t.start()
        try:
            # Wait until the first check holds the HSM's connection.
            for _ in range(200):
                if held:
                    break
                time.sleep(0.05)
            self.assertTrue(held)
            st, r = k.request('POST', '/api/hsms/%d/check' % hid,
                              token=self.cb)
            self.assertEqual(st, 503, r)
            st, r = k.request('GET', '/api/me', token=self.cb)
            self.assertEqual(st, 200, r)
            self.assertTrue(t.is_alive())  # answered while it waits
        finally:
            t.join()
            hole.close()
            for c in held:
                c.close()
        self.assertEqual(first['st'], 200, first)
        self.assertFalse(first['r']['ok'])
        self.assertEqual(first['r']['health'], 'unreachable')
        self.assertIn('blackhole', first['r']['message'])

    def test_roles_and_sessions(self):
        k = self.k
        st, r = k.request('GET', '/api/me')
        self.assertEqual(st, 401)
        st, r = k.request('GET', '/api/me', token='0' * 64)
        self.assertEqual(st, 401)
        aud = k.login('aud')
        st, r = k.request('GET', '/api/me', token=aud)
        self.assertEqual((st, r['role']), (200, 'auditor'))
        st, r = k.request('POST', '/api/proposals', {
            'kind': 'user.disable', 'payload': {'name': 'kma'}}, token=aud)
        self.assertEqual(st, 403)
        st, r = k.request('GET', '/api/institutions', token=aud)
        self.assertEqual(st, 200)
        cities = [i for i in r['institutions'] if i['kind'] == 'city']
        self.assertEqual(len(cities), 21)
        gz = [c for c in cities if c['city_code'] == '5810'][0]
        self.assertEqual((gz['iin'], gz['cert_record'], gz['issuer_code']),
                         ('310487(03)', '000099', '02205810'))
        kma = k.login('kma')
        st, r = k.request('GET', '/api/audit', token=kma)
        self.assertEqual(st, 403)
        st, r = k.request('GET', '/api/users', token=kma)
        self.assertEqual(st, 403)
        st, r = k.request('POST', '/api/logout', token=aud)
        self.assertEqual(st, 200)
        st, r = k.request('GET', '/api/me', token=aud)
        self.assertEqual(st, 401)
        st, r = k.request('POST', '/api/login',
                          {'name': 'aud', 'password': 'wrong-password'})
        self.assertEqual(st, 401)
        self.assertEqual(r['message'], 'wrong user name or password')
        st, r = k.request('POST', '/api/login',
                          {'name': 'nobody', 'password': 'wrong-password'})
        self.assertEqual((st, r['message']),
                         (401, 'wrong user name or password'))

    def test_lockout(self):
        k = self.k
        k.pw['lock'] = 'lock-password'
        st, p = k.request('POST', '/api/proposals', {
            'kind': 'user.create', 'payload': {
                'name': 'lock', 'role': 'auditor',
                'password': k.pw['lock']}}, token=self.cb)
        self.assertEqual(st, 201)
        st, p = k.request('POST', '/api/proposals/%d/approve' % p['id'],
                          token=self.ca)
        self.assertEqual(st, 200)
        for _ in range(5):
            st, r = k.request('POST', '/api/login',
                              {'name': 'lock', 'password': 'bad-password'})
            self.assertEqual(st, 401)
        st, r = k.request('POST', '/api/login',
                          {'name': 'lock', 'password': k.pw['lock']})
        self.assertEqual(st, 403)
        self.assertIn('locked', r['message'])

    def test_garbage(self):
        k = self.k
        cases = [
            (b'', 400), (b'{', 400), (b'[1,2]', 400), (b'"x"', 400),
            (b'\x00\xff\xfe', 400), (b'{"a":1,"a":2}', 400),
            (b'{"name": 5, "password": []}', 400),
            (b'{"name":"ca","password":"' + b'x' * 70000 + b'"}', 413),
            (b' ' * (1 << 20), 413),
        ]
        for raw, status in cases:
            st, r = k.request('POST', '/api/login', raw=raw,
                              headers={'Content-Type': 'application/json'})
            self.assertEqual(st, status, (raw[:40], r))
            self.assertIn('message', r)
        st, r = k.request('DELETE', '/api/login')
        self.assertEqual(st, 405)
        st, r = k.request('GET', '/api/nothing')
        self.assertEqual(st, 404)
        st, r = k.request('POST', '/api/proposals/0/approve', token=self.ca)
        self.assertEqual(st, 404)
        st, r = k.request('POST', '/api/proposals/99999999/approve',
                          token=self.ca)
        self.assertEqual(st, 404)
        st, r = k.request('POST', '/api/proposals', {'kind': 'user.create'},
                          token=self.ca)
        self.assertEqual(st, 400)
        st, r = k.request('POST', '/api/proposals', {
            'kind': 'user.create', 'payload': {'name': 'x'}}, token=self.ca)
        self.assertEqual(st, 400)
        st, r = k.request('GET', '/api/audit?from=x', token=k.login('sup'))
        self.assertEqual(st, 400)
        # A raw request that is not HTTP: closed, and the server lives.
        s = socket.create_connection((k.addr, k.port), timeout=10)
        s.sendall(b'\x16\x03\x01\x00\xa5garbage\r\n\r\n')
        try:
            s.recv(4096)
        except OSError:
            pass
        s.close()
        st, r = k.request('GET', '/api/me', token=self.ca)
        self.assertEqual(st, 200)

    def test_zz_audit_and_tamper(self):
        # Last (zz): it breaks the chain.
        k = self.k
        sup = k.login('sup')
        st, r = k.request('GET', '/api/audit/verify', token=sup)
        self.assertEqual(st, 200)
        self.assertTrue(r['ok'], r)
        self.assertGreater(r['records'], 10)
        st, r = k.request('GET', '/api/audit?from=1&limit=5', token=sup)
        self.assertEqual(st, 200)
        recs = r['records']
        self.assertEqual([x['seq'] for x in recs], [1, 2, 3, 4, 5])
        self.assertEqual(recs[0]['action'], 'user.bootstrap')
        actions = set()
        st, r = k.request('GET', '/api/audit?limit=1000', token=sup)
        for x in r['records']:
            actions.add(x['action'])
        for a in ('login', 'login.failed', 'proposal.create',
                  'proposal.approve', 'proposal.refused',
                  'request.refused'):
            self.assertIn(a, actions)
        self.assertNotIn('password', json.dumps(r['records']).replace(
            '"reason": "credentials"', ''))
        # The CLI agrees.
        p = self.cli('audit', 'verify', token=sup)
        self.assertEqual(p.returncode, 0, p.stderr)
        if PG_URL:
            return  # the tamper below edits the SQLite file
        db = sqlite3.connect(os.path.join(k.dir, 'kms.db'))
        db.execute("UPDATE audit SET detail = '{\"name\":\"mallory\"}'"
                   " WHERE seq = 3")
        db.commit()
        db.close()
        st, r = k.request('GET', '/api/audit/verify', token=sup)
        self.assertEqual(st, 200)
        self.assertFalse(r['ok'])
        self.assertEqual(r['first_bad'], 3)
        p = self.cli('audit', 'verify', token=sup)
        self.assertEqual(p.returncode, 1)
        self.assertIn('BROKEN at 3', p.stderr.decode())

    def cli(self, *args, token=None, session=None):
        session = session or os.path.join(self.k.tmp, 'cli-session')
        if token is not None:
            with open(session, 'w') as f:
                f.write(token + '\n')
        return subprocess.run(
            [os.path.join(BUILD, 'tkms'), 'kms'] + list(args) +
            ['--url', 'http://%s:%d' % (self.k.addr, self.k.port),
             '--session', session],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)

    def test_cli(self):
        k = self.k
        sa = os.path.join(k.tmp, 'sess-ca')
        sb = os.path.join(k.tmp, 'sess-cb')
        pwf = os.path.join(k.tmp, 'pw-ca')
        with open(pwf, 'w') as f:
            f.write(k.pw['ca'] + '\n')
        p = self.cli('login', 'ca', '--password-file', pwf, session=sa)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.stat(sa).st_mode & 0o777, 0o600)
        self.assertNotIn(b'token', p.stdout)
        p = self.cli('me', session=sa)
        self.assertEqual(json.loads(p.stdout)['name'], 'ca')
        newpw = os.path.join(k.tmp, 'pw-new')
        with open(newpw, 'w') as f:
            f.write('cli-user-password\n')
        p = self.cli('propose', 'user.create',
                     '{"name":"cliuser","role":"auditor"}',
                     '--password-file', newpw, session=sa)
        self.assertEqual(p.returncode, 0, p.stderr)
        pid = json.loads(p.stdout)['id']
        p = self.cli('approve', str(pid), session=sa)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'403', p.stderr)
        self.assertIn(b'another user of your role', p.stderr)
        p = self.cli('approve', str(pid), token=self.cb, session=sb)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)['state'], 'executed')
        p = self.cli('proposals', '--state', 'executed', session=sa)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(pid, [x['id'] for x in json.loads(p.stdout)
                            ['proposals']])
        p = self.cli('propose', 'institution.update',
                     '{"city_code":"6060","set":{"name_en":"Yunfu City"}}',
                     session=sa)
        self.assertEqual(p.returncode, 0, p.stderr)
        pid = json.loads(p.stdout)['id']
        p = self.cli('reject', str(pid), '--reason', 'typo', session=sb)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)['state'], 'rejected')
        p = self.cli('users', session=sa)
        self.assertIn('cliuser', [u['name'] for u in
                                  json.loads(p.stdout)['users']])
        p = self.cli('logout', session=sa)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(sa))
        p = self.cli('me', session=sa)
        self.assertEqual(p.returncode, 1)
        p = subprocess.run([os.path.join(BUILD, 'tkms'), 'kms', 'me',
                            '--url', 'http://127.0.0.1:1', '--session', sa],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        self.assertEqual(p.returncode, 2)


if __name__ == '__main__':
    unittest.main(verbosity=2)
