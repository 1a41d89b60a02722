"""test_crash_hsm - crash consistency of tkms-hsmd (issue #9 item 2, HSM
half; DESIGN §8 "a crash or kill at any moment loses no acknowledged key").

One city HSM with maintenance licences (docs/maintenance.md) is loaded by
concurrent clients, each on its own connections, and killed with SIGKILL
after a random delay; it is restarted on the same directory (same DK,
--dev-components: no ceremony) and checked; state accumulates over the
cycles. 25 cycles, or 200 with TKMS_LONG=1.

The load:
- writers (WRITERS threads, each owning four indexes of its own, in the
  DES and the SM4 library): a key is written with A6 (import under the TK
  at K000 of that library, so that its KCV is known before the request
  goes out: A0 mode 1 makes it first, under the TK, storing nothing) and
  replaced by keys.delete on the management port (the only way to
  replace, docs/keystore.md) followed by another A6;
- consumers (CONSUMERS threads): UB on licensed keys, and U3 which uses
  two licensed keys at once (the all-or-nothing path of licence.c).

What each request was at the kill: acknowledged (its answer read, ERR 00)
or in flight (sent, answer not read). After each restart:
- the daemon starts and answers NC with the DK's KCV; the killed run's
  stderr has no sanitizer report;
- keys (keys.list, then BU on every index, which unwraps the record):
  an index whose last request was acknowledged holds exactly what was
  acknowledged (KCV and version, or nothing after a delete); one whose
  request was in flight holds the state before it or the state after it
  (A6: nothing, or the new KCV with version + 1; delete: the old key with
  its version, or nothing) - never another key, never a record that does
  not open;
- licence counters (maint.show): for each (command, key),
  remaining == before - acked - k with 0 <= k <= inflight, where before
  is what the last check read, acked the successes (ERR 00) answered
  since, inflight the requests on that counter in flight at the kill
  (licence.h: a use is committed before its answer goes out, so an
  acknowledged use is never given back, and an unacknowledged one may
  or may not have been taken); used + remaining == the quota; remaining
  never below 0; the two counters of U3 move together;
- audit (docs/management.md "Audit", docs/audit.md): audit.verify is ok
  (chain, MACs, checkpoints); every record read at an earlier check is
  still there with the same hash; for each index, the successful
  keys.delete records number between the acknowledged deletes and the
  acknowledged plus in-flight ones. The design audits a management op
  after it runs and before its answer is sent (mgmt.c run_op), so an
  acknowledged op always has its record, and an op in flight at the kill
  may have happened without one. Business commands that succeed are not
  audited.

The seed of the run (kill delays, the clients' choices) is printed;
TKMS_CRASH_SEED=N replays those choices (thread scheduling is not
replayed). Needs TKMS_BUILD; TKMS_ARGON2_FAST=1 is set for the cards.
"""
import json
import os
import random
import shutil
import struct
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import (SANITIZER_MARKS, Hsm, frame, mgmt_frame,  # noqa
                    read_frame, read_mgmt, run_tkms)

LONG = bool(os.environ.get('TKMS_LONG'))
CYCLES = 200 if LONG else 25
WRITERS = 4
CONSUMERS = 4
INDEXES_PER_WRITER = 4
KILL_MIN, KILL_MAX = 0.05, 0.8  # seconds of load before the SIGKILL
HEADER = b'12345678'
DK_KCV = b'C8FABC567BA0A5C6'  # hsmlib's development components
DAY = 86400

IV0 = b'0' * 16
DATA = b'0011223344556677'
# The licensed commands: UB on three keys, U3 exporting K2A0 (MK-DN)
# under K2A4 (MK-SMC), both licensed for U3: one command, two counts.
UB_DES0 = b'UBX00509K2A0' + b'00' + IV0 + b'008' + DATA + b'04'
UB_DES1 = b'UBX00509K2A1' + b'00' + IV0 + b'008' + DATA + b'04'
UB_SM40 = b'UBS00509K2A0' + b'00' + b'0' * 32 + b'008' + DATA + b'04'
U3_DES = b'U3X00509K2A001K2A40N' + IV0
# Stored at set-up: the TKs and the licensed keys.
FIXED_KEYS = {('des', 0x000), ('sm4', 0x000), ('des', 0x2A0),
              ('des', 0x2A1), ('sm4', 0x2A0), ('des', 0x2A4)}
