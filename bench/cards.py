#!/usr/bin/python3
"""cards.py - cards personalised per second through the city HSM and loads
per second end to end, with `tkms card bench` on the fleet of
tests/e2e/test_cards.py (root, business, clearing and city tkms-hsmd, keys
issued by tkms-kmsd, the city HSM cloned and licensed), each against an NC
round trip to the same HSMs in the same run (docs/benchmarks.md "Cards").

    TKMS_BUILD=build/cards-rel /usr/bin/python3 bench/cards.py [CARDS]

CARDS per algorithm (default 1000). The city HSM's licence for U3 on the
DES load_01 key is 2 x CARDS + 10, so every DES card takes a licence
count (a write to licences.db) as a real city HSM's would; no SM4 key is
licensed. Prints one JSON object per algorithm and a table; the load
average before and after says how busy the machine was.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'e2e'))
from test_cards import GZ, Fleet  # noqa: E402


def loadavg():
    with open('/proc/loadavg') as f:
        return f.read().split()[0]


def main():
    cards = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    if not os.environ.get('TKMS_BUILD'):
        sys.exit('TKMS_BUILD: the build directory (a Release build)')
    fl = Fleet(licence=2 * cards + 10)
    before = loadavg()
    fl.start()
    rows = []
    try:
        for alg in ('DES', 'SM4'):
            r = fl.ok('card', 'bench', '--cards', str(cards), '--alg', alg,
                      '--city', fl.ep('city'), '--business',
                      fl.ep('business'), '--keys', fl.f['business.keys'],
                      '--clearing', fl.ep('clearing'), '--clearing-keys',
                      fl.f['clearing.keys'], '--city-code', GZ)
            print(json.dumps(r))
            rows.append(r)
    finally:
        fl.stop()
    print('load average before %s, after %s (2 cores: other work on the '
          'machine shows here)' % (before, loadavg()))
    fmt = '%-4s %10s %9s %10s %9s %9s %9s %9s'
    print(fmt % ('alg', 'cards/s', 'ms/card', 'NC/card', 'loads/s',
                 'ms/load', 'NC/load', 'NC us'))
    for r in rows:
        i, ld, nc = r['issue'], r['load'], r['nc']
        print(fmt % (r['alg'], '%.0f' % i['cards_per_s'],
                     '%.2f' % i['ms_per_card'],
                     '%.1f' % i['nc_round_trips_per_card'],
                     '%.0f' % ld['loads_per_s'], '%.2f' % ld['ms_per_load'],
                     '%.1f' % ld['nc_round_trips_per_load'],
                     '%.0f/%.0f/%.0f' % (nc['city_us'], nc['business_us'],
                                         nc['clearing_us'])))


if __name__ == '__main__':
    main()
