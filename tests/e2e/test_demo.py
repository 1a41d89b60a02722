"""test_demo - `tkms demo` (docs/demo.md) end to end: a reduced run
(`tkms demo --cards 10 --dir TMP`) whose exit status, checks and report
are checked — ten cards (5 DES, 5 SM4) personalised, loaded, spent and
cleared, the licence counts used up and card 11 refused with ERR A1, the
sample card and PSAM files it leaves in D/cards read back with `tkms card
show` — every daemon it started gone afterwards; an interrupted run
(SIGINT) that leaves no process behind and keeps its directory; usage
errors.

Password hashing runs at the test cost (TKMS_ARGON2_FAST=1), so that the
run takes seconds.
"""
import json
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

EXPECTED_STATUS = 0
EXPECTED_RESULT = 'PASSED'
CARDS = 10  # 5 DES (odd numbers), 5 SM4

# The checks of the card phase (src/cli/demo_cards.c), in its words.
CARD_CHECKS = (
    r'ok\s+card key tables: 46 keys of biz-5810 for the cards \(23 DES, '
    r'23 SM4; 23 each expected\), 2 TAC keys of 5810 at clearing',
    r'ok\s+PSAM DES: terminal 581000000011: 2 purchase keys written by U3 '
    r'at city-5810',
    r'ok\s+PSAM SM4: terminal 581000000012: 2 purchase keys written by U3 '
    r'at city-5810',
    r'ok\s+cards personalised: 10 of 10 \(5 DES, 5 SM4\) by U3 at '
    r'city-5810, 23 keys each',
    r'ok\s+cards loaded: 10 of 10 loaded with 100\.00 \(MAC1 verified, '
    r'MAC2 made by UB at biz-5810\)',
    r'ok\s+cards spent: 10 of 10 spent 12\.34 through the PSAM',
    r'ok\s+TACs cleared: 20 of 20 \(a load and a purchase per card\) '
    r'verified by UB at clearing',
    r'ok\s+balances: 10 of 10 cards hold 87\.66',
    r'ok\s+EMV: 1 DES card \(cards 1, 51, \.\.\.\): ARQC verified and '
    r'ARPC made by KW at biz-5810',
    # U3 on 8 templates x 2 algorithms; UB on 4, U1 on 6
    r'ok\s+licence counts after the cards: 16 U3 licences used up, each by '
    r'the cards and PSAM of its algorithm; 20 UB and U1 licences '
    r'untouched\n',
    # card 11 is DES: its first licensed key (a purchase key in the
    # KMS's order) has no count left
    r'ok\s+licence exhausted: card 11 \(DES\) refused after \d+ keys: '
    r'issue: U3 of \w+ \(DES K3[0-9A-F]{2}\): the city HSM at '
    r'127\.0\.0\.1:\d+ answers ERR A1 \(licence count exhausted\)',
)

# The card figures of the report.
REPORT_CARDS = (
    r'cards: 10 \(5 DES, 5 SM4\) in \d+\.\d s: personalised, loaded '
    r'100\.00, spent 12\.34, 20 TACs cleared; EMV on 1\n',
    r'personalised\s+\d+\.\d cards/s through city-5810 \(\d+\.\d\d ms '
    r'a card: 23 U3\)',
    r'loaded\s+\d+\.\d loads/s end to end',
    r'spent\s+\d+\.\d purchases/s',
    r'cleared\s+\d+\.\d TACs/s at clearing',
    r'time in HSM calls: city-5810 \d+ %, biz-5810 \d+ %, clearing \d+ %; '
    r'the host \(emulators\) -?\d+ %',
)

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

    def card_show(self, *args):
        p = self.tkms('card', 'show', *args, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_reduced_run(self):
        p = self.tkms('demo', '--cards', str(CARDS), '--dir', self.dir)
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
                r'ok\s+card-transport master DES K7F0: KCV '
                r'00962B60AA556E65 = published 00962B60AA556E65',
                r'ok\s+card-transport master SM4 K7F1: KCV '
                r'AD9358BA911077A4 = published AD9358BA911077A4',
                r'ok\s+biz-5810 card-transport keys: 2 imported from the '
                r'key mother card, 2 in keys list with the card\'s KCV',
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
                r'ok\s+stop tkms-kmsd: exit status 0') + CARD_CHECKS:
            self.assertRegex(out, line)
        for line in REPORT_CARDS:
            self.assertRegex(report, line)
        # progress in a log: one line for the cards, not one per card
        self.assertEqual(len(re.findall(r'^  \.\. cards: ', out, re.M)), 1,
                         out)
        # the sample cards and the PSAMs, as the run left them
        cards = os.path.join(self.dir, 'cards')
        for n, alg, term in ((1, 'DES', '11'), (2, 'SM4', '12')):
            card = self.card_show(
                '--card', os.path.join(cards, 'card-31045810%08d.card' % n))
            self.assertEqual((card['alg'], card['balance'],
                              card['online_sn'], card['offline_sn'],
                              card['personalised'], len(card['keys'])),
                             (alg, 8766, 1, 1, True, 23))
            psam = self.card_show(
                '--psam', os.path.join(cards, 'psam-5810000000%s.psam'
                                       % term))
            # one purchase per card of its algorithm: 5 from SN 1
            self.assertEqual(psam['term_sn'], 6)
            self.assertEqual(sorted((k['alg'], k['version'])
                                    for k in psam['keys']),
                             [(alg, 1), (alg, 2)])
        self.assertEqual(self.card_show(
            '--card', os.path.join(cards, 'card-3104581000000001.card')
        )['atc'], 1)  # EMV on card 1
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
        p = self.tkms('demo', '--alg', 'AES', timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b'--alg', p.stderr)


if __name__ == '__main__':
    unittest.main()
