"""End-to-end tests of the management port (docs/management.md): framing,
bad requests, sessions as far as no card is needed, TLS, and the refusal of
a plain listener off loopback.

Run by ctest with TKMS_BUILD set.
"""
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import Hsm, HsmError, mgmt_frame, read_mgmt  # noqa: E402

MAX = 1 << 20


class Management(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hsm = Hsm(authorised=False, workers=1)
        cls.hsm.start()

    @classmethod
    def tearDownClass(cls):
        cls.hsm.stop()

    def tearDown(self):
        # Whatever a test did, the daemon still answers on both planes.
        self.assertTrue(self.hsm.cmd(b'NC').startswith(b'ND00'))
        self.assertTrue(self.hsm.mgmt('status', session='')['ok'])

    def conn(self):
        s = self.hsm.mgmt_connect(timeout=30)
        self.addCleanup(s.close)
        return s

    def ask(self, s, obj):
        s.sendall(mgmt_frame(obj))
        return read_mgmt(s)

    def assert_closed(self, s):
        s.settimeout(10)
        try:
            self.assertEqual(s.recv(1), b'')
        except ConnectionResetError:
            pass

    # --- answers ------------------------------------------------------
    def test_port_file(self):
        self.assertEqual(self.hsm.manage[0], '127.0.0.1')
        self.assertNotEqual(self.hsm.manage_port, 0)
        self.assertNotIn(self.hsm.manage, self.hsm.listeners)

    def test_status(self):
        r = self.hsm.mgmt('status', session='')
        self.assertTrue(r['ok'], r)
        res = r['result']
        self.assertFalse(res['sealed'])
        self.assertFalse(res['authorised'])
        self.assertEqual(res['dk_kcv'], 'C8FABC567BA0A5C6')
        self.assertEqual(res['roles'], [])
        self.assertNotIn('session', r)

    def test_unknown_op(self):
        r = self.ask(self.conn(), {'op': 'frobnicate'})
        self.assertEqual((r['ok'], r['code']), (False, '60'), r)

    def test_missing_op(self):
        s = self.conn()
        for req in ({}, {'op': 5}, {'args': {}}):
            r = self.ask(s, req)
            self.assertFalse(r['ok'])
            self.assertIn('op', r['error'])

    def test_args_not_object(self):
        r = self.ask(self.conn(), {'op': 'status', 'args': [1]})
        self.assertEqual(r['code'], '15', r)

    def test_needs_login(self):
        s = self.conn()
        for op in ('keys.list', 'auth.open', 'audit.show', 'time.set',
                   'dk.combine', 'unseal', 'logout'):
            r = self.ask(s, {'op': op})
            self.assertEqual((r['ok'], r['code']), (False, '29'), (op, r))

    def test_unknown_session(self):
        r = self.ask(self.conn(), {'op': 'keys.list',
                                   'session': '00' * 16})
        self.assertEqual(r['code'], '29')
        self.assertIn('session', r['error'])

    # --- framing ------------------------------------------------------
    def test_bad_json_keeps_connection(self):
        s = self.conn()
        for body in (b'{', b'not json', b'{"op": "status",}',
                     b'{"op": "status", "op": "status"}', b'\xff\xfe',
                     b'[1, 2]', b'"status"'):
            s.sendall(mgmt_frame(body))
            r = read_mgmt(s)
            self.assertEqual((r['ok'], r['code']), (False, '15'),
                             (body, r))
        self.assertTrue(self.ask(s, {'op': 'status'})['ok'])

    def test_length_zero_closes(self):
        s = self.conn()
        s.sendall(b'\x00\x00\x00\x00')
        r = read_mgmt(s)
        self.assertEqual(r['code'], '51', r)
        self.assert_closed(s)

    def test_oversized_length_closes(self):
        for n in (MAX + 1, 0xFFFFFFFF):
            s = self.conn()
            s.sendall(struct.pack('>I', n) + b'{')
            r = read_mgmt(s)
            self.assertFalse(r['ok'])
            self.assertIn('length', r['error'])
            self.assert_closed(s)

    def test_largest_frame(self):
        # Exactly HSM_MGMT_MAX bytes: read whole, answered (unknown op).
        s = self.conn()
        head, tail = b'{"op": "nope", "pad": "', b'"}'
        body = head + b'x' * (MAX - len(head) - len(tail)) + tail
        self.assertEqual(len(body), MAX)
        s.sendall(mgmt_frame(body))
        self.assertEqual(read_mgmt(s)['code'], '60')

    def test_byte_at_a_time(self):
        s = self.conn()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in mgmt_frame({'op': 'status'}):
            s.send(bytes([b]))
        self.assertTrue(read_mgmt(s)['ok'])

    def test_pipelined(self):
        s = self.conn()
        ops = ['status', 'nope', 'status', 'keys.list'] * 10
        s.sendall(b''.join(mgmt_frame({'op': op}) for op in ops))
        for op in ops:
            r = read_mgmt(s)
            self.assertEqual(r['ok'], op == 'status', (op, r))

    def test_half_frame_then_close(self):
        s = self.conn()
        s.sendall(struct.pack('>I', 100) + b'{"op"')
        s.close()

    # --- the console ---------------------------------------------------
    def test_console_status(self):
        p = self.hsm.console('status')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(json.loads(p.stdout)['sealed'])

    def test_console_refused(self):
        p = self.hsm.console('keys', 'list', '--lib', 'sm4')
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'29', p.stderr)
        p = self.hsm.console('call', 'nope')
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'60', p.stderr)

    def test_console_usage(self):
        self.assertEqual(self.hsm.console('keys', 'frob').returncode, 2)
        self.assertEqual(self.hsm.console('call').returncode, 2)
        self.assertEqual(self.hsm.console('call', 'status', '[').returncode,
                         2)


