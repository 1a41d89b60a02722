"""End-to-end tests of tkms-hsmd's transport: framing, pipelining,
whitelists, limits, misbehaving clients (protocol.md §1, §3; docs/hsmd.md).

Run by ctest with TKMS_BUILD set; each class starts one real daemon.
"""
import os
import random
import re
import socket
import struct
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import Hsm, frame, read_frame, recv_exact  # noqa: E402

# KCV of DK = C1 ^ C2 ^ C3 = 1F3C597A93B0D5F6DBF89DBE57741132: the first
# 8 bytes of SM4(DK, 0^16), computed independently with
#   openssl enc -sm4-ecb -K 1f3c...1132 -nopad  (of 16 zero bytes)
DK_KCV = b'C8FABC567BA0A5C6'
HDR = b'12345678'

# Listeners of the main daemon (index in the port file = line order).
L_MAIN, L_H4, L_NC_ONLY, L_IP10, L_V6 = range(5)
CONFIG = [
    'idle-timeout 60',
    'listen 127.0.0.1:0',
    'listen 127.0.0.1:0 header=4 max-frame=1024',
    'listen 127.0.0.1:0 commands=NC',
    'listen 127.0.0.1:0 ip=10.0.0.0/8,192.168.1.1',
    'listen [::1]:0 ip=::1/128',
]


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


if not have_ipv6():
    CONFIG.pop()


def answer(sock, payload, header=HDR):
    """Send one frame on sock, return the answer after the header."""
    sock.sendall(frame(header + payload))
    a = read_frame(sock)
    assert a[:len(header)] == header, (a, header)
    return a[len(header):]


