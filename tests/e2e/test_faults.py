"""test_faults - storage faults (issue #9 item 3; docs/keystore.md "Faults",
docs/kms-schema.md "Faults"): a full disk, a read-only directory and
damaged database files give a clear error naming the file and the cause,
never a crash, a silent loss, a half-applied write, or an answer computed
from a damaged key.

tkms-hsmd (key store, licence counters, audit, backups) and tkms-kmsd
(its SQLite database), each with its directory on a small tmpfs:

- disk full while running: key writes (A0), licence decrements (UB on a
  licensed key), management writes (keys.delete, backup restore) and KMS
  writes (proposals, approvals) are refused with the documented code
  (host ERR 41, management code 41 with the cause, HTTP 500 with the
  cause), nothing acknowledged before is lost, a refused write is absent,
  licence counters are exact; once space is freed the next writes succeed
  without a restart, and everything acknowledged survives a restart.
- start on a full disk, or on a read-only file system (fresh or with a
  store): a clear line naming the cause and a non-zero exit.
- damaged files: a flipped byte in a key record (MAC: refused, 01, never
  a KCV), a damaged b-tree page, a garbage header, a truncated file, an
  empty file, garbage in the WAL; the same for kms.db.

Needs root (mount -t tmpfs, mount -o remount,ro); the test harness runs
as root. Without it only what chmod can do is run (a read-only directory
for a non-root user), the rest is skipped with a message and the exit
status is 77 (ctest SKIP_RETURN_CODE), unless something failed.

Run by ctest with TKMS_BUILD set. Debian's /usr/bin/python3.
"""
import errno
import http.client
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import (BUILD, SANITIZER_MARKS, Hsm, HsmError,  # noqa: E402
                    run_tkms)
from test_backup import Admins  # noqa: E402

SKIP_RETURN_CODE = 77
START_TIMEOUT = 30.0
IV0 = b'0' * 16
DATA = b'0011223344556677'
# UB, PBOC MAC over 8 bytes with the licensed DES MK at K2A0 (type 509).
UB = b'UBX00509K2A0' + b'00' + IV0 + b'008' + DATA + b'04'
QUOTA = 8


def can_mount():
    """True if this process may mount a tmpfs (root, not in a user
    namespace that forbids it)."""
    if os.geteuid() != 0 or not shutil.which('mount'):
        return False
    d = tempfile.mkdtemp(prefix='tkms-mnt-')
    try:
        r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=64k',
                            'tmpfs', d], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            return False
        subprocess.run(['umount', d], check=True)
        return True
    finally:
        os.rmdir(d)


MOUNT = can_mount()
NEED_MOUNT = 'needs root to mount a tmpfs: disk-full and read-only ' \
    'file-system cases skipped'


