"""kmslib - a KMS and its HSMs for end-to-end tests (shared by
test_kms_fleet.py and test_crash_kms.py).

    from kmslib import KmsApi, KmsDaemon, put_tk, bu, hsm_cmd

- hsm_cmd, bu: host commands to an hsmlib.Hsm (text in, text out).
- put_tk: the same TK at K001 (DES) / K101 (SM4) of several HSMs, made
  with host commands only; the material it returns (KEK and TK under
  DK / under the KEK) gives the TK to HSMs started later (add_tk).
- KmsDaemon: tkms-kmsd on an ephemeral port, SQLite in a temporary
  directory or PostgreSQL ($TKMS_PG_URL), that can be SIGKILLed and
  restarted on the same database.
- KmsApi: the HTTP API as the tests use it (proposals, approvals, issued
  keys, audit), as class methods over cls.k (a daemon with request())
  and cls.tok (user name -> session token).

Debian's /usr/bin/python3, standard library only.
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from hsmlib import BUILD, SANITIZER_MARKS

PG_URL = os.environ.get('TKMS_PG_URL', '')
START_TIMEOUT = 30.0

GZ, SZ = '5810', '5840'  # Guangzhou, Shenzhen: appendix 1 rows 1 and 2
GZ_ROW, SZ_ROW = 1, 2
NTEMPLATES = 23
PER_CITY = 2 * NTEMPLATES  # keys a business or city HSM holds per city
TK = {'X': 'K001', 'S': 'K101'}
ALG_FLAG = {'DES': 'X', 'SM4': 'S'}


def city_factor(code):
    """kms_city_factor(\"cjt333\", code): CJ/T 333 3.14 (refdata.h)."""
    return code + 'FF0000000000'


def hsm_cmd(h, text, listener=0):
    """A host command (text after the header); the answer as text."""
    return h.cmd(text.encode(), listener=listener).decode()


def add_tk(material, hsms):
    """A6 of the TK under the KEK at TK[s] of every (HSM, listener) in
    hsms, for both libraries; material as put_tk returns it. Returns
    {s: TK KCV}."""
    kcvs = {}
    for s, (kek, tk_under_kek) in material.items():
        got = set()
        for h, listener in hsms:
            r = hsm_cmd(h, 'A6T000%s%s%s%s' % (kek, tk_under_kek, s, TK[s]),
                        listener)
            assert r.startswith('A700'), r
            got.add(r[37:])
        assert len(got) == 1, got
        kcvs[s] = got.pop()
    return kcvs


def put_tk(hsms, s):
    """The same TK at TK[s] of every (HSM, listener) in hsms, with host
    commands only: a KEK under DK at the first HSM (A0 mode 0), a TK
    under DK and the KEK (A0 mode 1), A6 of the TK under the KEK at
    each. The KEK and TK cross the wire under DK or under the KEK only
    (the HSMs share the development DK). Returns {s: (KEK under DK, TK
    under KEK)} for add_tk."""
    h0, l0 = hsms[0]
    r = hsm_cmd(h0, 'A00000' + s, l0)
    assert r.startswith('A100') and len(r) == 4 + 33 + 16, r
    kek = r[4:37]
    r = hsm_cmd(h0, 'A01000%s%s%s' % (s, kek, s), l0)
    assert r.startswith('A100') and len(r) == 4 + 33 + 33 + 16, r
    material = {s: (kek, r[37:70])}
    add_tk(material, hsms)
    return material


def bu(h, type_code, idx, alg, listener=0):
    """(ERR, KCV 16H or '') of the key at K idx of alg's library."""
    r = hsm_cmd(h, 'BU%sK%03X%s' % (type_code, idx, ALG_FLAG[alg]),
                listener)
    assert r[:2] == 'BV', r
    return r[2:4], r[4:]


class KmsClient:
    """The API of a tkms-kmsd at self.addr:self.port, its users' passwords
    in self.pw."""

    def request(self, method, path, body=None, token=None, raw=None,
                headers=None, timeout=120):
        """(status, decoded JSON answer); raw: bytes sent instead of the
        JSON of body."""
        c = http.client.HTTPConnection(self.addr, self.port, timeout=timeout)
        h = dict(headers or {})
        if token:
            h['Authorization'] = 'Bearer ' + token
        data = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            text = r.read()
        finally:
            c.close()
        ctype = r.getheader('Content-Type')
        assert ctype == 'application/json', ctype
        return r.status, json.loads(text)

    def login(self, name, pw=None):
        st, r = self.request('POST', '/api/login',
                             {'name': name, 'password': pw or self.pw[name]})
        assert st == 200, (st, r)
        return r['token']


class KmsDaemon(KmsClient):
    """tkms-kmsd on an ephemeral port with two bootstrap configurators
    ca and cb, its database in a temporary directory (or at PG_URL).
    kill() is a SIGKILL; start() again runs it on the same database (on
    a new port: request() follows)."""

    def __init__(self, extra_args=(), threads=3):
        self.threads = threads
        self.tmp = tempfile.mkdtemp(prefix='tkms-kmsd-')
        self.dir = os.path.join(self.tmp, 'kms')
        self.port_file = os.path.join(self.tmp, 'port')
        self.pw = {'ca': 'ca-password-1', 'cb': 'cb-password-2'}
        self.extra_args = list(extra_args)
        self.proc = None
        self.runs = 0
        self.stderr_path = None
        self.addr, self.port = None, None

    def argv(self):
        args = [os.path.join(BUILD, 'tkms-kmsd'),
                '--listen', '127.0.0.1:0', '--port-file', self.port_file,
                '--threads', str(self.threads)]
        args += ['--db', PG_URL] if PG_URL else ['--dir', self.dir]
        for name in ('ca', 'cb'):
            path = os.path.join(self.tmp, name + '.pw')
            with open(path, 'w') as f:
                f.write(self.pw[name] + '\n')
            args += ['--bootstrap-admin', name, '--password-file', path]
        return args + self.extra_args

    def start(self):
        try:
            os.unlink(self.port_file)
        except FileNotFoundError:
            pass
        self.runs += 1
        self.stderr_path = os.path.join(self.tmp, 'stderr.%d' % self.runs)
        env = dict(os.environ, TKMS_ARGON2_FAST='1')
        with open(self.stderr_path, 'wb') as err:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError('tkms-kmsd did not start:\n'
                                     + self.log())
            time.sleep(0.02)
        with open(self.port_file) as f:
            addr, port = f.read().split()
        self.addr, self.port = addr, int(port)
        return self

    def log(self):
        if not self.stderr_path or not os.path.exists(self.stderr_path):
            return ''
        with open(self.stderr_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def kill(self):
        """SIGKILL: a crash, as far as the daemon can tell."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
        self.proc = None

    def stop(self, check=True):
        """SIGTERM; the exit status and stderr checked."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        log = self.log()
        if check:
            for mark in SANITIZER_MARKS:
                if mark.decode() in log:
                    raise AssertionError('sanitizer report:\n' + log)
            if rc != 0:
                raise AssertionError('tkms-kmsd exited %d:\n%s' % (rc, log))
        shutil.rmtree(self.tmp, ignore_errors=True)



class KmsApi:
    """The API as the KMS tests call it. The class sets k (a daemon) and
    tok (tokens by user name) before using these."""

    k = None
    tok = {}

    @classmethod
    def add_users(cls):
        """Two key managers kma, kmb, a supervisor sup and an auditor aud,
        each created by ca's proposal and cb's approval."""
        k = cls.k
        cls.tok = {'ca': k.login('ca'), 'cb': k.login('cb')}
        for name, role in (('kma', 'key_manager'), ('kmb', 'key_manager'),
                           ('sup', 'supervisor'), ('aud', 'auditor')):
            k.pw[name] = name + '-password'
            p = cls.propose('ca', 'user.create', {
                'name': name, 'role': role, 'password': k.pw[name]})
            p = cls.approve('cb', p['id'])
            assert p['state'] == 'executed', p
            cls.tok[name] = k.login(name)

    @classmethod
    def req(cls, user, method, path, body=None):
        return cls.k.request(method, path, body, token=cls.tok[user])

    @classmethod
    def get(cls, user, path):
        st, r = cls.req(user, 'GET', path)
        assert st == 200, (path, st, r)
        return r

    @classmethod
    def propose(cls, user, kind, payload, expires_in=None):
        body = {'kind': kind, 'payload': payload}
        if expires_in is not None:
            body['expires_in'] = expires_in
        st, p = cls.req(user, 'POST', '/api/proposals', body)
        assert st == 201, (kind, payload, st, p)
        assert p['state'] == 'open' and p['proposer'] == user, p
        return p

    @classmethod
    def approve(cls, user, pid):
        st, p = cls.req(user, 'POST', '/api/proposals/%d/approve' % pid)
        assert st == 200, (pid, st, p)
        # 'approved': execution under way (docs/api.md); wait for its end.
        deadline = time.monotonic() + 120
        while p['state'] == 'approved' and time.monotonic() < deadline:
            time.sleep(0.1)
            p = cls.get(user, '/api/proposals/%d' % pid)
        return p

    @classmethod
    def dual(cls, kind, payload, a='kma', b='kmb'):
        """Proposed by a, approved by b: (status of the approval, its
        answer, the proposal after the decision). An execution that
        fails answers an error (docs/api.md: "whatever applying the kind
        refused (then the proposal is failed)") and the proposal tells
        the rest."""
        p = cls.propose(a, kind, payload)
        st, r = cls.req(b, 'POST', '/api/proposals/%d/approve' % p['id'])
        p = cls.get(b, '/api/proposals/%d' % p['id'])
        return st, r, p

    @classmethod
    def executed(cls, kind, payload, a='kma', b='kmb'):
        """Proposed by a, approved by b, executed: its result."""
        p = cls.propose(a, kind, payload)
        p = cls.approve(b, p['id'])
        assert p['state'] == 'executed', p
        assert p['approver'] == b, p
        return p['result']

    @classmethod
    def audit(cls):
        rows, nxt = [], 1
        while True:
            r = cls.get('aud', '/api/audit?from=%d&limit=1000' % nxt)
            rows += r['records']
            if len(r['records']) < 1000:
                return rows
            nxt = rows[-1]['seq'] + 1

    @classmethod
    def audit_verify(cls):
        """The chain verified by the KMS: asserts ok; the row count."""
        r = cls.get('aud', '/api/audit/verify')
        assert r['ok'] and r['first_bad'] == 0, r
        return r['records']

    @classmethod
    def templates(cls):
        t = cls.get('kma', '/api/templates')['templates']
        assert len(t) == NTEMPLATES, t
        return {x['name']: x for x in t}