class Console(unittest.TestCase):
    """The console's login flow with a real card (initialisation: A1
    enrols itself without a login)."""

    @classmethod
    def setUpClass(cls):
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        cls.hsm = Hsm(workers=1, extra_args=())
        cls.hsm.start()
        d = cls.hsm.tmp
        cls.pin = os.path.join(d, 'pin')
        cls.pw = os.path.join(d, 'pw')
        cls.bad = os.path.join(d, 'bad')
        for path, text in ((cls.pin, '123456\n'), (cls.pw, 'pass-word-1\n'),
                           (cls.bad, 'wrong-pass-1\n')):
            with open(path, 'w') as f:
                f.write(text)
        cls.card = os.path.join(d, 'a1.card')
        p = cls.hsm.tkms('hsm', 'card', 'new', '--role', 'A1', '--out',
                         cls.card, '--pin-file', cls.pin)
        assert p.returncode == 0, p.stderr
        p = cls.hsm.console('enrol', '--role', 'A1', '--card', cls.card,
                            '--pin-file', cls.pin, '--password-file', cls.pw)
        assert p.returncode == 0, p.stderr

    @classmethod
    def tearDownClass(cls):
        cls.hsm.stop()

    def login(self, pw=None):
        return self.hsm.console('login', '--role', 'A1', '--card', self.card,
                                '--pin-file', self.pin,
                                '--password-file', pw or self.pw)

    def test_login_logout(self):
        p = self.login()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(self.hsm.session_file))
        self.assertEqual(os.stat(self.hsm.session_file).st_mode & 0o777,
                         0o600)
        st = json.loads(self.hsm.console('status').stdout)
        self.assertEqual(st['roles'], ['A1'])
        self.assertIn('A1', st['enrolled'])
        p = self.hsm.console('logout')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(os.path.exists(self.hsm.session_file))
        st = json.loads(self.hsm.console('status').stdout)
        self.assertEqual(st['roles'], [])

    def test_wrong_password(self):
        p = self.login(self.bad)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'refused', p.stderr)
        self.assertFalse(os.path.exists(self.hsm.session_file))
        # A good login afterwards still works (no lock-out after one).
        self.assertEqual(self.login().returncode, 0)
        self.assertEqual(self.hsm.console('logout').returncode, 0)

    def test_wrong_role_card(self):
        p = self.hsm.console('login', '--role', 'A2', '--card', self.card,
                             '--pin-file', self.pin, '--password-file',
                             self.pw)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b'role A1', p.stderr)


class Config(unittest.TestCase):
    def refused(self, line):
        h = Hsm(config_lines=[line])
        try:
            with self.assertRaises(HsmError) as ctx:
                h.start()
            self.assertIn('exited with 2', str(ctx.exception))
            return h.stderr()
        finally:
            h.stop(check=False)

    def test_plain_off_loopback_refused(self):
        for line in ('manage 0.0.0.0:0', 'manage 10.1.2.3:0',
                     'manage [::]:0'):
            self.assertIn('tls-cert', self.refused(line), line)

    def test_cert_without_key_refused(self):
        self.assertIn('go together',
                      self.refused('manage 127.0.0.1:0 tls-cert=/x'))

    def test_bad_manage_line(self):
        for line in ('manage', 'manage 127.0.0.1', 'manage 127.0.0.1:0 x=1',
                     'manage 127.0.0.1:99999'):
            self.refused(line)


def make_cert(d):
    key, crt = os.path.join(d, 'key.pem'), os.path.join(d, 'cert.pem')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec',
                    '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                    '-keyout', key, '-out', crt, '-days', '2',
                    '-subj', '/CN=tkms-hsmd',
                    '-addext', 'subjectAltName=IP:127.0.0.1'],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return crt, key


class Tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='tkms-tls-')
        cls.crt, key = make_cert(cls.tmp)
        cls.hsm = Hsm(workers=1, config_lines=[
            'manage 127.0.0.1:0 tls-cert=%s tls-key=%s' % (cls.crt, key)])
        cls.hsm.start()

    @classmethod
    def tearDownClass(cls):
        cls.hsm.stop()

    def test_tls_status(self):
        ctx = ssl.create_default_context(cafile=self.crt)
        with socket.create_connection(self.hsm.manage, timeout=30) as raw:
            with ctx.wrap_socket(raw, server_hostname='127.0.0.1') as s:
                s.sendall(mgmt_frame({'op': 'status'}))
                self.assertTrue(read_mgmt(s)['ok'])

    def test_plain_client_gets_nothing(self):
        with socket.create_connection(self.hsm.manage, timeout=30) as s:
            s.sendall(mgmt_frame({'op': 'status'}))
            s.settimeout(10)
            try:
                data = s.recv(100)
            except (ConnectionResetError, socket.timeout):
                data = b''
            self.assertNotIn(b'"ok"', data)

    def test_console_tls(self):
        p = self.hsm.console('status', '--ca', self.crt)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('sealed', json.loads(p.stdout))
        # Without --ca the console speaks plain TCP and gets no answer.
        p = self.hsm.console('status')
        self.assertEqual(p.returncode, 2)


if __name__ == '__main__':
    unittest.main()
