"""test_priv - who the daemons run as (include/tkm/priv.h,
docs/security.md): as root they refuse to start unless told to
(--allow-root, or TKMS_ALLOW_ROOT=1 as the test harness sets), and with
--user NAME they become NAME before opening anything. Each daemon also
disables core dumps (RLIMIT_CORE 0 and not dumpable, so /proc/PID stays
root's although the process is nobody's), and tkms-hsmd keeps DK and the
key slots in pages that are locked in RAM and left out of core dumps
(src/lib/mem.c: smaps shows them with the VmFlags "lo" and "dd"). Needs
root; skipped otherwise.
"""
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

BUILD = os.environ.get('TKMS_BUILD', '')
# The development DK components (tests/e2e/hsmlib.py, docs/keystore.md).
DEV = ','.join(('0123456789ABCDEFFEDCBA9876543210',
                '11111111111111112222222222222222',
                '0F0E0D0C0B0A09080706050403020100'))


def uid_of(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('Uid:'):
                return [int(x) for x in line.split()[1:]]
    return None


def core_limit(pid):
    """(soft, hard) of 'Max core file size' in /proc/PID/limits."""
    with open('/proc/%d/limits' % pid) as f:
        for line in f:
            if line.startswith('Max core file size'):
                w = line.split()
                return (w[4], w[5])
    return None


def locked_undumped_kib(pid):
    """KiB of mappings both mlocked ("lo") and MADV_DONTDUMP ("dd")."""
    total, size = 0, 0
    with open('/proc/%d/smaps' % pid) as f:
        for line in f:
            if line.startswith('Locked:'):
                size = int(line.split()[1])
            elif line.startswith('VmFlags:'):
                flags = line.split()[1:]
                if 'lo' in flags and 'dd' in flags:
                    total += size
    return total


@unittest.skipUnless(BUILD and os.geteuid() == 0, 'needs root and TKMS_BUILD')
class Priv(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='tkms-priv-')
        os.chmod(self.tmp, 0o755)  # nobody must reach its directory
        self.env = dict(os.environ)
        self.env.pop('TKMS_ALLOW_ROOT', None)
        self.nobody = pwd.getpwnam('nobody')

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_daemon(self, name, *args):
        return subprocess.run([os.path.join(BUILD, name)] + list(args),
                              env=self.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=60)

    def test_refuses_root(self):
        for name, args in (('tkms-hsmd', ['--dir', self.tmp + '/h']),
                           ('tkms-kmsd', ['--dir', self.tmp + '/k'])):
            p = self.run_daemon(name, *args)
            self.assertEqual(p.returncode, 2, (name, p.stderr))
            self.assertIn(b'refusing to run as root', p.stderr)
            self.assertFalse(os.path.exists(args[1]))  # nothing opened
            for user, msg in (('root', b'that user is root'),
                              ('no-such-user-tkms', b'no such user')):
                p = self.run_daemon(name, *(args + ['--user', user]))
                self.assertEqual(p.returncode, 2, (name, user, p.stderr))
                self.assertIn(msg, p.stderr)

    def no_core(self, pid):
        self.assertEqual(core_limit(pid), ('0', '0'))
        # A process that is not dumpable has its /proc/PID owned by root
        # even when it runs as nobody (proc(5), PR_SET_DUMPABLE).
        self.assertEqual(os.stat('/proc/%d/status' % pid).st_uid, 0)

    def start_as_nobody(self, name, args, port_file):
        proc = subprocess.Popen(
            [os.path.join(BUILD, name)] + args + ['--user', 'nobody'],
            env=self.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        for _ in range(400):
            if os.path.exists(port_file) or proc.poll() is not None:
                break
            time.sleep(0.05)
        if proc.poll() is not None:
            self.fail(proc.stderr.read())
        with open(port_file) as f:
            port = int(f.readline().split()[1])
        return proc, port

    def stop(self, proc):
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0)
        proc.stderr.close()

    def test_hsmd_as_nobody(self):
        d = os.path.join(self.tmp, 'hsm')
        os.mkdir(d, 0o700)
        os.chown(d, self.nobody.pw_uid, self.nobody.pw_gid)
        conf = os.path.join(d, 'hsmd.conf')
        with open(conf, 'w') as f:
            f.write('listen 127.0.0.1:0\nmanage 127.0.0.1:0\n')
        os.chmod(conf, 0o644)
        ports = os.path.join(d, 'ports')
        proc, port = self.start_as_nobody(
            'tkms-hsmd', ['--dir', d, '--config', conf, '--port-file',
                          ports, '--dev-components', DEV], ports)
        try:
            self.assertEqual(uid_of(proc.pid), [self.nobody.pw_uid] * 4)
            self.no_core(proc.pid)
            # DK (from the development components) and the key slots
            # live in locked, undumped pages: at least the two slot pages.
            self.assertGreaterEqual(locked_undumped_kib(proc.pid), 8)
            # It answers, and what it made belongs to nobody.
            s = socket.create_connection(('127.0.0.1', port), timeout=10)
            body = b'00000000NC'
            s.sendall(struct.pack('>H', len(body)) + body)
            n = struct.unpack('>H', s.recv(2))[0]
            ans = b''
            while len(ans) < n:
                ans += s.recv(n - len(ans))
            s.close()
            self.assertEqual(ans[8:12], b'ND00')
            for e in os.listdir(d):
                if e not in ('hsmd.conf',):
                    self.assertEqual(os.stat(os.path.join(d, e)).st_uid,
                                     self.nobody.pw_uid, e)
        finally:
            self.stop(proc)

    def test_kmsd_as_nobody(self):
        d = os.path.join(self.tmp, 'kms')
        os.mkdir(d, 0o700)
        os.chown(d, self.nobody.pw_uid, self.nobody.pw_gid)
        ports = os.path.join(d, 'port')
        proc, port = self.start_as_nobody(
            'tkms-kmsd', ['--dir', d, '--listen', '127.0.0.1:0',
                          '--port-file', ports, '--web', ''], ports)
        try:
            self.assertEqual(uid_of(proc.pid), [self.nobody.pw_uid] * 4)
            self.no_core(proc.pid)
            self.assertEqual(os.stat(os.path.join(d, 'kms.db')).st_uid,
                             self.nobody.pw_uid)
        finally:
            self.stop(proc)


if __name__ == '__main__':
    unittest.main()