# What tkms-hsmd logs when a store fails it (hsm_log calls).
LOG_FAULTS = ('key store:', 'licence store:', 'audit: cannot', 'audit.db:',
              'admin.db:', 'exiting on error', 'event loop failed')
BIG = 4000000000
SMALL = 60  # runs out during the run: refusals (A1) must not count
# request -> the counters it takes: (cmd, key, lib)
USES = {
    UB_DES0: [('UB', 'K2A0', 'des')],
    UB_DES1: [('UB', 'K2A1', 'des')],
    UB_SM40: [('UB', 'K2A0', 'sm4')],
    U3_DES: [('U3', 'K2A0', 'des'), ('U3', 'K2A4', 'des')],
}
QUOTA = {
    ('UB', 'K2A0', 'des'): BIG,
    ('UB', 'K2A1', 'des'): SMALL,
    ('UB', 'K2A0', 'sm4'): BIG,
    ('U3', 'K2A0', 'des'): BIG,
    ('U3', 'K2A4', 'des'): BIG,
}
FORM = """issuer_code=02885820
hsm_number=SG-CITY-CRASH
organisation=crash test
applicant=tkms
"""


def date_in(days):
    return time.strftime('%Y-%m-%d', time.gmtime(time.time() + days * DAY))


class Failure(Exception):
    """A client saw something no kill explains."""


class Conn:
    """One business connection of a client thread."""

    def __init__(self, h):
        self.s = h.connect(timeout=30)

    def call(self, payload):
        self.s.sendall(frame(HEADER + payload))
        answer = read_frame(self.s)
        if answer[:len(HEADER)] != HEADER:
            raise Failure('header not echoed: %r' % answer)
        return answer[len(HEADER):]

    def close(self):
        self.s.close()


class Run:
    """What the clients of one cycle did: per index the in-flight write,
    per counter the acknowledged and in-flight uses; filled by the
    threads under lock."""

    def __init__(self):
        self.lock = threading.Lock()
        self.killed = threading.Event()
        self.failures = []
        self.acked = {c: 0 for c in QUOTA}
        self.inflight = {c: 0 for c in QUOTA}
        self.refused = {c: 0 for c in QUOTA}  # A1 answers
        self.writes = 0
        self.deletes = 0


