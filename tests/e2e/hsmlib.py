"""hsmlib - start a real tkms-hsmd for end-to-end tests.

    from hsmlib import Hsm
    with Hsm(authorised=True, workers=2, config_lines=None) as h:
        r = h.cmd(b'NC')                  # bytes after the echoed header
        r = h.cmd(b'NC', header=b'ABCD')  # a listener with header=4
        s = h.connect()                   # raw socket to the first listener
        h.kill(); h.start()               # SIGKILL, restart on the same dir
        r = h.mgmt('status')              # management op: the response dict
        m = h.mgmt_connect()              # raw socket to the manage port
        p = h.console('status')           # `tkms hsm status --port ...`

The daemon is $TKMS_BUILD/tkms-hsmd, run in a temporary directory with the
development components below (unless sealed=True) on ephemeral ports
(tests put port 0 in their listen lines; without one, 127.0.0.1:0; the
management port likewise: `manage 127.0.0.1:0` unless the test gives a
manage line). Leaving the block sends SIGTERM and fails if
the daemon exited non-zero or its stderr holds a sanitizer report.
Debian's /usr/bin/python3, standard library only.
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time

C1 = '0123456789ABCDEFFEDCBA9876543210'
C2 = '11111111111111112222222222222222'
C3 = '0F0E0D0C0B0A09080706050403020100'

BUILD = os.environ.get('TKMS_BUILD', '')
START_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0
IO_TIMEOUT = 30.0

SANITIZER_MARKS = (b'ERROR: AddressSanitizer', b'ERROR: LeakSanitizer',
                   b'runtime error:', b'WARNING: ThreadSanitizer',
                   b'SUMMARY: UndefinedBehaviorSanitizer')


class HsmError(AssertionError):
    pass


def run_tkms(*args, timeout=60):
    """The tkms command line; returns the CompletedProcess."""
    return subprocess.run([os.path.join(BUILD, 'tkms')] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout)


def frame(payload):
    """LEN (2 bytes, big-endian) in front of payload."""
    return struct.pack('>H', len(payload)) + payload


def recv_exact(sock, n):
    buf = b''
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError('connection closed after %d of %d bytes'
                                  % (len(buf), n))
        buf += chunk
    return buf


def mgmt_frame(obj):
    """A management request: LEN (4 bytes, big-endian) || JSON."""
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return struct.pack('>I', len(body)) + body


def read_mgmt(sock):
    """One management response, decoded."""
    (n,) = struct.unpack('>I', recv_exact(sock, 4))
    return json.loads(recv_exact(sock, n))


def read_frame(sock):
    """One answer frame from sock, without LEN."""
    (n,) = struct.unpack('>H', recv_exact(sock, 2))
    return recv_exact(sock, n)


class Hsm:
    def __init__(self, authorised=True, workers=2, config_lines=None,
                 sealed=False, extra_args=()):
        self.authorised = authorised
        self.workers = workers
        self.config_lines = config_lines
        self.sealed = sealed
        self.extra_args = list(extra_args)
        self.tmp = tempfile.mkdtemp(prefix='tkms-hsmd-')
        self.dir = os.path.join(self.tmp, 'hsm')
        self.port_file = os.path.join(self.tmp, 'ports')
        # Tests never use the default port 1500: without a listen line of
        # their own they get one ephemeral listener.
        lines = list(config_lines or [])
        if not any(l.split()[:1] == ['listen'] for l in lines):
            lines.insert(0, 'listen 127.0.0.1:0')
        if not any(l.split()[:1] == ['manage'] for l in lines):
            lines.append('manage 127.0.0.1:0')
        self.config = os.path.join(self.tmp, 'hsmd.conf')
        with open(self.config, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        self.proc = None
        self.stderr_path = None
        self.runs = 0
        self.listeners = []  # [(addr, port)]
        self.manage = None   # (addr, port) of the management listener
        self.session = None  # token of h.mgmt()'s session
        self.session_file = os.path.join(self.tmp, 'tkms-session')
        self._socks = {}

    # --- life cycle ----------------------------------------------------
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop(check=exc_type is None)
        finally:
            if exc_type is None:
                shutil.rmtree(self.tmp, ignore_errors=True)
        return False

    def argv(self):
        binary = os.path.join(BUILD, 'tkms-hsmd')
        args = [binary, '--dir', self.dir, '--port-file', self.port_file,
                '--workers', str(self.workers), '--config', self.config]
        if not self.sealed:
            args += ['--dev-components', ','.join((C1, C2, C3))]
        if self.authorised:
            args.append('--dev-authorised')
        return args + self.extra_args

    def start(self):
        if not BUILD:
            raise HsmError('TKMS_BUILD is not set')
        self._close_socks()
        try:
            os.unlink(self.port_file)
        except FileNotFoundError:
            pass
        self.runs += 1
        self.stderr_path = os.path.join(self.tmp, 'stderr.%d' % self.runs)
        err = open(self.stderr_path, 'wb')
        try:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=err)
        finally:
            err.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None:
                raise HsmError('tkms-hsmd exited with %d before listening:\n%s'
                               % (self.proc.returncode, self.stderr()))
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise HsmError('tkms-hsmd did not write %s in %.0f s:\n%s'
                               % (self.port_file, START_TIMEOUT,
                                  self.stderr()))
            time.sleep(0.02)
        self.listeners, self.manage = [], None
        with open(self.port_file) as f:
            for line in f:
                w = line.split()
                if w[:1] == ['manage']:
                    self.manage = (w[1], int(w[2]))
                elif w:
                    self.listeners.append((w[0], int(w[1])))
        self.session = None
        return self

    def stderr(self):
        """Everything the current run wrote to stderr, as text."""
        if not self.stderr_path or not os.path.exists(self.stderr_path):
            return ''
        with open(self.stderr_path, 'rb') as f:
            return f.read().decode('utf-8', 'replace')

    def kill(self):
        """SIGKILL: a crash, as far as the daemon can tell."""
        self._close_socks()
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def stop(self, check=True):
        """SIGTERM, wait, and check the exit status and stderr."""
        self._close_socks()
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                if check:
                    raise HsmError('tkms-hsmd ignored SIGTERM:\n'
                                   + self.stderr())
        if not check:
            return
        with open(self.stderr_path, 'rb') as f:
            log = f.read()
        for mark in SANITIZER_MARKS:
            if mark in log:
                raise HsmError('sanitizer report from tkms-hsmd:\n'
                               + log.decode('utf-8', 'replace'))
        if proc.returncode != 0:
            raise HsmError('tkms-hsmd exited with %d:\n%s'
                           % (proc.returncode, log.decode('utf-8', 'replace')))

    # --- talking to it -------------------------------------------------
    @property
    def port(self):
        return self.listeners[0][1]

    def connect(self, listener=0, timeout=IO_TIMEOUT):
        """A new raw socket to a listener."""
        addr, port = self.listeners[listener]
        return socket.create_connection((addr, port), timeout=timeout)

    def _close_socks(self):
        for s in self._socks.values():
            s.close()
        self._socks = {}

    def _sock(self, listener):
        s = self._socks.get(listener)
        if s is None:
            s = self._socks[listener] = (
                self.mgmt_connect() if listener == 'manage'
                else self.connect(listener))
        return s

    def cmd(self, payload, header=b'12345678', listener=0):
        """Send header + payload on a kept connection; return the answer
        after its header (which must echo ours)."""
        for attempt in (0, 1):
            s = self._sock(listener)
            try:
                s.sendall(frame(header + payload))
                answer = read_frame(s)
                break
            except (ConnectionError, BrokenPipeError):
                # The daemon's idle timeout may have closed it: once more.
                self._socks.pop(listener).close()
                if attempt:
                    raise
        if answer[:len(header)] != header:
            raise HsmError('header not echoed: sent %r, got %r'
                           % (header, answer[:len(header)]))
        return answer[len(header):]

    # --- the management port -------------------------------------------
    @property
    def manage_port(self):
        return self.manage[1]

    def mgmt_connect(self, timeout=IO_TIMEOUT):
        """A new raw socket to the management listener."""
        return socket.create_connection(self.manage, timeout=timeout)

    def mgmt(self, op, args=None, session=None):
        """Run one management op on a kept connection; returns the
        response as a dict. session: a token, or None for the one the
        last response named (h.session), or '' for none."""
        if session is None:
            session = self.session
        req = {'op': op, 'args': args or {}}
        if session:
            req['session'] = session
        s = self._sock('manage')
        s.sendall(mgmt_frame(req))
        r = read_mgmt(s)
        self.session = r.get('session')
        return r

    def console(self, *args, timeout=60, stdin=None):
        """`tkms hsm ARGS... --port MANAGE --session FILE`: the console,
        with the session kept in the test's directory."""
        argv = ['hsm'] + list(args) + [
            '--host', self.manage[0], '--port', str(self.manage[1]),
            '--session', self.session_file]
        return subprocess.run([os.path.join(BUILD, 'tkms')] + argv,
                              input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout)

    def tkms(self, *args, timeout=30):
        """Run the tkms command line; returns the CompletedProcess."""
        return run_tkms(*args, timeout=timeout)

    def maint(self, *args, timeout=60):
        """`tkms maint ARGS` against this HSM's management port, in the
        console's session."""
        return run_tkms('maint', *args, '--host', self.manage[0], '--port',
                        str(self.manage[1]), '--session', self.session_file,
                        timeout=timeout)
