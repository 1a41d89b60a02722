"""test_mot - the ministry key import (the spec's 导入交通运输部密钥,
docs/mot.md) against a real tkms-hsmd, step by step as people run it:

  1. B: the business listener's IP whitelist allows the client
     (127.0.0.1 here; a list without it is refused with ERR 69);
  2. C: `tkms hsm tk initial` stores the TKs 11...11 at K000 and K100
     (KCVs pinned), then `tkms hsm auth open` (without it: ERR 17);
  3. the ministry's client: `tkms mot import --card` over the business
     port, KCVs printed and recorded; the imported keys compute the MAC
     Python computes from the plaintext it decrypts from the card file
     with the known TK; a wrong KCV stops before storing, a damaged card
     is refused before anything is sent;
  4. C: `tkms hsm keys delete` of K000 and K100; an import fails clearly.

The card file is checked independently too: its sm3 line with
python3-cryptography's SM3, each KCV from the decrypted key.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import Hsm  # noqa: E402
import vectors  # noqa: E402
from vectors import DES, SM4  # noqa: E402

from cryptography.hazmat.primitives import hashes  # noqa: E402

ROLES = ('A1', 'A2', 'A3', 'B', 'C')
TK = bytes([0x11]) * 16
KCV_TK_DES = '82E13665B4624DF5'  # 3DES(11..11, 0^8): cryptography, Botan
KCV_TK_SM4 = 'F8D06870B9EA321E'  # SM4(11..11, 0^16)[:8]
DATA = bytes.fromhex('0011223344556677')


def sm3(data):
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def read_card(path):
    """The card file checked with an independent SM3 and its keys
    decrypted under the TK: (id, [(alg, index, type, key, kcv, label)])."""
    with open(path, 'rb') as f:
        raw = f.read()
    body, last = raw[:-1].rsplit(b'\n', 1)
    body += b'\n'
    assert last == b'sm3 ' + sm3(body).hex().upper().encode(), last
    lines = body.decode('ascii').splitlines()
    assert lines[0] == 'TKMS-MOTCARD 1', lines[0]
    assert lines[1].startswith('card ')
    assert lines[2].startswith('issuer ')
    keys = []
    for line in lines[3:]:
        word, alg, index, ktype, ct, kcv, label = line.split(' ', 6)
        assert word == 'key'
        a = DES if alg == 'DES' else SM4
        key = vectors.ecb(a, TK, bytes.fromhex(ct), decrypt=True)
        assert vectors.kcv(a, key).hex().upper() == kcv, line
        keys.append((a, index, ktype, key, kcv, label))
    return lines[1][5:], keys


def write_card(path, card_id, keys):
    """A card file made here (for the cases the tool will not make)."""
    body = 'TKMS-MOTCARD 1\ncard %s\nissuer test\n' % card_id
    for alg, index, ktype, ct, kcv, label in keys:
        body += 'key %s %s %s %s %s %s\n' % (alg, index, ktype, ct, kcv,
                                            label)
    body = body.encode()
    with open(path, 'wb') as f:
        f.write(body + b'sm3 ' + sm3(body).hex().upper().encode() + b'\n')


class MinistryImport(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ['TKMS_ARGON2_FAST'] = '1'  # tests only
        cls.hsm = Hsm(workers=2, authorised=False)
        cls.hsm.start()
        d = cls.tmp = cls.hsm.tmp
        cls.f = {}
        for name, text in (('pin', '123456'), ('pw', 'admin-pass-1')):
            path = os.path.join(d, name)
            with open(path, 'w') as f:
                f.write(text + '\n')
            cls.f[name] = path
        for role in ROLES:
            card = os.path.join(d, role + '.card')
            p = cls.hsm.tkms('hsm', 'card', 'new', '--role', role, '--out',
                             card, '--pin-file', cls.f['pin'])
            assert p.returncode == 0, p.stderr
            cls.f[role] = card
        # initialisation: A1-A3 enrol themselves, then enrol B and C
        for role in ROLES[:3]:
            cls.console('enrol', '--role', role)
        for role in ROLES[:3]:
            cls.console('login', '--role', role)
        for role in ('B', 'C'):
            cls.console('enrol', '--role', role)
        cls.console('logout')
        for role in ('B', 'C'):
            cls.console('login', '--role', role)

    @classmethod
    def tearDownClass(cls):
        cls.hsm.stop()

    @classmethod
    def console(cls, *args, ok=True):
        if args[0] in ('enrol', 'login'):
            role = args[args.index('--role') + 1]
            args += ('--card', cls.f[role], '--pin-file', cls.f['pin'],
                     '--password-file', cls.f['pw'])
        p = cls.hsm.console(*args)
        if not ok:
            return p
        assert p.returncode == 0, (args, p.stdout, p.stderr)
        try:
            return json.loads(p.stdout)
        except ValueError:
            return p.stdout

    def mot(self, *args):
        p = self.hsm.tkms('mot', *args, timeout=60)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def import_(self, card, *extra):
        host, port = self.hsm.listeners[0]
        return self.mot('import', '--card', card, '--host', host,
                        '--port', str(port), *extra)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def keys(self):
        return {(k['lib'], k['ref']): k
                for k in self.console('keys', 'list')['keys']}

    def test_procedure(self):
        card = self.path('mother.card')
        code, out, err = self.mot('card', 'new', '--out', card, '--des',
                                  '2', '--sm4', '2', '--first-index',
                                  'K200', '--id', 'MOT-E2E-1')
        self.assertEqual(code, 0, err)
        card_id, keys = read_card(card)
        self.assertEqual(card_id, 'MOT-E2E-1')
        self.assertEqual([(k[0], k[1], k[2]) for k in keys],
                         [(DES, 'K200', '109'), (DES, 'K201', '109'),
                          (SM4, 'K202', '109'), (SM4, 'K203', '109')])
        for k in keys:
            if k[0] == DES:  # odd parity, as generated DES keys have
                self.assertEqual(k[3], vectors.parity(k[3]))
            self.assertIn('%s  109' % k[1], out)
        # never overwritten
        code, _, err = self.mot('card', 'new', '--out', card)
        self.assertEqual(code, 1)
        self.assertIn('exists', err)

        # --- step 1 (B): the client's address on the IP whitelist --------
        self.console('whitelist', 'set', '--listener', '0', '--kind', 'ip',
                     '--list', '10.9.9.9')
        code, _, err = self.import_(card)
        self.assertEqual(code, 1, err)
        self.assertIn('ERR 69', err)
        self.assertIn('IP whitelist', err)
        self.console('whitelist', 'set', '--listener', '0', '--kind', 'ip',
                     '--list', '127.0.0.1')

        # --- step 2 (C): the initial TKs, then the authorised state ------
        code, _, err = self.import_(card)
        self.assertEqual(code, 1, err)
        self.assertIn('ERR 17', err)
        self.assertIn('tkms hsm auth open', err)
        r = self.console('tk', 'initial')
        self.assertEqual(r['des'], {'index': 'K000', 'type': '000',
                                    'kcv': KCV_TK_DES[:6],
                                    'kcv16': KCV_TK_DES})
        self.assertEqual(r['sm4'], {'index': 'K100', 'type': '000',
                                    'kcv': KCV_TK_SM4[:6],
                                    'kcv16': KCV_TK_SM4})
        p = self.console('tk', 'initial', ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b'keys.delete', p.stderr)
        self.console('auth', 'open', '--minutes', '10')
        # A6 not on the command whitelist: ERR 68, said so
        self.console('whitelist', 'set', '--listener', '0', '--kind',
                     'commands', '--list', 'NC,BU,UB')
        code, _, err = self.import_(card)
        self.assertEqual(code, 1, err)
        self.assertIn('ERR 68', err)
        self.console('whitelist', 'set', '--listener', '0', '--kind',
                     'commands', '--list', '')

        # --- step 3: the ministry's client imports the card --------------
        record = self.path('mot-import.json')
        code, out, err = self.import_(card, '--record', record)
        self.assertEqual(code, 0, (out, err))
        for alg, index, ktype, key, kcv, label in keys:
            self.assertIn('%s  %s  %s  KCV %s  imported' % (
                index, ktype, 'DES' if alg == DES else 'SM4', kcv), out)
        self.assertIn('all 4 keys imported', out)
        with open(record) as f:
            rec = json.load(f)
        host, port = self.hsm.listeners[0]
        self.assertEqual(rec['card'], 'MOT-E2E-1')
        self.assertEqual(rec['hsm'], '%s:%d' % (host, port))
        self.assertTrue(rec['complete'])
        self.assertEqual(rec['imported'], 4)
        self.assertRegex(rec['time'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
        self.assertEqual(rec['initial_tk'], {'des': 'K000', 'sm4': 'K100'})
        self.assertEqual(
            [(k['alg'], k['index'], k['type'], k['kcv']) for k in
             rec['keys']],
            [('DES' if k[0] == DES else 'SM4', k[1], k[2], k[4])
             for k in keys])
        self.assertNotIn('error', rec)
        # the HSM holds them with the card's types and KCVs
        held = self.keys()
        for alg, index, ktype, key, kcv, label in keys:
            k = held[('des' if alg == DES else 'sm4', index[1:])]
            self.assertEqual((k['type'], k['kcv_full']), (ktype, kcv))
        # and they compute what the plaintext computes
        for alg, index, ktype, key, kcv, label in keys:
            iv = b'0' * (16 if alg == DES else 32)
            req = (b'UB' + alg.encode() + b'00' + ktype.encode() +
                   index.encode() + b'00' + iv + b'008' +
                   DATA.hex().upper().encode() + b'08')
            want = vectors.pboc_mac(alg, key, DATA)[:8].hex().upper()
            self.assertEqual(self.hsm.cmd(req), b'UC00' + want.encode(),
                             req)
        # a second import: the indexes are taken, nothing is replaced
        code, out, err = self.import_(card)
        self.assertEqual(code, 1)
        self.assertIn('ERR 21', err)
        self.assertIn('already holds a key', err)
        self.assertIn('0 of 4 keys imported', err)
        # a record is never replaced: refused before anything is sent
        code, _, err = self.import_(card, '--record', record)
        self.assertEqual(code, 2)
        self.assertIn('never replaced', err)

        # a KCV that does not match: stopped, that key NOT stored
        ct = vectors.ecb(DES, TK, keys[0][3]).hex().upper()
        bad = self.path('bad-kcv.card')
        write_card(bad, 'BAD-KCV', [
            ('DES', 'K210', '109', ct, keys[0][4], 'right'),
            ('DES', 'K211', '109', ct, '0123456789ABCDEF', 'wrong kcv'),
            ('DES', 'K212', '109', ct, keys[0][4], 'never reached')])
        code, out, err = self.import_(bad)
        self.assertEqual(code, 1)
        self.assertIn('KCV mismatch for K211', err)
        self.assertIn('NOT stored', err)
        self.assertIn('1 of 3 keys imported', err)
        held = self.keys()
        self.assertIn(('des', '210'), held)
        self.assertNotIn(('des', '211'), held)
        self.assertNotIn(('des', '212'), held)
        # a damaged card: refused, nothing sent
        with open(card, 'rb') as f:
            raw = bytearray(f.read())
        raw[100] ^= 0x01
        damaged = self.path('damaged.card')
        with open(damaged, 'wb') as f:
            f.write(raw)
        code, _, err = self.import_(damaged)
        self.assertEqual(code, 2)
        self.assertIn('damaged', err)
        self.assertIn('nothing was sent', err)

        # --- step 4 (C): delete the initial TKs -------------------------
        self.console('keys', 'delete', '--lib', 'des', '--index', '000')
        self.console('keys', 'delete', '--lib', 'sm4', '--index', '100')
        held = self.keys()
        self.assertNotIn(('des', '000'), held)
        self.assertNotIn(('sm4', '100'), held)
        for k in keys:  # the ministry's keys stay
            self.assertIn(('des' if k[0] == DES else 'sm4', k[1][1:]), held)
        card2 = self.path('second.card')
        code, _, err = self.mot('card', 'new', '--out', card2,
                                '--first-index', 'K300')
        self.assertEqual(code, 0, err)
        record2 = self.path('second.json')
        code, out, err = self.import_(card2, '--record', record2)
        self.assertEqual(code, 1)
        self.assertIn('ERR 12', err)
        self.assertIn('no initial TK at K000', err)
        self.assertIn('tkms hsm tk initial', err)
        with open(record2) as f:
            rec = json.load(f)
        self.assertFalse(rec['complete'])
        self.assertEqual(rec['imported'], 0)
        self.assertEqual(rec['keys'], [])
        self.assertIn('ERR 12', rec['error'])
        self.assertNotIn(('des', '300'), self.keys())
        self.console('auth', 'close')

    def test_usage(self):
        code, _, err = self.mot()
        self.assertEqual(code, 2)
        self.assertIn('usage', err)
        code, _, err = self.mot('import', '--card', self.path('none'))
        self.assertEqual(code, 2)
        code, _, err = self.import_(self.path('none'))
        self.assertEqual(code, 2)
        code, _, err = self.mot('card', 'new', '--out', self.path('x'),
                                '--des', '40', '--sm4', '25')
        self.assertEqual(code, 2)
        self.assertIn('1 to 64 keys', err)
        code, _, err = self.mot('card', 'new', '--out', self.path('x'),
                                '--sm4', '1', '--des', '0',
                                '--first-index', 'K100')
        self.assertEqual(code, 2)
        self.assertIn('initial TK', err)
        code, _, err = self.mot('card', 'new', '--out', self.path('x'),
                                '--type', '999')
        self.assertEqual(code, 2)
        self.assertFalse(os.path.exists(self.path('x')))


if __name__ == '__main__':
    unittest.main()