class CrashHsm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        seed = os.environ.get('TKMS_CRASH_SEED')
        cls.seed = int(seed) if seed else random.SystemRandom().randrange(
            1 << 32)
        print('test_crash_hsm: seed %d (TKMS_CRASH_SEED=%d replays it), '
              '%d cycles' % (cls.seed, cls.seed, CYCLES), flush=True)
        cls.tmp = tempfile.mkdtemp(prefix='tkms-crash-')
        cls.f = {}
        for name, text in (('pin', '123456\n'), ('pw', 'crash-password\n'),
                           ('form', FORM)):
            cls.f[name] = os.path.join(cls.tmp, name)
            with open(cls.f[name], 'w') as fh:
                fh.write(text)
        cls.city = Hsm(authorised=True, workers=4)
        cls.root = Hsm(authorised=True, workers=1)

    @classmethod
    def tearDownClass(cls):
        for h in (cls.root, cls.city):
            if h.proc is not None:
                h.stop(check=False)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # --- set-up ----------------------------------------------------------
    def console(self, h, *args):
        p = h.console(*args)
        self.assertEqual(p.returncode, 0, (args, p.stdout, p.stderr))
        try:
            return json.loads(p.stdout)
        except ValueError:
            return p.stdout.decode()

    def card(self, role):
        path = os.path.join(self.tmp, role + '.card')
        if not os.path.exists(path):
            p = self.root.tkms('hsm', 'card', 'new', '--role', role, '--out',
                               path, '--pin-file', self.f['pin'])
            self.assertEqual(p.returncode, 0, p.stderr)
        return path

    def login(self, h, *roles):
        for r in roles:
            self.console(h, 'login', '--role', r, '--card', self.card(r),
                         '--pin-file', self.f['pin'], '--password-file',
                         self.f['pw'])

    def enrol(self, h, roles):
        for r in roles:
            if r not in ('A1', 'A2', 'A3'):
                self.login(h, 'A1', 'A2', 'A3')
            self.console(h, 'enrol', '--role', r, '--card', self.card(r),
                         '--pin-file', self.f['pin'], '--password-file',
                         self.f['pw'])
        h.console('logout')

    def maint(self, h, *args):
        """`tkms maint ARGS`, against h's management port unless None."""
        p = h.maint(*args) if h is not None else run_tkms('maint', *args)
        self.assertEqual(p.returncode, 0, (args, p.stdout, p.stderr))

    def ok(self, answer, rsp):
        self.assertEqual(answer[:4], rsp + b'00', answer)
        return answer[4:]

    def set_up_hsms(self):
        """A root HSM with the maintenance key pair signs the licences of
        the city HSM, which then has its TKs and licensed keys."""
        root, city = self.root, self.city
        root.start()
        city.start()
        self.enrol(root, ('A1', 'A2', 'A3'))
        self.enrol(city, ('A1', 'A2', 'A3', 'C', 'D'))
        mpub = os.path.join(self.tmp, 'mkey.pub')
        self.login(root, 'A1', 'A2', 'A3')
        self.console(root, 'mkey', 'generate', '--index', '20', '--out',
                     os.path.join(self.tmp, 'mkey.bak'), '--pub-out', mpub)
        self.login(city, 'A1', 'A2', 'A3')
        self.console(city, 'mkey', 'import', '--in', mpub)
        city.console('logout')
        # TKs (type 000) at K000 of both libraries; the licensed keys.
        for req in (b'A02000XK000', b'A02000SK000', b'A02509XK2A0',
                    b'A02509XK2A1', b'A02509SK2A0', b'A02309XK2A4'):
            self.ok(city.cmd(req), b'A1')
        st = self.console(city, 'status')
        pub = os.path.join(self.tmp, 'city.pub')
        with open(pub, 'w') as fh:
            fh.write(st['identity']['public'] + '\n')
        lic = os.path.join(self.tmp, 'licences')
        until = date_in(400)
        with open(lic, 'w') as fh:
            for (cmd, key, lib), n in QUOTA.items():
                fh.write('%s %s %s %d %s\n' % (cmd, key, lib, n, until))
        self.login(city, 'C')
        req = os.path.join(self.tmp, 'request')
        upd = os.path.join(self.tmp, 'update')
        self.maint(city, 'request', '--out', req, '--form', self.f['form'])
        self.maint(None, 'sign', '--request', req, '--licences', lic,
                   '--root', '127.0.0.1:%d' % root.port, '--out', upd,
                   '--identity', pub, '--mkey', mpub)
        self.maint(city, 'apply', '--in', upd)
        city.console('logout')
        root.stop()

    # --- management calls with the C+D session ---------------------------
    def session(self):
        """Log C and D in (sessions do not survive a restart)."""
        h = self.city
        try:
            os.unlink(h.session_file)
        except FileNotFoundError:
            pass
        self.login(h, 'C', 'D')
        with open(h.session_file) as fh:
            self.token = fh.read().strip()

    def mgmt(self, op, args=None):
        r = self.city.mgmt(op, args, session=self.token)
        self.assertTrue(r.get('ok'), (op, args, r))
        return r['result']

    # --- the clients -----------------------------------------------------
    def writer(self, run, wid, rng, model):
        """Write and replace keys at this writer's own indexes."""
        h = self.city
        own = [k for k in sorted(model) if model[k]['owner'] == wid]
        conn = ms = None
        try:
            conn = Conn(h)
            ms = h.mgmt_connect(timeout=30)
            while not run.killed.is_set():
                key = rng.choice(own)
                lib, idx = key
                m = model[key]
                if m['kcv'] is not None:
                    m['pending'] = ('delete',)
                    ms.sendall(mgmt_frame({
                        'op': 'keys.delete', 'session': self.token,
                        'args': {'lib': lib, 'index': idx}}))
                    r = read_mgmt(ms)
                    if not r.get('ok'):
                        raise Failure('keys.delete %s %03X: %r'
                                      % (lib, idx, r))
                    got = r['result']['deleted']
                    if (got['kcv_full'] != m['kcv'] or
                            got['version'] != m['version']):
                        raise Failure('deleted %r, expected %r' % (got, m))
                    m['kcv'], m['pending'] = None, None
                    m['acked_deletes'] += 1
                    with run.lock:
                        run.deletes += 1
                    continue
                # A fresh key under the TK (nothing stored), then its
                # import at the index: the KCV is known before the write.
                alg = b'X' if lib == 'des' else b'S'
                a = conn.call(b'A01001' + alg + b'K000' + alg)
                if a[:4] != b'A100':
                    raise Failure('A0 mode 1: %r' % a)
                under_tk, kcv = a[4 + 33:4 + 66], a[4 + 66:].decode()
                m['pending'] = ('write', kcv)
                a = conn.call(b'A6T001K000' + under_tk + alg +
                              b'K%03X' % idx)
                if a[:4] != b'A700' or a[4 + 33:].decode() != kcv:
                    raise Failure('A6 %s %03X: %r (KCV %s)'
                                  % (lib, idx, a, kcv))
                m['kcv'], m['version'] = kcv, m['version'] + 1
                m['pending'] = None
                with run.lock:
                    run.writes += 1
        except (OSError, struct.error, ValueError) as e:
            if not run.killed.is_set():
                with run.lock:
                    run.failures.append('writer %d: %r' % (wid, e))
        except Failure as e:
            with run.lock:
                run.failures.append('writer %d: %s' % (wid, e))
            run.killed.set()
        finally:
            for s in (conn, ms):
                if s is not None:
                    s.close()

    def consumer(self, run, cid, rng):
        """Licensed commands, one at a time."""
        conn = None
        reqs = sorted(USES)
        req = None
        try:
            conn = Conn(self.city)
            while not run.killed.is_set():
                req = rng.choice(reqs)
                with run.lock:
                    for c in USES[req]:
                        run.inflight[c] += 1
                a = conn.call(req)
                with run.lock:
                    for c in USES[req]:
                        run.inflight[c] -= 1
                        if a[2:4] == b'00':
                            run.acked[c] += 1
                        else:
                            run.refused[c] += 1
                ok_codes = (b'00', b'A1') if USES[req][0] == (
                    'UB', 'K2A1', 'des') else (b'00',)
                if a[2:4] not in ok_codes:
                    raise Failure('%r answered %r' % (req, a))
                req = None
        except (OSError, struct.error, ValueError) as e:
            if not run.killed.is_set():
                with run.lock:
                    run.failures.append('consumer %d: %r' % (cid, e))
        except Failure as e:
            with run.lock:
                run.failures.append('consumer %d: %s' % (cid, e))
            run.killed.set()
        finally:
            if conn is not None:
                conn.close()

    # --- checks after a restart ------------------------------------------
    def check_keys(self, model, stats):
        listed = {}
        for k in self.mgmt('keys.list')['keys']:
            listed[(k['lib'], k['index'])] = k
        for key, m in sorted(model.items()):
            lib, idx = key
            got = listed.get(key)
            now = ((got['kcv_full'], got['version']) if got is not None
                   else None)
            before = ((m['kcv'], m['version']) if m['kcv'] is not None
                      else None)
            p = m['pending']
            if p is None:
                allowed = [before]
            elif p[0] == 'write':  # before it: nothing there
                allowed = [None, (p[1], m['version'] + 1)]
            else:  # delete
                allowed = [before, None]
            self.assertIn(now, allowed, '%s %03X: %r, pending %r' % (
                lib, idx, got, p))
            if p is not None:
                stats['inflight_writes'] += 1
                stats['inflight_applied'] += now != allowed[0]
                # A delete that happened may have lost its audit record
                # (audited after it ran); one that did not has none.
                if p[0] == 'delete' and now is None:
                    m['maybe_deletes'] += 1
            # The record opens: BU unwraps it and computes the KCV.
            alg = b'' if lib == 'des' else b'S'
            a = self.city.cmd(b'BU001K%03X' % idx + alg)
            if now is None:
                self.assertEqual(a, b'BV12', (lib, idx))
                m['kcv'] = None
            else:
                self.assertEqual(a, b'BV00' + now[0].encode(), (lib, idx))
                m['kcv'], m['version'] = now
            m['pending'] = None
        # Nothing else appeared, nothing else went: the keys of the set-up
        # and those the writers hold now.
        self.assertEqual(set(listed), FIXED_KEYS | {
            k for k, m in model.items() if m['kcv'] is not None})

    def check_counters(self, run, before, stats):
        show = self.mgmt('maint.show')
        now = {}
        for lic in show['licences']:
            now[(lic['cmd'], lic['key'], lic['lib'])] = lic
        self.assertEqual(set(now), set(QUOTA))
        for c, quota in QUOTA.items():
            lic = now[c]
            rem = lic['remaining']
            self.assertGreaterEqual(rem, 0, c)
            self.assertEqual(rem + lic['used'], quota, (c, lic))
            k = before[c] - run.acked[c] - rem
            self.assertTrue(0 <= k <= run.inflight[c],
                            '%s: remaining %d = %d - %d acked - k, k=%d '
                            'not in [0, %d in flight]' % (
                                c, rem, before[c], run.acked[c], k,
                                run.inflight[c]))
            stats['inflight_uses'] += run.inflight[c]
            stats['inflight_counted'] += k
            stats['acked_uses'] += run.acked[c]
            before[c] = rem
        # U3 takes both of its keys or neither.
        self.assertEqual(before[('U3', 'K2A0', 'des')],
                         before[('U3', 'K2A4', 'des')])

    def check_audit(self, model, audit):
        v = self.mgmt('audit.verify')
        self.assertTrue(v['ok'], v)
        self.assertIsNone(v['first_bad'], v)
        self.assertTrue(v['macs_checked'], v)
        self.assertGreaterEqual(v['records'], audit['last'], v)
        frm = max(audit['last'], 1)
        while True:
            r = self.mgmt('audit.export', {'from': frm, 'n': 1000})
            for rec in r['records']:
                if rec['seq'] == audit['last']:
                    self.assertEqual(rec['hash'], audit['hash'], rec)
                    continue
                self.assertEqual(rec['seq'], audit['last'] + 1, rec)
                audit['last'], audit['hash'] = rec['seq'], rec['hash']
                if rec['op'] == 'keys.delete' and rec['result'] == '00':
                    args = json.loads(rec['detail'])
                    audit['deletes'][(args['lib'], args['index'])] = (
                        audit['deletes'].get(
                            (args['lib'], args['index']), 0) + 1)
            if r['next'] is None:
                break
            frm = r['next']
        for key, m in model.items():
            n = audit['deletes'].get(key, 0)
            self.assertTrue(
                m['acked_deletes'] <= n
                <= m['acked_deletes'] + m['maybe_deletes'],
                '%s %03X: %d keys.delete records, %d acknowledged (or '
                'seen done), %d more in flight' % (
                    key[0], key[1], n, m['acked_deletes'],
                    m['maybe_deletes']))

    def check_log(self, log):
        """No sanitizer report, no store or audit failure logged."""
        for mark in SANITIZER_MARKS:
            self.assertNotIn(mark.decode(), log)
        for mark in LOG_FAULTS:
            self.assertNotIn(mark, log)

    def check_started(self, prev_stderr):
        self.check_log(prev_stderr)
        self.assertEqual(self.city.cmd(b'NC')[:20], b'ND00' + DK_KCV)
        self.assertIn('unsealed', self.city.stderr())

    # --- the test --------------------------------------------------------
    def test_kill_cycles(self):
        t0 = time.monotonic()
        self.set_up_hsms()
        h = self.city
        rng = random.Random(self.seed)
        model = {}
        for w in range(WRITERS):
            for i in range(INDEXES_PER_WRITER):
                lib = 'des' if (w + i) % 2 == 0 else 'sm4'
                model[(lib, 0x100 + w * INDEXES_PER_WRITER + i)] = {
                    'owner': w, 'kcv': None, 'version': 0,
                    'pending': None, 'acked_deletes': 0,
                    'maybe_deletes': 0}
        before = dict(QUOTA)
        audit = {'last': 0, 'hash': None, 'deletes': {}}
        stats = dict.fromkeys(('writes', 'deletes', 'inflight_writes',
                               'inflight_applied', 'acked_uses',
                               'inflight_uses', 'inflight_counted',
                               'refused'), 0)
        self.session()
        t_setup = time.monotonic() - t0
        for cycle in range(CYCLES):
            run = Run()
            threads = [threading.Thread(
                target=self.writer,
                args=(run, w, random.Random(rng.random()), model))
                for w in range(WRITERS)]
            threads += [threading.Thread(
                target=self.consumer,
                args=(run, c, random.Random(rng.random())))
                for c in range(CONSUMERS)]
            for t in threads:
                t.start()
            delay = rng.uniform(KILL_MIN, KILL_MAX)
            run.killed.wait(delay)
            self.assertIsNotNone(h.proc)
            self.assertIsNone(h.proc.poll(), 'tkms-hsmd died under load:\n'
                              + h.stderr())
            run.killed.set()
            h.kill()
            for t in threads:
                t.join(60)
                self.assertFalse(t.is_alive())
            self.assertEqual(run.failures, [], 'cycle %d' % cycle)
            stats['writes'] += run.writes
            stats['deletes'] += run.deletes
            stats['refused'] += sum(run.refused.values())
            prev = h.stderr()
            h.start()
            self.check_started(prev)
            self.session()
            self.check_keys(model, stats)
            self.check_counters(run, before, stats)
            self.check_audit(model, audit)
            self.check_log(h.stderr())
        # A clean stop after all that, and the state once more.
        h.stop()
        h.start()
        self.session()
        for m in model.values():
            self.assertIsNone(m['pending'])
        self.check_keys(model, stats)
        self.check_counters(Run(), before, stats)
        self.check_audit(model, audit)
        # The small licence ran out and was never overdrawn.
        self.assertEqual(before[('UB', 'K2A1', 'des')], 0)
        self.assertGreater(stats['refused'], 0)
        h.stop()
        print('test_crash_hsm: %d kill cycles in %.1f s (set-up %.1f s); '
              'acknowledged: %d key writes, %d deletes, %d licence uses; '
              'in flight at the kills: %d key writes/deletes (%d had '
              'happened), %d licence uses (%d counted); %d A1 refusals; '
              '%d audit records' % (
                  CYCLES, time.monotonic() - t0, t_setup, stats['writes'],
                  stats['deletes'], stats['acked_uses'],
                  stats['inflight_writes'], stats['inflight_applied'],
                  stats['inflight_uses'], stats['inflight_counted'],
                  stats['refused'], audit['last']), flush=True)


if __name__ == '__main__':
    unittest.main()
