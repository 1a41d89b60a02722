"""End-to-end test of the key-issue flow over real sockets (DESIGN §6,
docs/protocol.md A0 A6 A8 BU UB): a root HSM generates and stores a root
key, derives it by a city factor and exports it under a TK; a business HSM
imports it; the KCVs agree and both HSMs compute the same MAC.

Both daemons run with the same (development) DK, as HSMs of one
deployment sharing DK by backup/restore, so that the TK generated at the
root can be given to the business HSM as a key under DK. Run by ctest with
TKMS_BUILD set.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hsmlib import Hsm  # noqa: E402

CITY = b'5810FF0000000000'  # Guangzhou, CJ/T 333 §3.14
DATA = b'0011223344556677'  # 8 bytes
IV0 = b'0' * 16


def ok(answer, rsp):
    """Fields of a successful answer, or a failure naming the answer."""
    assert answer[:4] == rsp + b'00', answer
    return answer[4:]


class KeyIssue(unittest.TestCase):
    def test_issue_flow(self):
        with Hsm(authorised=True) as root, Hsm(authorised=True) as biz:
            # Same DK: NC shows the same KCV on both.
            self.assertEqual(ok(root.cmd(b'NC'), b'ND'),
                             ok(biz.cmd(b'NC'), b'ND'))
            # Root key (MK-AC, double DES) stored at K010 of the root HSM.
            r = ok(root.cmd(b'A02109XK010'), b'A1')
            root_kcv = r[33:]
            self.assertEqual(ok(root.cmd(b'BU109K010'), b'BV'), root_kcv)
            # A TK, returned under DK only.
            tk = ok(root.cmd(b'A00000X'), b'A1')[:33]
            # Derive by the city factor and export under the TK.
            r = ok(root.cmd(b'A8T109' + tk + b'K0101' + CITY + b'X'),
                   b'A9')
            under_tk, kcv = r[:33], r[33:]
            self.assertEqual(len(kcv), 16)
            self.assertNotEqual(kcv, root_kcv)
            # Import at the business HSM, store at K020; KCVs agree.
            r = ok(biz.cmd(b'A6T109' + tk + under_tk + b'XK020'), b'A7')
            self.assertEqual(r[33:], kcv)
            self.assertEqual(ok(biz.cmd(b'BU109K020'), b'BV'), kcv)
            # Same MAC: root with derivation, business without.
            tail = b'00' + IV0 + b'008' + DATA + b'08'
            mac_root = ok(root.cmd(b'UBX00109K0101' + CITY + tail[1:]),
                          b'UC')
            mac_biz = ok(biz.cmd(b'UBX00109K020' + tail), b'UC')
            self.assertEqual(len(mac_root), 16)
            self.assertEqual(mac_root, mac_biz)
            self.assertEqual(
                biz.cmd(b'UBX20109K020' + tail + mac_root), b'UC00')
            # The stored key survives a crash.
            biz.kill()
            biz.start()
            self.assertEqual(ok(biz.cmd(b'BU109K020'), b'BV'), kcv)
            # The index is taken now.
            self.assertEqual(
                biz.cmd(b'A6T109' + tk + under_tk + b'XK020'), b'A721')

    def test_not_authorised(self):
        with Hsm(authorised=False) as h:
            for req in (b'A00008X', b'A6T008K000X' + b'0' * 32 + b'X',
                        b'A8T008K000K010X', b'NE000X3'):
                self.assertEqual(h.cmd(req)[2:4], b'17', req)
            # BU and UB need DK only.
            self.assertEqual(h.cmd(b'BU008K010'), b'BV12')
            self.assertEqual(h.cmd(b'NC')[:4], b'ND00')

    def test_sealed(self):
        with Hsm(authorised=True, sealed=True) as h:
            self.assertEqual(h.cmd(b'NC'), b'ND00' + b'0' * 16 + b'TKMS0001A')
            self.assertEqual(h.cmd(b'TE0004')[:4], b'TF00')
            self.assertEqual(h.cmd(b'BU008K010'), b'BV13')
            self.assertEqual(h.cmd(b'A00008X'), b'A113')


if __name__ == '__main__':
    unittest.main()