class Transport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hsm = Hsm(authorised=True, workers=2, config_lines=CONFIG)
        cls.hsm.start()

    @classmethod
    def tearDownClass(cls):
        cls.hsm.stop()

    def tearDown(self):
        # Whatever a test did, the daemon still serves everyone else.
        self.assertTrue(self.hsm.cmd(b'NC').startswith(b'ND00'))

    def conn(self, listener=L_MAIN):
        s = self.hsm.connect(listener, timeout=30)
        self.addCleanup(s.close)
        return s

    # --- answers ------------------------------------------------------
    def test_nc_format(self):
        r = self.hsm.cmd(b'NC')
        # payShield form (protocol.md §4): ND00 | DK KCV 16H | firmware 9A
        self.assertEqual(len(r), 4 + 16 + 9, r)
        self.assertEqual(r[:4], b'ND00')
        self.assertEqual(r[4:20], DK_KCV)
        self.assertRegex(r[20:].decode('ascii'), r'^[ -~]{9}$')

    def test_header_echoed(self):
        s = self.conn()
        for hdr in (b'ABCDEFGH', b'00000000', b'zz zz zz', b'\x00\x01\x02\x03'
                    b'\xfd\xfe\xff\x19'):
            self.assertTrue(answer(s, b'NC', hdr).startswith(b'ND00'))

    def test_trailer_echoed(self):
        r = self.hsm.cmd(b'NC\x19TRAILER-1')
        self.assertTrue(r.startswith(b'ND00'), r)
        self.assertTrue(r.endswith(b'\x19TRAILER-1'), r)
        r = self.hsm.cmd(b'ZZ\x19' + b'T' * 32)
        self.assertEqual(r, b'Z[60\x19' + b'T' * 32)

    def test_header_length_4(self):
        s = self.conn(L_H4)
        self.assertTrue(answer(s, b'NC', b'ABCD').startswith(b'ND00'))
        # Through hsmlib too, on the same listener.
        r = self.hsm.cmd(b'NC', header=b'WXYZ', listener=L_H4)
        self.assertEqual(r[:4], b'ND00')
        self.assertEqual(r[4:20], DK_KCV)

    def test_unknown_command(self):
        self.assertEqual(self.hsm.cmd(b'ZZ'), b'Z[60')
        self.assertEqual(self.hsm.cmd(b'QQ123456'), b'QR60')

    def test_unprintable_command(self):
        # A command code must be two printable characters: ERR 15.
        r = self.hsm.cmd(b'\x00\x01')
        self.assertEqual(r[2:4], b'15', r)

    # --- framing ------------------------------------------------------
    def test_one_byte_at_a_time(self):
        s = self.conn()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in frame(HDR + b'NC'):
            s.send(bytes([b]))
            time.sleep(0.002)
        a = read_frame(s)
        self.assertEqual(a[:12], HDR + b'ND00')

    def test_pipelined_in_order(self):
        s = self.conn()
        hdrs = [b'%08d' % i for i in range(100)]
        s.sendall(b''.join(frame(h + b'NC') for h in hdrs))
        for h in hdrs:
            a = read_frame(s)
            self.assertEqual(a[:12], h + b'ND00')

    def test_pipelined_mixed_answers(self):
        # Errors and good answers interleaved keep their order.
        s = self.conn()
        reqs = [(b'%08d' % i, b'NC' if i % 3 else b'ZZ') for i in range(60)]
        s.sendall(b''.join(frame(h + c) for h, c in reqs))
        for h, c in reqs:
            a = read_frame(s)
            self.assertEqual(a[:12], h + (b'ND00' if c == b'NC' else b'Z[60'))

    def test_shorter_than_header(self):
        s = self.conn()
        s.sendall(frame(b'12345'))
        a = read_frame(s)
        # What there is of the header, then ERR 51 (protocol.md §1).
        self.assertTrue(a.startswith(b'12345'), a)
        self.assertEqual(a[-2:], b'51', a)
        self.assertEqual(answer(s, b'NC')[:4], b'ND00')

    def test_header_without_command(self):
        s = self.conn()
        s.sendall(frame(HDR + b'N'))
        a = read_frame(s)
        self.assertEqual(a[-2:], b'51', a)
        self.assertEqual(answer(s, b'NC')[:4], b'ND00')

    def test_len_zero(self):
        s = self.conn()
        s.sendall(b'\x00\x00')
        a = read_frame(s)
        self.assertEqual(a[-2:], b'51', a)
        self.assertEqual(answer(s, b'NC')[:4], b'ND00')

    def test_oversized_frame(self):
        s = self.conn()
        big = HDR + b'NC' + b'0' * 40000  # default max-frame 32768
        s.sendall(frame(big))
        # Answered with the command's response code, then in step again.
        self.assertEqual(read_frame(s), HDR + b'ND51')
        self.assertEqual(answer(s, b'NC')[:4], b'ND00')

    def test_oversized_frame_small_max(self):
        s = self.conn(L_H4)
        s.sendall(frame(b'ABCD' + b'UB' + b'9' * 1100))  # max-frame 1024
        self.assertEqual(read_frame(s), b'ABCDUC51')
        s.sendall(frame(b'ABCD' + b'ZZ' + b'X' * 1018))  # just 1024
        self.assertEqual(read_frame(s), b'ABCDZ[60')

    def test_oversized_then_pipelined(self):
        s = self.conn()
        data = frame(HDR + b'NC' + b'x' * 65000) + frame(b'AAAAAAAANC')
        s.sendall(data)
        self.assertEqual(read_frame(s), HDR + b'ND51')
        self.assertEqual(read_frame(s)[:12], b'AAAAAAAAND00')

    def test_garbage(self):
        rnd = random.Random(1234)
        for _ in range(20):
            s = self.hsm.connect()
            try:
                s.sendall(bytes(rnd.getrandbits(8)
                                for _ in range(rnd.randrange(1, 3000))))
                s.shutdown(socket.SHUT_WR)
                s.settimeout(10)
                # Whatever comes back are whole answers, then EOF.
                while s.recv(65536):
                    pass
            except (ConnectionResetError, BrokenPipeError):
                pass
            finally:
                s.close()

    def test_garbage_frames(self):
        # Well-framed random content: every frame gets an answer.
        rnd = random.Random(99)
        s = self.conn()
        for _ in range(200):
            body = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(200)))
            s.sendall(frame(body))
            a = read_frame(s)
            self.assertRegex(a, re.compile(rb'(\d\d|A\d)(\x19.*)?$', re.S))

    def test_half_closed_client_gets_answers(self):
        s = self.conn()
        s.sendall(b''.join(frame(b'%08dNC' % i) for i in range(10)))
        s.shutdown(socket.SHUT_WR)
        for i in range(10):
            self.assertEqual(read_frame(s)[:12], b'%08dND00' % i)
        self.assertEqual(s.recv(1), b'')

    # --- whitelists ---------------------------------------------------
    def test_command_whitelist(self):
        s = self.conn(L_NC_ONLY)
        self.assertEqual(answer(s, b'NC')[:4], b'ND00')
        self.assertEqual(answer(s, b'TE0008'), b'TF68')
        self.assertEqual(answer(s, b'BU000X' + b'0' * 32), b'BV68')

    def test_ip_whitelist(self):
        # 127.0.0.1 is not in 10.0.0.0/8 or 192.168.1.1: every frame 69.
        s = self.conn(L_IP10)
        self.assertEqual(answer(s, b'NC'), b'ND69')
        self.assertEqual(answer(s, b'ZZ'), b'Z[69')
        s.sendall(frame(HDR + b'NC' + b'0' * 40000))
        self.assertEqual(read_frame(s), HDR + b'ND69')

    @unittest.skipUnless(len(CONFIG) > L_V6 + 1, 'no IPv6 loopback')
    def test_ipv6_whitelist_allows(self):
        s = self.conn(L_V6)
        self.assertEqual(answer(s, b'NC')[:4], b'ND00')

    # --- misbehaving and many clients ---------------------------------
    def test_stalled_client_does_not_block_others(self):
        stalled = []
        req = frame(HDR + b'NC\x19' + b'T' * 32)
        for _ in range(4):  # at least one on each worker, most likely
            s = self.conn()
            s.sendall(req[:20])
            stalled.append(s)
        t0 = time.monotonic()
        for _ in range(20):
            s = self.hsm.connect()
            self.assertEqual(answer(s, b'NC')[:4], b'ND00')
            s.close()
        self.assertLess(time.monotonic() - t0, 10)
        # The stalled frame completes later and is answered.
        stalled[0].sendall(req[20:])
        self.assertEqual(read_frame(stalled[0])[:12], HDR + b'ND00')

    def test_200_connections(self):
        socks = [self.conn() for _ in range(200)]
        for i, s in enumerate(socks):
            s.sendall(frame(b'%08dNC' % i))
        for i, s in enumerate(socks):
            self.assertEqual(read_frame(s)[:12], b'%08dND00' % i)

    def test_concurrent_clients(self):
        errors = []

        def client(n):
            try:
                s = self.hsm.connect()
                with s:
                    for i in range(50):
                        h = b'%04d%04d' % (n, i)
                        if answer(s, b'NC', h)[:4] != b'ND00':
                            errors.append((n, i))
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=client, args=(n,))
                   for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    def test_client_that_does_not_read(self):
        # 30000 pipelined requests, answers not read until all are sent:
        # the daemon stops reading at its high-water mark instead of
        # buffering, and loses nothing once the client reads.
        n = 30000
        s = self.conn()
        data = b''.join(frame(b'%08dNC' % i) for i in range(n))
        sender = threading.Thread(target=s.sendall, args=(data,))
        sender.start()
        time.sleep(1.0)
        for i in range(n):
            a = read_frame(s)
            if a[:12] != b'%08dND00' % i:
                self.fail('answer %d: %r' % (i, a[:12]))
        sender.join()

    # --- the command line ---------------------------------------------
    def test_cli_cmd(self):
        p = self.hsm.tkms('hsm', 'cmd', '127.0.0.1:%d' % self.hsm.port, 'NC')
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn('12345678', out)
        self.assertRegex(out, r'response\s+ND')
        self.assertRegex(out, r'error\s+00 ok')
        self.assertIn(DK_KCV.decode(), out)

    def test_cli_error_answer(self):
        p = self.hsm.tkms('hsm', 'cmd', '127.0.0.1:%d' % self.hsm.port, 'ZZ')
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertRegex(p.stdout.decode(), r'error\s+60 no such command')

    def test_cli_hex_and_header_len(self):
        port = self.hsm.listeners[L_H4][1]
        p = self.hsm.tkms('hsm', 'cmd', '--header-len', '4', '--hex',
                          '127.0.0.1:%d' % port, '4e43')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode(), r'header\s+1234\n')
        p = self.hsm.tkms('hsm', 'cmd', '--header', 'ABCD', '127.0.0.1:%d'
                          % port, 'NC')
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode(), r'header\s+ABCD\n')

    def test_cli_whitelist_answer(self):
        port = self.hsm.listeners[L_IP10][1]
        p = self.hsm.tkms('hsm', 'cmd', '127.0.0.1:%d' % port, 'NC')
        self.assertEqual(p.returncode, 1)
        self.assertRegex(p.stdout.decode(),
                         r'error\s+69 source address not on the IP')

    def test_cli_usage_and_connection_errors(self):
        self.assertEqual(self.hsm.tkms('hsm', 'cmd').returncode, 2)
        self.assertEqual(self.hsm.tkms('hsm', 'cmd', 'nohostport',
                                       'NC').returncode, 2)
        self.assertEqual(self.hsm.tkms('hsm', 'cmd', '--hex', '127.0.0.1:1',
                                       'XYZ').returncode, 2)
        # Nothing listens on port 1.
        p = self.hsm.tkms('hsm', 'cmd', '--timeout', '2000', '127.0.0.1:1',
                          'NC')
        self.assertEqual(p.returncode, 2)


