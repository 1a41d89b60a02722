"""fixture.py - the processes behind the web console's browser test
(tests/web/console.test.js): two tkms-hsmd (a root HSM and the Guangzhou
provincial business HSM, development DK components, authorised state,
sharing a TK at K001/K101 made with host commands only, as
tests/kms/kmshsm.h does) and tkms-kmsd with two bootstrap configurators,
serving the console from the source tree's web/ (its compiled-in
default).

Prints one JSON line - {"url", "pw": {name: password}, "hsms": {name:
{"port", "mport"}}} - then waits until its stdin closes, stops every
process and exits non-zero if one ended badly or left a sanitizer report.

Run with TKMS_BUILD set, by Debian's /usr/bin/python3 (standard library).
"""
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'e2e'))
from hsmlib import Hsm  # noqa: E402
from test_kmsd import Kmsd  # noqa: E402

TK = {'X': 'K001', 'S': 'K101'}


def hsm_cmd(h, text):
    return h.cmd(text.encode()).decode()


def put_tk(hsms, s):
    """The same TK (type 000) at TK[s] of every HSM: a KEK under DK (A0
    mode 0) and the TK under DK and the KEK (A0 mode 1) at the first, A6
    of the TK under the KEK at each. s: 'X' DES, 'S' SM4."""
    r = hsm_cmd(hsms[0], 'A00000' + s)
    assert r.startswith('A100') and len(r) == 4 + 33 + 16, r
    kek = r[4:37]
    r = hsm_cmd(hsms[0], 'A01000%s%s%s' % (s, kek, s))
    assert r.startswith('A100') and len(r) == 4 + 33 + 33 + 16, r
    tk = r[37:70]
    kcvs = set()
    for h in hsms:
        r = hsm_cmd(h, 'A6T000%s%s%s%s' % (kek, tk, s, TK[s]))
        assert r.startswith('A700'), r
        kcvs.add(r[37:])
    assert len(kcvs) == 1, kcvs


def main():
    hsms, k = {}, None
    ok = True
    try:
        for name in ('root', 'gz-business'):
            hsms[name] = Hsm(authorised=True, workers=2).start()
        for s in ('X', 'S'):
            put_tk([hsms['root'], hsms['gz-business']], s)
        k = Kmsd()
        print(json.dumps({
            'url': 'http://%s:%d' % (k.addr, k.port),
            'pw': k.pw,
            'hsms': {n: {'port': h.port, 'mport': h.manage_port}
                     for n, h in hsms.items()},
        }), flush=True)
        sys.stdin.read()  # until the test closes it
    finally:
        for stop in ([k.stop] if k else []) + [h.stop for h in
                                               hsms.values()]:
            try:
                stop()
            except Exception as e:  # report all of them
                ok = False
                print('fixture: %s' % e, file=sys.stderr)
        if ok:
            for h in hsms.values():
                shutil.rmtree(h.tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
