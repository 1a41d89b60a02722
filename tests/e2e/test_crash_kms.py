"""test_crash_kms - tkms-kmsd SIGKILLed at random moments during key
issuance, restarted on the same database (issue #9 item 2, KMS half).

One root HSM with the 23 templates x DES/SM4 generated (key.generate,
kmslib setup as in test_kms_fleet.py). Each cycle starts a new target
HSM (a provincial business or a city HSM of the next city of appendix 1,
with the shared TK), adds it (hsm.add), proposes key.issue of the city's
46 keys (every other cycle naming the 23 templates, which takes the
per-key path of kinds_keys.c instead of kms_flow_issue_city), sends the
approval and SIGKILLs tkms-kmsd after a random delay (seeded) drawn over
the time an uncut issuance takes (calibrated first), one cycle in ten
within its first milliseconds (the approval itself). The daemon is
started again on the same database, and then:

- the audit chain verifies;
- the proposal is open (killed before the approval committed: the same
  proposal is approved again), executed (killed after it), or failed as
  interrupted - never left "approved" (execution under way) by a daemon
  that is gone;
- no issued row is pending or failed, at most one per root key, city
  and HSM, and every one is held by the HSM (BU) with the recorded KCV;
  of the 46 planned slots the HSM holds at most one key the KMS did not
  record (the A6 in flight when the KMS died);
- every key event "issued" of a proposal for this HSM has its row, and
  the distribution record of every root key lists exactly the rows
  (index, KCV, state) the KMS shows for this HSM;
- re-approving or proposing the issuance again completes it: 46 active
  rows, one per key, each held with its KCV; a key the HSM held
  unrecorded is recorded with the KCV it held; existed + issued counts
  equal the rows before and after; every root key has an "issued" event
  of a proposal for this HSM (so its distribution record names who
  issued the copy, also one recorded by the run that was killed).

The HSMs are started one cycle ahead (their self-test takes a second in
a debug build). At the end the generation record of every root key names its KCV and
who generated it, and the chain verifies once more.

TKMS_CRASH_SEED=N replays a run (the seed is printed). TKMS_LONG=1: 200
cycles, else 10. With TKMS_PG_URL set (tests/kms/pg.sh /usr/bin/python3
tests/e2e/test_crash_kms.py) tkms-kmsd runs on PostgreSQL. Prints the
cycles, where the kills fell and the time taken.

On PostgreSQL only, test_pg_live_execution_kept: a second tkms-kmsd
started on the database while the first executes an issuance (its
target never answers) leaves that proposal approved, and the first
records its own outcome (the executing daemon's advisory lock,
proposal.c).
"""
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import BUILD, Hsm  # noqa: E402
from kmslib import (PER_CITY, PG_URL, KmsApi, KmsDaemon, add_tk,  # noqa: E402
                    bu, put_tk)

LONG = os.environ.get('TKMS_LONG', '') not in ('', '0')
CYCLES = 200 if LONG else 10
SEED = int(os.environ.get('TKMS_CRASH_SEED') or
           random.SystemRandom().randrange(1, 2 ** 31))


