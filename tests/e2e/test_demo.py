"""test_demo - `tkms demo` (docs/demo.md) end to end: a reduced run
(`tkms demo --cards 10 --dir TMP`) whose exit status and report are
checked, every daemon it started gone afterwards; an interrupted run
(SIGINT) that leaves no process behind and keeps its directory; usage
errors.

Password hashing runs at the test cost (TKMS_ARGON2_FAST=1), so that the
run takes seconds.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import SANITIZER_MARKS  # noqa: E402

BUILD = os.environ.get('TKMS_BUILD', '')
RUN_TIMEOUT = 600

# The card phase (src/cli/demo_cards.c) is not built yet: the demo ends
# "incomplete", exit status 3, with every other check ok. When the card
# phase exists, switch these two to 0 and 'PASSED' (and CARDS_NOTE to
# None): the rest of the test stays as it is.
EXPECTED_STATUS = 3
EXPECTED_RESULT = 'INCOMPLETE'
CARDS_NOTE = 'not built yet'

PHASES = ['daemons started', 'root HSM ceremony',
          'business and clearing HSM ceremonies', 'KMS users and HSMs',
          'root keys and issuance', 'city HSM 5810 cloned',
          'maintenance licences', 'cards', 'daemons stopped']


def demo_env():
    return dict(os.environ, TKMS_ARGON2_FAST='1')


def pids_in(text):
    """The pids of the daemons the demo printed ('pid 1234')."""
    return [int(p) for p in re.findall(r'\bpid (\d+)', text)]


def alive(pid):
    """True if pid runs and is not a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def sanitizer_reports(root):
    found = []
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith('.log'):
                with open(os.path.join(dirpath, name), 'rb') as f:
                    log = f.read()
                found += [name for m in SANITIZER_MARKS if m in log]
    return found