class Sealed(unittest.TestCase):
    """Without DK every command that needs it answers 13."""

    def test_sealed(self):
        with Hsm(sealed=True, authorised=True, workers=1) as h:
            self.assertIn('sealed', h.stderr())
            for cmd, rsp in ((b'EI', b'EJ'), (b'UB', b'UC'),
                             (b'BU', b'BV'), (b'A0', b'A1'),
                             (b'U1', b'U2'), (b'KW', b'KX')):
                self.assertEqual(h.cmd(cmd + b'000'), rsp + b'13', cmd)
            # Commands that need no DK still work.
            self.assertEqual(h.cmd(b'ZZ'), b'Z[60')


class NotAuthorised(unittest.TestCase):
    def test_not_authorised(self):
        with Hsm(authorised=False, workers=1) as h:
            self.assertEqual(h.cmd(b'A0'), b'A117')
            self.assertEqual(h.cmd(b'NC')[:4], b'ND00')


class Limits(unittest.TestCase):
    def test_idle_timeout(self):
        with Hsm(workers=1, config_lines=['idle-timeout 1']) as h:
            s = h.connect()
            with s:
                self.assertEqual(answer(s, b'NC')[:4], b'ND00')
                # Closed by the daemon: without the idle timeout (300 s by
                # default) recv would time out instead.
                s.settimeout(30)
                self.assertEqual(s.recv(1), b'')
            # hsmlib reconnects after the idle close.
            self.assertEqual(h.cmd(b'NC')[:4], b'ND00')
            time.sleep(1.5)
            self.assertEqual(h.cmd(b'NC')[:4], b'ND00')

    def test_max_conns(self):
        with Hsm(workers=1, config_lines=['max-conns 5']) as h:
            socks = [h.connect() for _ in range(5)]
            for s in socks:
                self.assertEqual(answer(s, b'NC')[:4], b'ND00')
            extra = h.connect()
            extra.settimeout(10)
            extra.sendall(frame(HDR + b'NC'))
            try:
                self.assertEqual(extra.recv(1), b'')
            except ConnectionResetError:
                pass
            extra.close()
            socks.pop().close()
            time.sleep(0.2)
            s = h.connect()
            self.assertEqual(answer(s, b'NC')[:4], b'ND00')
            for s2 in socks + [s]:
                s2.close()

    def test_ephemeral_port_shared_by_workers(self):
        with Hsm(workers=4) as h:
            ports = set()
            for _ in range(40):
                s = h.connect()
                with s:
                    self.assertEqual(answer(s, b'NC')[:4], b'ND00')
                    ports.add(s.getpeername()[1])
            self.assertEqual(ports, {h.port})

    def test_restart_after_kill(self):
        with Hsm(workers=2) as h:
            self.assertEqual(h.cmd(b'NC')[4:20], DK_KCV)
            h.kill()
            h.start()
            self.assertEqual(h.cmd(b'NC')[4:20], DK_KCV)

    def test_bad_config_refused(self):
        h = Hsm(workers=1, config_lines=['listen 127.0.0.1:0 header=99'])
        with self.assertRaises(AssertionError) as cm:
            h.start()
        self.assertIn('hsmd.conf:1: header must be 0..30', str(cm.exception))
        h.stop(check=False)

    def test_busy_port_refused(self):
        with socket.socket() as busy:
            busy.bind(('127.0.0.1', 0))
            busy.listen()
            port = busy.getsockname()[1]
            h = Hsm(workers=1, config_lines=['listen 127.0.0.1:%d' % port])
            with self.assertRaises(AssertionError):
                h.start()
            h.stop(check=False)


if __name__ == '__main__':
    unittest.main(verbosity=2)