class CrashKmsTest(KmsApi, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not BUILD:
            raise unittest.SkipTest('TKMS_BUILD is not set')
        cls.root = None
        cls.k = None
        cls.target = None  # the HSM of the cycle under way
        cls.spare = None   # the next cycle's, starting
        try:
            cls.root = Hsm(authorised=True, workers=2).start()
            cls.tk = put_tk([(cls.root, 0)], 'X')
            cls.tk.update(put_tk([(cls.root, 0)], 'S'))
            cls.k = KmsDaemon().start()
            cls.add_users()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for h in (cls.target, cls.spare):
            if h is not None:
                h.kill()
        if cls.k is not None:
            cls.k.stop()
        if cls.root is not None:
            cls.root.__exit__(None, None, None)

    # --- helpers --------------------------------------------------------
    def restart(self):
        self.k.kill()
        self.k.start()

    def add_hsm(self, name, role, city, h):
        # A stopped target's port may come round again: its row (which
        # keeps its keys' records) moves out of the way first.
        old = self.ports.get(h.port)
        if old is not None:
            self.executed('hsm.update', {'id': old, 'set': {
                'host': '127.255.255.%d' % (len(self.moved) % 250 + 1)}},
                'ca', 'cb')
            self.moved.append(old)
        payload = {'name': name, 'role': role, 'host': '127.0.0.1',
                   'port': h.port, 'header_len': 8}
        if city:
            payload['city'] = city
        hid = self.executed('hsm.add', payload, 'ca', 'cb')['id']
        self.ports[h.port] = hid
        return hid

    def planned(self):
        """The 46 slots of version 1 at a business or city HSM: (template
        name, alg) -> (type code, index)."""
        return {(t['name'], alg): (t['type_code'],
                                   t['des_index' if alg == 'DES'
                                     else 'sm4_index'])
                for t in self.tpl.values() for alg in ('DES', 'SM4')}

    def rows_of(self, hid):
        return self.get('sup', '/api/issued-keys?hsm=%d' %
                        hid)['issued_keys']

    def held(self, h):
        """(template, alg) -> KCV 16H of every planned slot h holds."""
        out = {}
        for key, (type_code, idx) in self.planned().items():
            err, kcv = bu(h, type_code, idx, key[1])
            self.assertIn(err, ('00', '12'), (key, err))
            if err == '00':
                out[key] = kcv
        return out

    def proposal_for(self, pid):
        if pid not in self.pcache:
            p = self.get('aud', '/api/proposals/%d' % pid)
            if p['state'] in ('open', 'approved'):
                return p  # not final: not cached
            self.pcache[pid] = p
        return self.pcache[pid]

    def issued_events(self, hid):
        """root key id -> ids of proposals for HSM hid with an event
        "issued" on that key."""
        out = {}
        for rk in self.roots:
            ev = self.get('aud', '/api/root-keys/%d' % rk['id'])['events']
            for e in ev:
                if e['kind'] != 'issued' or not e['proposal_id']:
                    continue
                p = self.proposal_for(e['proposal_id'])
                if p['kind'] == 'key.issue' and p['payload']['hsm'] == hid:
                    out.setdefault(rk['id'], []).append(p['id'])
        return out

    def record_rows(self, rk, name):
        """The distribution record's copies at HSM name:
        [(index, KCV, state)]."""
        r = self.get('aud', '/api/records/distribution/%d?format=md'
                     % rk['id'])
        out = []
        for line in r['document'].splitlines():
            cells = [c.strip() for c in line.strip().strip('|').split('|')]
            if len(cells) == 6 and cells[1].startswith(name + ' ('):
                out.append((cells[2], cells[3], cells[4]))
        return out

    def check_consistent(self, name, hid, city, h, pid):
        """After a restart: nothing half-issued. Returns (rows, the keys
        the HSM holds unrecorded, the proposal's state)."""
        self.audit_verify()
        p = self.get('aud', '/api/proposals/%d' % pid)
        self.assertIn(p['state'], ('open', 'executed', 'failed'), p)
        if p['state'] == 'failed':
            self.assertIn('interrupted', p['result']['error'], p)
        rows = self.rows_of(hid)
        by_key = {}
        for x in rows:
            self.assertEqual((x['state'], x['city_code'], x['hsm']),
                             ('active', city, name), x)
            key = (x['template'], x['alg'])
            self.assertNotIn(key, by_key, ('two rows', x, by_key.get(key)))
            by_key[key] = x
            self.assertEqual(x['idx'], self.planned()[key][1], x)
            self.assertEqual(x['root_key_id'], self.root_of[key], x)
        if p['state'] == 'executed':
            self.assertEqual(len(rows), PER_CITY, p)
        held = self.held(h)
        for key, x in by_key.items():
            self.assertIn(key, held, ('recorded, not in the HSM', x))
            self.assertEqual(held[key][:len(x['kcv'])], x['kcv'], x)
        unrecorded = {k: v for k, v in held.items() if k not in by_key}
        self.assertLessEqual(len(unrecorded), 1, unrecorded)
        # Events name only what the rows hold; the records show the rows.
        for rid in self.issued_events(hid):
            self.assertIn(rid, [x['root_key_id'] for x in rows], rid)
        self.check_records(name, rows)
        return by_key, unrecorded, p['state']

    def check_records(self, name, rows):
        by_root = {x['root_key_id']: x for x in rows}
        for rk in self.roots:
            got = self.record_rows(rk, name)
            x = by_root.get(rk['id'])
            want = [] if x is None else [(x['index'], x['kcv'], x['state'])]
            self.assertEqual(got, want, (rk, name))

    # --- the test -------------------------------------------------------
    def setup_keys(self):
        self.root_id = self.add_root()
        r = self.executed('key.generate', {'hsm': self.root_id})
        self.assertEqual(len(r['keys']), PER_CITY)
        self.roots = self.get('sup', '/api/root-keys')['root_keys']
        self.assertEqual(len(self.roots), PER_CITY)
        self.root_of = {(x['template'], x['alg']): x['id']
                        for x in self.roots}
        self.tpl = self.templates()
        self.cities = [x['city_code'] for x in
                       self.get('aud', '/api/institutions')['institutions']
                       if x['kind'] == 'city']
        self.assertEqual(len(self.cities), 21)

    def spawn(self):
        """A fresh HSM, started in the background while the cycle before
        runs (its self-test takes a while in a debug build)."""
        h = type(self).spare = Hsm(authorised=True, workers=2)
        th = threading.Thread(target=h.start, daemon=True)
        th.start()
        return h, th

    def new_target(self, n, spawned):
        """Target n: the spawned HSM with the TK, added to the KMS."""
        city = self.cities[n % len(self.cities)]
        role = 'provincial_business' if n % 2 == 0 else 'city'
        name = 't%03d%s' % (n, 'b' if role == 'provincial_business'
                            else 'c')
        h, th = spawned
        type(self).target = h
        th.join(60)
        self.assertIsNotNone(h.proc, h.stderr())
        add_tk(self.tk, [(h, 0)])
        return name, city, h, self.add_hsm(name, role, city, h)

    def issue_payload(self, n, hid, rng):
        payload = {'hsm': hid}
        if n % 2 == 1:
            names = sorted(self.tpl)
            rng.shuffle(names)
            payload['templates'] = names
        return payload

    def complete(self, name, hid, city, h, pid, state, before, unrecorded):
        """Approve the open proposal again, or propose the issuance
        again; check that it completed."""
        if state == 'open':
            p = self.approve('kmb', pid)
        else:
            payload = self.get('aud', '/api/proposals/%d' % pid)['payload']
            p = self.approve('kmb', self.propose('kma', 'key.issue',
                                                 payload)['id'])
        self.assertEqual(p['state'], 'executed', p)
        (c,) = p['result']['cities']
        self.assertEqual((c['city_code'], c['total'], c['failed'],
                          c['existed'], c['issued']),
                         (city, PER_CITY, 0, len(before),
                          PER_CITY - len(before)), p)
        rows = self.rows_of(hid)
        self.assertEqual(len(rows), PER_CITY, rows)
        self.assertEqual(len({(x['template'], x['alg']) for x in rows}),
                         PER_CITY)
        held = self.held(h)
        for x in rows:
            key = (x['template'], x['alg'])
            self.assertEqual(x['state'], 'active', x)
            self.assertEqual(held[key][:len(x['kcv'])], x['kcv'], x)
            if key in before:
                self.assertEqual(x['kcv'], before[key]['kcv'], x)
                self.assertEqual(x['id'], before[key]['id'], x)
            if key in unrecorded:
                self.assertEqual(unrecorded[key][:len(x['kcv'])], x['kcv'])
        ev = self.issued_events(hid)
        self.assertEqual([r['id'] for r in self.roots if r['id'] not in ev],
                         [], 'copies at %s whose distribution record names'
                         ' nobody (no "issued" event)' % name)
        self.audit_verify()

    def test_kill_during_issuance(self):
        t0 = time.monotonic()
        print('\ntest_crash_kms: seed %d (TKMS_CRASH_SEED=%d replays),'
              ' %d cycles, %s' % (SEED, SEED, CYCLES,
                                  'PostgreSQL' if PG_URL else 'SQLite'),
              flush=True)
        rng = random.Random(SEED)
        self.pcache = {}
        self.ports, self.moved = {}, []
        self.setup_keys()
        # Calibration: one issuance uncut, timed from the approval.
        name, city, h, hid = self.new_target(0, self.spawn())
        pid = self.propose('kma', 'key.issue', {'hsm': hid})['id']
        t = time.monotonic()
        p = self.approve('kmb', pid)
        span = time.monotonic() - t
        self.assertEqual(p['state'], 'executed', p)
        self.complete(name, hid, city, h, pid, 'executed',
                      {(x['template'], x['alg']): x
                       for x in self.rows_of(hid)}, {})
        h.__exit__(None, None, None)
        print('calibration: %d keys issued in %.2f s' % (PER_CITY, span),
              flush=True)
        seen = {'open': 0, 'failed': 0, 'executed': 0}
        rows_at_kill, recovered = [], 0
        spawned = self.spawn()
        for n in range(1, CYCLES + 1):
            name, city, h, hid = self.new_target(n, spawned)
            spawned = self.spawn() if n < CYCLES else None
            payload = self.issue_payload(n, hid, rng)
            pid = self.propose('kma', 'key.issue', payload)['id']
            delay = (rng.uniform(0, 0.005) if rng.random() < 0.1
                     else rng.uniform(0, span * 1.1))

            def approve():
                try:
                    self.req('kmb', 'POST', '/api/proposals/%d/approve'
                             % pid)
                except Exception:  # noqa: B902 - the daemon dies under it
                    pass
            th = threading.Thread(target=approve, daemon=True)
            th.start()
            time.sleep(delay)
            self.restart()
            th.join(30)
            before, unrecorded, state = self.check_consistent(
                name, hid, city, h, pid)
            seen[state] += 1
            rows_at_kill.append(len(before))
            recovered += len(unrecorded)
            self.complete(name, hid, city, h, pid, state, before,
                          unrecorded)
            h.__exit__(None, None, None)
        # The generation records: every key's KCV and who generated it.
        for rk in self.roots:
            doc = self.get('aud', '/api/records/generation/%d?format=md'
                           % rk['id'])['document']
            self.assertIn(rk['kcv'], doc)
            self.assertTrue(re.search(r'kma\+kmb.*proposed by kma,'
                                      r' approved by kmb', doc), doc)
        records = self.audit_verify()
        mid = sum(1 for x in rows_at_kill if 0 < x < PER_CITY)
        print('%d kill cycles in %.1f s: after restart the proposal was'
              ' open %d, interrupted (failed) %d, executed %d times; killed'
              ' mid-city (1-45 keys recorded) %d times; %d keys held but'
              ' unrecorded, recovered; %d audit records verified'
              % (CYCLES, time.monotonic() - t0, seen['open'], seen['failed'],
                 seen['executed'], mid, recovered, records), flush=True)


    @unittest.skipIf(PG_URL, 'SQLite only: PostgreSQL takes several')
    def test_sqlite_one_daemon(self):
        """A second kmsd on the same SQLite directory would take the
        first one's running executions for interrupted ones: it refuses
        to start (DIR/kms.lock), and the first one goes on."""
        k = KmsDaemon()
        k.start()
        try:
            argv = k.argv()
            argv[argv.index('--port-file') + 1] += '.2'
            p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=120,
                               env=dict(os.environ, TKMS_ARGON2_FAST='1'))
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(b'another tkms-kmsd uses this directory',
                          p.stderr)
            self.assertFalse(os.path.exists(k.port_file + '.2'))
            k.login('ca')  # the first one still answers
        finally:
            k.kill()
        k.start()  # the lock went with the process, even a killed one
        k.stop()

    @unittest.skipUnless(PG_URL, 'PostgreSQL only: SQLite has one daemon')
    def test_pg_live_execution_kept(self):
        """Several daemons share PostgreSQL: one starting while another
        executes a proposal leaves it approved (its advisory lock is
        held), and the execution's own outcome is recorded."""
        hole = socket.socket()
        hole.bind(('127.0.0.1', 0))
        hole.listen(8)
        held = []

        def swallow():  # accepts, never answers: NC waits its timeout
            while True:
                try:
                    held.append(hole.accept()[0])
                except OSError:
                    return
        threading.Thread(target=swallow, daemon=True).start()
        second = None
        try:
            if not self.get('sup', '/api/root-keys?state=active')[
                    'root_keys']:
                self.executed('key.generate', {'hsm': self.add_root()})
            hid = self.executed('hsm.add', {
                'name': 'blackhole', 'role': 'provincial_business',
                'city': '6060', 'host': '127.0.0.1',
                'port': hole.getsockname()[1]}, 'ca', 'cb')['id']
            pid = self.propose('kma', 'key.issue', {'hsm': hid})['id']
            out = {}

            def approve():
                out['st'], out['r'] = self.req(
                    'kmb', 'POST', '/api/proposals/%d/approve' % pid)
            th = threading.Thread(target=approve)
            th.start()
            deadline = time.monotonic() + 30
            while not held and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertTrue(held, 'the execution never reached the HSM')
            second = KmsDaemon().start()
            st, p = second.request('GET', '/api/proposals/%d' % pid,
                                   token=self.tok['aud'])
            self.assertEqual((st, p['state']), (200, 'approved'), p)
            self.assertNotIn('interrupted', second.log())
            th.join(60)
            self.assertIn(out['st'], (502, 504), out)
            p = self.get('aud', '/api/proposals/%d' % pid)
            self.assertEqual(p['state'], 'failed', p)
            self.assertIn('unreachable', p['result']['error'])
            self.assertEqual(self.rows_of(hid), [])
            self.audit_verify()
        finally:
            hole.close()
            for c in held:
                c.close()
            if second is not None:
                second.stop()

    def add_root(self):
        return self.executed('hsm.add', {
            'name': 'root', 'role': 'root', 'host': '127.0.0.1',
            'port': self.root.port, 'header_len': 8}, 'ca', 'cb')['id']


if __name__ == '__main__':
    unittest.main(verbosity=2)