class Demo(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='tkms-demo-test-')
        self.dir = os.path.join(self.tmp, 'demo')

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def tkms(self, *args, timeout=RUN_TIMEOUT):
        return subprocess.run([os.path.join(BUILD, 'tkms')] + list(args),
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=demo_env(),
                              timeout=timeout)

    def test_reduced_run(self):
        p = self.tkms('demo', '--cards', '10', '--dir', self.dir)
        out = p.stdout.decode('utf-8', 'replace')
        self.assertEqual(p.returncode, EXPECTED_STATUS,
                         out + p.stderr.decode('utf-8', 'replace'))
        self.assertNotIn('FAILED', out.split('== tkms demo report')[0])
        # the report: every phase with its time and checks
        report = out.split('== tkms demo report')[1]
        for n, name in enumerate(PHASES, 1):
            m = re.search(r'^\s*%d %s\s+(\d+\.\d) s  (.*)$'
                          % (n, re.escape(name)), report, re.M)
            self.assertIsNotNone(m, (name, report))
            if name == 'cards' and CARDS_NOTE:
                self.assertEqual(m.group(2), CARDS_NOTE)
            else:
                self.assertRegex(m.group(2), r'^[1-9]\d* ok$', name)
        total = re.search(r'^\s*total\s+\d+\.\d s  (\d+) ok, (\d+) FAILED',
                          report, re.M)
        self.assertIsNotNone(total, report)
        self.assertGreater(int(total.group(1)), 100)
        self.assertEqual(total.group(2), '0')
        self.assertIn('result: %s' % EXPECTED_RESULT, report)
        # what was compared, in the words of the checks
        for line in (
                r'ok\s+root DK component A1: KCV ([0-9A-F]{6}) = envelope \1',
                r'ok\s+biz-5840 TK des K001: KCV ([0-9A-F]{16}) = root\'s \1',
                r'ok\s+biz-5810 maintenance public key: fingerprint '
                r'([0-9A-F]{16}) = root\'s \1',
                r'ok\s+biz-5810 ministry keys: 2 imported from the mother '
                r'card, 2 in keys list',
                r'ok\s+biz-5840 initial TKs deleted: no K000, no K100',
                r'ok\s+root holds the root keys: 46 of 46 keys',
                r'ok\s+biz-5810 holds what the KMS issued: 46 of 46 keys',
                r'ok\s+clearing holds what the KMS issued: 42 of 42 keys',
                r'ok\s+city DK restored: KCV ([0-9A-F]{16}) = biz-5810 \1',
                # 46 issued keys and the 2 of the key mother card
                r'ok\s+city keys = business keys without the TK: 48 keys in '
                r'biz-5810 \(TK left out\), 48 in city-5810, index, type, '
                r'KCV alike',
                r'ok\s+city port \d+ refuses A0: ERR 68 = expected 68',
                r'ok\s+KMS sees city-5810: health ok',
                r'ok\s+city B password: reset to the issuer code 02205810',
                r'ok\s+city licences \(maint show by B\): (\d+) of \1 '
                r'licences as sent',
                r'ok\s+stop tkms-kmsd: exit status 0'):
            self.assertRegex(out, line)
        self.assertIn('city 5850 Zhuhai     recorded, no HSM; 2 TAC keys '
                      'at clearing', out)
        self.assertEqual(len(re.findall(r'ok\s+stop tkms-hsmd: \S+ exit '
                                        r'status 0', out)), 5)
        # no daemon left, the directory kept (--dir), no sanitizer report
        pids = pids_in(out)
        self.assertEqual(len(pids), 6, out)
        self.assertEqual([p for p in pids if alive(p)], [])
        self.assertTrue(os.path.exists(os.path.join(self.dir,
                                                    'report.txt')))
        self.assertTrue(os.path.exists(os.path.join(self.dir,
                                                    'commands.sh')))
        self.assertEqual(sanitizer_reports(self.dir), [])

    def test_interrupted(self):
        """SIGINT in the middle: exit 130, every child gone, D kept."""
        proc = subprocess.Popen(
            [os.path.join(BUILD, 'tkms'), 'demo', '--dir', self.dir],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=demo_env())
        out = b''
        deadline = time.monotonic() + RUN_TIMEOUT
        try:
            while b'== 3. ' not in out:  # in the business ceremonies
                line = proc.stdout.readline()
                self.assertTrue(line, out.decode())
                out += line
                self.assertLess(time.monotonic(), deadline)
            # children of the demo at this moment, daemons included
            kids = [int(p) for p in subprocess.run(
                ['pgrep', '-P', str(proc.pid)], stdout=subprocess.PIPE
            ).stdout.split()]
            proc.send_signal(signal.SIGINT)
            rest, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        out = (out + rest).decode('utf-8', 'replace')
        self.assertEqual(proc.returncode, 130, out)
        self.assertIn('result: INTERRUPTED', out)
        pids = pids_in(out) + kids
        self.assertGreaterEqual(len(pids), 6, out)
        self.assertEqual([p for p in pids if alive(p)], [], out)
        self.assertTrue(os.path.isdir(self.dir))
        self.assertIn('directory kept: ' + self.dir, out)
        self.assertEqual(sanitizer_reports(self.dir), [])

    def test_daemon_dies(self):
        """A daemon killed during the run: the step that needed it fails,
        the demo says which daemon died, stops the others, exits 1 and
        keeps D."""
        proc = subprocess.Popen(
            [os.path.join(BUILD, 'tkms'), 'demo', '--dir', self.dir],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=demo_env())
        out = b''
        try:
            while b'== 2. ' not in out:  # the root's ceremony
                line = proc.stdout.readline()
                self.assertTrue(line, out.decode())
                out += line
            m = re.search(rb'tkms-hsmd biz-5840\s+pid (\d+)', out)
            self.assertIsNotNone(m, out)
            os.kill(int(m.group(1)), signal.SIGKILL)
            rest, _ = proc.communicate(timeout=RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        out = (out + rest).decode('utf-8', 'replace')
        self.assertEqual(proc.returncode, 1, out)
        self.assertRegex(out, r'FAILED biz-5840: tkms hsm status: exit '
                              r'status 2')
        self.assertRegex(out, r'FAILED biz-5840: tkms-hsmd not running: '
                              r'exited with status 137')
        self.assertRegex(out, r'result: FAILED \(exit 1\) at biz-5840: '
                              r'tkms hsm status')
        self.assertIn('directory kept: ' + self.dir, out)
        self.assertEqual([p for p in pids_in(out) if alive(p)], [], out)

    def test_usage(self):
        os.mkdir(self.dir)
        with open(os.path.join(self.dir, 'something'), 'w') as f:
            f.write('x')
        p = self.tkms('demo', '--dir', self.dir, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b'not an empty directory', p.stderr)
        p = self.tkms('demo', '--cards', '0', timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b'--cards', p.stderr)
        p = self.tkms('demo', 'extra', timeout=30)
        self.assertEqual(p.returncode, 2)


if __name__ == '__main__':
    unittest.main()