class Tmpfs:
    """A tmpfs of size_k KiB mounted at path (created 0700); fill() takes
    every free byte, free() gives it back, ro()/rw() remount."""

    def __init__(self, path, size_k):
        self.path = path
        os.makedirs(path, mode=0o700, exist_ok=True)
        subprocess.run(['mount', '-t', 'tmpfs', '-o',
                        'size=%dk,mode=0700' % size_k, 'tmpfs', path],
                       check=True)
        self.fill_path = os.path.join(path, 'fill')

    def fill(self):
        fd = os.open(self.fill_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                     0o600)
        try:
            for chunk in (1 << 16, 4096, 512, 64, 1):
                try:
                    while True:
                        os.write(fd, b'\0' * chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
        finally:
            os.close(fd)
        st = os.statvfs(self.path)
        assert st.f_bavail == 0, 'tmpfs not full: %d blocks' % st.f_bavail

    def free(self):
        os.unlink(self.fill_path)

    def ro(self):
        subprocess.run(['mount', '-o', 'remount,ro', self.path], check=True)

    def rw(self):
        subprocess.run(['mount', '-o', 'remount,rw', self.path], check=True)

    def umount(self):
        r = subprocess.run(['umount', self.path], stderr=subprocess.PIPE)
        if r.returncode != 0:  # a daemon still holds it: lazily
            subprocess.run(['umount', '-l', self.path])


def no_sanitizer(testcase, text):
    for mark in SANITIZER_MARKS:
        testcase.assertNotIn(mark.decode(), text)


def answer(r):
    """RSP+ERR of a host-command answer."""
    return r[:4]


def fail_start(testcase, h, *needles):
    """Start h, which must refuse: a non-zero exit (not a signal), no
    sanitizer report, and a log line holding every needle. Returns it."""
    with testcase.assertRaises(HsmError) as cm:
        h.start()
    msg = str(cm.exception)
    testcase.assertIn('exited with', msg)
    rc = int(msg.split('exited with ')[1].split()[0])
    testcase.assertGreater(rc, 0, msg)  # negative: killed by a signal
    log = h.stderr()
    no_sanitizer(testcase, log)
    lines = [l for l in log.splitlines() if all(n in l for n in needles)]
    testcase.assertTrue(lines, 'no line with %r in:\n%s' % (needles, log))
    h.proc = None
    print('tkms-hsmd exit %d: %s' % (rc, lines[0].split(': ', 1)[1]))
    return lines[0]


# --- tkms-hsmd ------------------------------------------------------------
class HsmFaults(unittest.TestCase):
    def setUp(self):
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        self.cleanup = []

    def tearDown(self):
        for fn in reversed(self.cleanup):
            fn()

    def hsm(self, **kw):
        h = Hsm(authorised=True, workers=2, **kw)

        def done():
            h.kill()
            shutil.rmtree(h.tmp, ignore_errors=True)
        self.cleanup.append(done)
        return h

    def mount(self, path, size_k):
        t = Tmpfs(path, size_k)
        self.cleanup.append(t.umount)
        return t

    def kcv(self, h, ref):
        r = h.cmd(b'BU509' + ref)
        return r[4:] if answer(r) == b'BV00' else answer(r)

    # --- disk full, while running ---------------------------------------
    @unittest.skipUnless(MOUNT, NEED_MOUNT)
    def test_disk_full(self):
        root, city = self.hsm(), self.hsm()
        fs = self.mount(city.dir, 8192)
        root.start()
        city.start()
        self.licence(root, city)
        ca = city.admins
        for ref in (b'K010', b'K011'):
            self.assertEqual(answer(city.cmd(b'A02509X' + ref)), b'A100')
        before = {ref: self.kcv(city, ref) for ref in (b'K010', b'K011',
                                                         b'K2A0')}
        bak = os.path.join(city.tmp, 'des.bak')  # not on the tmpfs
        ca.ok('backup', 'create', '--lib', 'des', '--out', bak)
        keys_before = ca.keys()
        used = self.uses(city, 2)  # two UB counted before

        fs.fill()
        # Key writes: each is acknowledged (then kept) or refused with 41
        # (then absent); with the disk full they soon are all refused.
        acked, refused = [], []
        for i in range(64):
            ref = b'K3%02X' % i
            a = answer(city.cmd(b'A02509X' + ref))
            self.assertIn(a, (b'A100', b'A141'), ref)
            (acked if a == b'A100' else refused).append(ref)
            if len(refused) >= 3:
                break
        self.assertGreaterEqual(len(refused), 3, 'no write refused')
        for ref in refused:
            self.assertEqual(self.kcv(city, ref), b'BV12', ref)
        # Reads go on: every key answers as before.
        for ref, kcv in before.items():
            self.assertEqual(self.kcv(city, ref), kcv)
        # Licence decrements: counted, or refused (41) and not counted;
        # never an answer that was not counted.
        full_uses = []
        for _ in range(4):
            a = answer(city.cmd(UB))
            self.assertIn(a, (b'UC00', b'UC41'))
            full_uses.append(a)
        self.assertIn(b'UC41', full_uses)
        used += full_uses.count(b'UC00')
        # Management writes: refused with the cause, nothing changed.
        r = ca.run('keys', 'delete', '--lib', 'des', '--index', '010')
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(b'(41)', r.stderr)
        self.assertIn(b'keys.db: disk full', r.stderr)
        r = ca.run('backup', 'restore', '--in', bak, '--replace')
        self.assertEqual(r.returncode, 1, r)
        self.assertIn(b'nothing restored', r.stderr)
        self.assertIn(b'disk full', r.stderr)
        # A backup written onto the full disk: refused, no partial file.
        out = os.path.join(city.dir, 'x.bak')
        r = ca.run('backup', 'create', '--lib', 'des', '--out', out)
        self.assertNotEqual(r.returncode, 0, r)
        self.assertIn(b'No space left on device', r.stderr)
        self.assertFalse(os.path.exists(out))
        keys_full = ca.keys()
        self.assertEqual({k: v for k, v in keys_full.items()
                          if k in keys_before}, keys_before)
        log = city.stderr()
        self.assertIn('keys.db: disk full', log)
        self.assertIn('audit.db: disk full', log)
        self.assertIn('licences.db: disk full', log)
        print('disk full: %d A0 acknowledged, %d refused (41); UB %s'
              % (len(acked), len(refused),
                 b' '.join(full_uses).decode()))

        # Space back: the next writes succeed, no restart.
        fs.free()
        for ref in acked:
            self.assertEqual(len(self.kcv(city, ref)), 16, ref)
        ca.ok('keys', 'delete', '--lib', 'des', '--index', '011')
        # The library as backed up: K011 back, the K3xx keys gone.
        ca.ok('backup', 'restore', '--in', bak, '--replace')
        self.assertEqual(ca.keys(), keys_before)
        self.assertEqual(answer(city.cmd(b'A02509XK3FF')), b'A100')
        acked = [b'K3FF']
        # Exact counters: what is left is QUOTA minus what was answered.
        used += self.uses(city, QUOTA)
        self.assertEqual(used, QUOTA)
        self.assertEqual(answer(city.cmd(UB)), b'UCA1')
        # Everything acknowledged survives a restart.
        city.stop()
        city.start()
        for ref, kcv in before.items():
            self.assertEqual(self.kcv(city, ref), kcv)
        for ref in acked:
            self.assertEqual(len(self.kcv(city, ref)), 16, ref)
        for ref in refused:
            self.assertEqual(self.kcv(city, ref), b'BV12', ref)
        self.assertEqual(answer(city.cmd(UB)), b'UCA1')
        city.stop()
        root.stop()

    def licence(self, root, city):
        """The maintenance key pair at root (SM2 20), its public key in
        city, a DES MK at city K2A0 licensed for UB QUOTA times."""
        root.admins = Admins(root)
        root.admins.ok('mkey', 'generate', '--index', '20', '--out',
                       os.path.join(root.tmp, 'mkey.bak'), '--pub-out',
                       os.path.join(root.tmp, 'mkey.pub'))
        city.admins = ca = Admins(city)
        ca.ok('mkey', 'import', '--in', os.path.join(root.tmp, 'mkey.pub'))
        self.assertEqual(answer(city.cmd(b'A02509XK2A0')), b'A100')
        st = ca.ok('status')
        pub = os.path.join(city.tmp, 'city.pub')
        with open(pub, 'w') as f:
            f.write(st['identity']['public'] + '\n')
        form = os.path.join(city.tmp, 'form')
        with open(form, 'w', encoding='utf-8') as f:
            f.write('issuer_code=02885820\nhsm_number=F-01\n'
                    'organisation=test\napplicant=test\naddress=test\n'
                    'phone=0\ncards_this_year=1\ncards_next_year=1\n'
                    'remarks=faults\n')
        lic = os.path.join(city.tmp, 'licences')
        until = time.strftime('%Y-%m-%d', time.gmtime(time.time() + 86400 * 30))
        with open(lic, 'w') as f:
            f.write('UB K2A0 des %d %s\n' % (QUOTA, until))
        req, upd = (os.path.join(city.tmp, n) for n in ('req', 'upd'))
        self.maint(city, 'request', '--out', req, '--form', form)
        self.maint(None, 'sign', '--request', req, '--licences', lic,
                   '--root', '127.0.0.1:%d' % root.port, '--out', upd,
                   '--identity', pub, '--mkey',
                   os.path.join(root.tmp, 'mkey.pub'))
        self.maint(city, 'apply', '--in', upd)

    def maint(self, h, *args):
        """`tkms maint ARGS`, against h's management port unless None."""
        p = h.maint(*args) if h is not None else run_tkms('maint', *args)
        self.assertEqual(p.returncode, 0, (args, p.stdout, p.stderr))

    def uses(self, h, n):
        """UB with the licensed key until n were answered or A1."""
        k = 0
        while k < n:
            a = answer(h.cmd(UB))
            if a == b'UCA1':
                break
            self.assertEqual(a, b'UC00')
            k += 1
        return k

    # --- start on a full disk -------------------------------------------
    @unittest.skipUnless(MOUNT, NEED_MOUNT)
    def test_start_disk_full(self):
        h = self.hsm()
        fs = self.mount(h.dir, 1024)
        fs.fill()
        line = fail_start(self, h, 'disk full')
        self.assertIn('.db', line)  # names the file
        fs.free()
        h.start()
        self.assertEqual(answer(h.cmd(b'A02509XK010')), b'A100')
        kcv = self.kcv(h, b'K010')
        h.stop()
        fs.fill()  # a store that exists: no room for its WAL
        fail_start(self, h, 'disk full')
        fs.free()
        h.start()
        self.assertEqual(self.kcv(h, b'K010'), kcv)
        h.stop()

    # --- read-only ------------------------------------------------------
    @unittest.skipUnless(MOUNT, NEED_MOUNT)
    def test_read_only(self):
        h = self.hsm()
        fs = self.mount(h.dir, 2048)
        fs.ro()
        fail_start(self, h, 'read-only')  # a fresh directory
        fs.rw()
        h.start()
        self.assertEqual(answer(h.cmd(b'A02509XK010')), b'A100')
        kcv = self.kcv(h, b'K010')
        a = Admins(h)
        h.stop()
        fs.ro()  # a store that exists
        line = fail_start(self, h, 'read-only')
        self.assertIn('.db', line)
        fs.rw()
        h.start()
        self.assertEqual(self.kcv(h, b'K010'), kcv)
        # The console writing a backup into a read-only directory.
        ro = os.path.join(h.tmp, 'ro')
        t = self.mount(ro, 64)
        t.ro()
        out = os.path.join(ro, 'des.bak')
        a.ok('login', '--role', 'C', '--card', a.cards['C'])
        r = a.run('backup', 'create', '--lib', 'des', '--out', out)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(b'Read-only file system', r.stderr)
        self.assertFalse(os.path.exists(out))
        h.stop()

    def test_read_only_chmod(self):
        """Without root: a directory the daemon may not write."""
        if os.geteuid() == 0:
            self.skipTest('root writes through chmod; the tmpfs cases '
                          'cover read-only as root')
        h = self.hsm()
        os.makedirs(h.dir, mode=0o500)
        fail_start(self, h, 'permission denied')

    # --- damaged files --------------------------------------------------
    def test_corrupt_store(self):
        h = self.hsm()
        h.start()
        for ref in (b'K010', b'K011'):
            self.assertEqual(answer(h.cmd(b'A02509X' + ref)), b'A100')
        kcv = {ref: self.kcv(h, ref) for ref in (b'K010', b'K011')}
        mac = h.cmd(UB.replace(b'K2A0', b'K011'))
        self.assertEqual(answer(mac), b'UC00')
        h.stop()
        ks = os.path.join(h.dir, 'keys.db')
        self.assertFalse(os.path.exists(ks + '-wal'))  # all in the file
        with open(ks, 'rb') as f:
            good = f.read()
        db = sqlite3.connect('file:%s?mode=ro' % ks, uri=True)
        blob = db.execute('SELECT blob FROM keys WHERE lib = 1 AND '
                          'idx = 16').fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE "
                          "name = 'keys'").fetchone()[0]
        db.close()
        psize = int.from_bytes(good[16:18], 'big')
        at = good.find(blob)
        self.assertGreater(at, 0)

        def put(data, wal=None):
            with open(ks, 'wb') as f:
                f.write(data)
            for ext in ('-wal', '-shm'):
                if os.path.exists(ks + ext):
                    os.unlink(ks + ext)
            if wal is not None:
                with open(ks + '-wal', 'wb') as f:
                    f.write(wal)

        # A flipped byte in K010's record: the MAC refuses it (01), the
        # log says which record; never a KCV or a MAC from it, and the
        # index is not free for another key. K011 is untouched.
        d = bytearray(good)
        d[at + len(blob) // 2] ^= 0x01
        put(bytes(d))
        h.start()
        self.assertEqual(self.kcv(h, b'K010'), b'BV01')
        self.assertEqual(answer(h.cmd(UB.replace(b'K2A0', b'K010'))),
                         b'UC01')
        self.assertEqual(answer(h.cmd(b'A02509XK010')), b'A121')
        self.assertEqual(self.kcv(h, b'K011'), kcv[b'K011'])
        self.assertEqual(h.cmd(UB.replace(b'K2A0', b'K011')), mac)
        self.assertIn('keys.db: corrupt or altered record at des 010 '
                      '(fails its MAC)', h.stderr())
        h.stop()

        cases = []
        d = bytearray(good)  # the keys b-tree page: a cell out of range
        off = (root - 1) * psize + (100 if root == 1 else 0)
        d[off + 8:off + 10] = b'\xff\xf0'
        cases.append(('b-tree page', bytes(d), 'keys.db: corrupt'))
        d = bytearray(good)
        d[0:100] = b'\xa5' * 100
        cases.append(('header', bytes(d), 'keys.db: corrupt'))
        cases.append(('truncated', good[:len(good) // 2], 'keys.db: corrupt'))
        cases.append(('page 1 only', good[:psize], 'keys.db: corrupt'))
        cases.append(('empty', b'', 'keys.db: corrupt (an empty file'))
        for name, data, needle in cases:
            with self.subTest(name):
                put(data)
                fail_start(self, h, needle)
        # Garbage where the WAL would be: SQLite takes a WAL whose header
        # or checksums do not match as holding nothing; the file has
        # everything, so nothing is lost.
        for wal in (os.urandom(9000),
                    b'\x37\x7f\x06\x82' + os.urandom(9000)):
            put(good, wal)
            h.start()
            for ref, k in kcv.items():
                self.assertEqual(self.kcv(h, ref), k)
            h.stop()
        # The file put back: the same store, nothing was replaced.
        put(good)
        h.start()
        for ref, k in kcv.items():
            self.assertEqual(self.kcv(h, ref), k)
        h.stop()


# --- tkms-kmsd ------------------------------------------------------------
class Kmsd:
    """tkms-kmsd on DIR (given), with configurators ca and cb."""

    def __init__(self, tmp, kdir):
        self.tmp, self.dir = tmp, kdir
        self.port_file = os.path.join(tmp, 'port')
        self.pw = {'ca': 'ca-password-1', 'cb': 'cb-password-2'}
        self.proc = None
        self.runs = 0
        self.extra = []

    def argv(self):
        args = [os.path.join(BUILD, 'tkms-kmsd'), '--dir', self.dir,
                '--listen', '127.0.0.1:0', '--port-file', self.port_file,
                '--threads', '2']
        for name, pw in self.pw.items():
            path = os.path.join(self.tmp, name + '.pw')
            with open(path, 'w') as f:
                f.write(pw + '\n')
            args += ['--bootstrap-admin', name, '--password-file', path]
        return args + self.extra

    def start(self):
        """True once listening; False if it exited (self.rc, self.log())."""
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        self.runs += 1
        self.err = os.path.join(self.tmp, 'stderr.%d' % self.runs)
        env = dict(os.environ, TKMS_ARGON2_FAST='1')
        with open(self.err, 'wb') as err:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err, env=env)
        deadline = time.monotonic() + START_TIMEOUT
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                self.rc = self.proc.returncode
                self.proc = None
                return False
            if time.monotonic() > deadline:
                raise AssertionError('tkms-kmsd did not start:\n'
                                     + self.log())
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.addr, port = f.read().split()
        self.port = int(port)
        return True

    def log(self):
        with open(self.err, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self.proc = None
        log = self.log()
        for mark in SANITIZER_MARKS:
            assert mark.decode() not in log, log
        assert rc == 0, (rc, log)

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def request(self, method, path, body=None, token=None):
        c = http.client.HTTPConnection(self.addr, self.port, timeout=30)
        h = {'Authorization': 'Bearer ' + token} if token else {}
        c.request(method, path, body=json.dumps(body).encode()
                  if body is not None else None, headers=h)
        r = c.getresponse()
        text = r.read()
        c.close()
        return r.status, json.loads(text)

    def login(self, name):
        st, r = self.request('POST', '/api/login',
                             {'name': name, 'password': self.pw[name]})
        assert st == 200, (st, r)
        return r['token']


def user_proposal(name):
    return {'kind': 'user.create',
            'payload': {'name': name, 'role': 'auditor',
                        'password': name + '-password'}}


class KmsdFaults(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='tkms-kfault-')
        self.cleanup = [lambda: shutil.rmtree(self.tmp, ignore_errors=True)]
        self.k = Kmsd(self.tmp, os.path.join(self.tmp, 'kms'))
        self.cleanup.append(self.k.kill)

    def tearDown(self):
        for fn in reversed(self.cleanup):
            fn()

    def mount(self, path, size_k):
        t = Tmpfs(path, size_k)
        self.cleanup.append(t.umount)
        return t

    def fail_start(self, *needles):
        k = self.k
        self.assertFalse(k.start(), 'tkms-kmsd started')
        self.assertGreater(k.rc, 0)
        log = k.log()
        no_sanitizer(self, log)
        lines = [l for l in log.splitlines() if all(n in l for n in needles)]
        self.assertTrue(lines, 'no line with %r in:\n%s' % (needles, log))
        print('tkms-kmsd exit %d: %s' % (k.rc, lines[0].split(': ', 1)[1]))
        return lines

    @unittest.skipUnless(MOUNT, NEED_MOUNT)
    def test_disk_full(self):
        k = self.k
        fs = self.mount(os.path.join(self.tmp, 'fs'), 8192)
        k.dir = os.path.join(fs.path, 'kms')
        # Idle 20 s: a session's expiry is pushed on at most every 5 s,
        # so the reads below, 5 s after login, try to push it.
        k.extra = ['--session-idle', '20']
        self.assertTrue(k.start(), k.log())
        ca, cb = k.login('ca'), k.login('cb')
        logged_in = time.monotonic()
        st, p0 = k.request('POST', '/api/proposals', user_proposal('u0'),
                           token=ca)
        self.assertEqual(st, 201, p0)
        fs.fill()
        acked, refused = [p0['id']], 0
        for i in range(1, 40):
            st, p = k.request('POST', '/api/proposals',
                              user_proposal('u%d' % i), token=ca)
            self.assertIn(st, (201, 500), p)
            if st == 201:
                acked.append(p['id'])
                continue
            refused += 1
            self.assertEqual(p['message'],
                             'kms.db: disk full (sqlite: database or disk '
                             'is full)')
            if refused >= 3:
                break
        self.assertGreaterEqual(refused, 3)
        st, p = k.request('POST', '/api/proposals/%d/approve' % p0['id'],
                          token=cb)
        self.assertEqual(st, 500, p)
        self.assertIn('disk full', p['message'])
        # Reads go on while the disk is full (a session is not refused
        # because its idle expiry cannot be pushed on), and the refused
        # approval left nothing half-done.
        time.sleep(max(0.0, logged_in + 5.5 - time.monotonic()))
        for _ in range(3):
            st, p = k.request('GET', '/api/proposals/%d' % p0['id'],
                              token=ca)
            self.assertEqual((st, p.get('state')), (200, 'open'), p)
            st, r = k.request('GET', '/api/proposals', token=cb)
            self.assertEqual(st, 200, r)
        self.assertIn('database: kms.db: disk full', k.log())
        fs.free()
        ca, cb = k.login('ca'), k.login('cb')  # however slow the run
        st, p = k.request('POST', '/api/proposals/%d/approve' % p0['id'],
                          token=cb)
        self.assertEqual((st, p.get('state')), (200, 'executed'), p)
        st, p = k.request('POST', '/api/proposals', user_proposal('v'),
                          token=ca)
        self.assertEqual(st, 201, p)
        acked.append(p['id'])
        k.stop()
        self.assertTrue(k.start(), k.log())
        ca = k.login('ca')
        st, r = k.request('GET', '/api/proposals', token=ca)
        self.assertEqual(st, 200)
        have = {p['id']: p for p in r['proposals']}
        for pid in acked:
            self.assertIn(pid, have)
        self.assertEqual(len(have), len(acked))  # no refused one half-made
        self.assertEqual(have[p0['id']]['state'], 'executed')
        st, u = k.request('GET', '/api/users', token=ca)
        self.assertIn('u0', [x['name'] for x in u['users']])
        k.stop()

    @unittest.skipUnless(MOUNT, NEED_MOUNT)
    def test_start_faults(self):
        k = self.k
        fs = self.mount(os.path.join(self.tmp, 'fs'), 1024)
        k.dir = os.path.join(fs.path, 'kms')
        fs.fill()
        self.fail_start('database:', 'kms.db: disk full')
        fs.free()
        self.assertTrue(k.start(), k.log())
        k.stop()
        fs.fill()  # a database that exists
        self.fail_start('database:', 'kms.db: disk full')
        fs.free()
        self.assertTrue(k.start(), k.log())
        k.stop()
        fs.ro()
        self.fail_start('database:', 'kms.db: read-only')
        fs.rw()
        self.assertTrue(k.start(), k.log())
        k.stop()

    def test_corrupt(self):
        k = self.k
        self.assertTrue(k.start(), k.log())
        ca = k.login('ca')
        st, p = k.request('POST', '/api/proposals', user_proposal('u0'),
                          token=ca)
        self.assertEqual(st, 201, p)
        k.stop()
        path = os.path.join(k.dir, 'kms.db')
        self.assertFalse(os.path.exists(path + '-wal'))
        with open(path, 'rb') as f:
            good = f.read()
        d = bytearray(good)
        d[0:100] = b'\x5a' * 100
        d2 = bytearray(good)  # every b-tree page header but page 1's
        psize = int.from_bytes(good[16:18], 'big')
        for off in range(psize, len(d2), psize):
            d2[off:off + 8] = b'\xff' * 8
        for name, data, needle in (
                ('header', bytes(d), 'kms.db: corrupt: not a database'),
                ('pages', bytes(d2), 'kms.db: corrupt'),
                ('truncated', good[:len(good) // 3], 'kms.db: corrupt'),
                ('empty', b'', 'kms.db: corrupt (an empty file')):
            with self.subTest(name):
                with open(path, 'wb') as f:
                    f.write(data)
                self.fail_start('database:', needle)
        with open(path, 'wb') as f:
            f.write(good)
        self.assertTrue(k.start(), k.log())
        st, r = k.request('GET', '/api/proposals', token=k.login('ca'))
        self.assertEqual([p['id'] for p in r['proposals']], [p['id']])
        k.stop()


if __name__ == '__main__':
    if not BUILD:
        print('TKMS_BUILD is not set')
        sys.exit(1)
    prog = unittest.main(verbosity=2, exit=False)
    ok = prog.result.wasSuccessful()
    if ok and not MOUNT:
        print('SKIPPED: %s (exit %d)' % (NEED_MOUNT, SKIP_RETURN_CODE))
        sys.exit(SKIP_RETURN_CODE)
    sys.exit(0 if ok else 1)
