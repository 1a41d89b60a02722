#!/usr/bin/env node
/*
 * Differential test of libtkm's SM2 against npm sm-crypto (pinned in
 * package.json / package-lock.json, installed by `npm ci --prefix
 * tests/diff`):
 *
 *   node tests/diff/sm2_smcrypto.js PATH-OF-tkm-vec
 *
 * Four directions, each with random keys and random messages of 0..300
 * bytes, the default user ID (GM/T 0009 "1234567812345678") and, for
 * signatures, some random IDs too:
 *
 *   1. tkm encrypts (C1C3C2), sm-crypto decrypts (doDecrypt, mode 1);
 *   2. sm-crypto encrypts (doEncrypt, mode 1), tkm decrypts; a flipped bit
 *      must make tkm fail the C3 check;
 *   3. sm-crypto signs (doSignature, hash: true, der: false), tkm verifies;
 *      a flipped bit must make tkm refuse the signature;
 *   4. tkm signs, sm-crypto verifies (doVerifySignature); in every fourth
 *      case the signature must not verify for another message.
 *
 * Empty messages: tkm refuses to encrypt them and to decrypt ciphertexts
 * without C2 (its KDF output t would be empty, which GB/T 32918.4 §6.1 A5
 * treats as all-zero), while sm-crypto encrypts them. So direction 1 checks
 * that tkm refuses 0 bytes and skips sm-crypto there (its doDecrypt returns
 * [] both for success and for failure, so an empty result proves nothing),
 * and direction 2 checks that tkm refuses sm-crypto's empty-message
 * ciphertexts. Signatures of empty messages are compared like any other.
 *
 * The seed is printed; TKMS_DIFF_SEED replays a run, TKMS_DIFF_CASES
 * changes the number of cases per direction (default 1000). Exit 0 when all
 * agree, 1 on a disagreement (the first one of each direction is printed),
 * 2 when sm-crypto is not installed or tkm-vec cannot be run.
 */
'use strict'

const path = require('path')
const { spawnSync } = require('child_process')
const crypto = require('crypto')

let sm2
try {
  sm2 = require(require.resolve('sm-crypto', { paths: [__dirname] })).sm2
} catch (e) {
  console.error('sm2_smcrypto.js: npm package sm-crypto is missing from ' +
    path.join(__dirname, 'node_modules') + ';\n  install it with: ' +
    'npm ci --prefix tests/diff   (or scripts/setup.sh --deps-only)')
  process.exit(2)
}

const N = BigInt('0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123')
const E_DATA_LEN = 'ERR invalid data length'
const E_VERIFY = 'ERR verification failed'

/* --- a seeded generator (splitmix32), so that a failure can be replayed */

function makeRng (seed) {
  let s = seed >>> 0
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
  return {
    int: (lo, hi) => lo + (next() % (hi - lo + 1)), // lo..hi inclusive
    bytes: (n) => Array.from({ length: n }, () => next() & 0xff)
  }
}

const hex = (a) => a.length ? Buffer.from(a).toString('hex').toUpperCase() : '-'

function randomD (rng) {
  for (;;) {
    const d = BigInt('0x' + Buffer.from(rng.bytes(32)).toString('hex'))
    if (d > 0n && d < N - 1n) return d.toString(16).padStart(64, '0')
  }
}

function messageLen (rng) {
  return rng.int(0, 9) === 0 ? [0, 1, 31, 32, 33, 64][rng.int(0, 5)]
    : rng.int(0, 300)
}

/* undefined means sm-crypto's default ID and tkm's "*" (NULL) */
function randomId (rng) {
  if (rng.int(0, 9) < 6) return undefined
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
  return Array.from({ length: rng.int(0, 40) }, () => abc[rng.int(0, 61)])
    .join('')
}

const idArg = (id) => id === undefined ? '*' : hex([...Buffer.from(id)])

function flipBit (rng, h, from) {
  const b = Buffer.from(h, 'hex')
  const i = rng.int(from, b.length - 1)
  b[i] ^= 1 << rng.int(0, 7)
  return b.toString('hex')
}

/* --- tkm-vec, one process per batch of requests ------------------------ */

function runVec (vec, lines) {
  const p = spawnSync(vec, [], {
    input: lines.join('\n') + '\n',
    encoding: 'utf8',
    maxBuffer: 256 << 20
  })
  const answers = (p.stdout || '').split('\n').slice(0, -1)
  if (p.status !== 0 || answers.length !== lines.length) {
    console.error(`tkm-vec failed (status ${p.status}, ${p.error || ''}) ` +
      `after ${answers.length} of ${lines.length} answers; next request:\n  ` +
      `${lines[answers.length]}\n${(p.stderr || '').slice(-4000)}`)
    process.exit(2)
  }
  return answers
}

/* --- the four directions ------------------------------------------------ */

/* Keys: d from the seeded generator, X || Y from sm-crypto; tkm must
 * compute the same public key. One key serves several cases, because
 * sm-crypto's point multiplication costs about 9 ms. */
function makeKeys (rng, vec, n, report) {
  const keys = Array.from({ length: n }, () => {
    const d = randomD(rng)
    return { d, pub: sm2.getPublicKeyFromPrivateKey(d) }
  })
  const answers = runVec(vec, keys.map((k) => `sm2-pub ${k.d}`))
  const bad = []
  keys.forEach((k, i) => {
    if (answers[i] !== k.pub.slice(2).toUpperCase()) {
      bad.push([`sm2-pub ${k.d}`, `tkm: ${answers[i]}`, `sm-crypto: ${k.pub}`])
    }
  })
  report('sm2-pub vs sm-crypto', n, bad)
  return keys
}

function tkmEncrypts (rng, vec, keys, report) {
  const plan = keys.map((k) => ({ k, m: rng.bytes(messageLen(rng)) }))
  const answers = runVec(vec, plan.map(({ k, m }) =>
    `sm2-encrypt ${k.pub.slice(2)} ${hex(m)}`))
  const bad = []
  plan.forEach(({ k, m }, i) => {
    const got = answers[i]
    let why = null
    if (m.length === 0) {
      if (got !== E_DATA_LEN) why = `tkm should refuse: ${E_DATA_LEN}`
    } else if (!/^04[0-9A-F]+$/.test(got) || got.length !== 2 * (97 + m.length)) {
      why = 'not 04 || C1 || C3 || C2 of the right length'
    } else {
      const pt = sm2.doDecrypt(got.slice(2), k.d, 1, { output: 'array' })
      if (hex(pt) !== hex(m)) why = `sm-crypto decrypts to ${hex(pt)}`
    }
    if (why) bad.push([`sm2-encrypt ${k.pub.slice(2)} ${hex(m)} (d ${k.d})`, `tkm: ${got}`, why])
  })
  report('sm2-encrypt by tkm, sm-crypto decrypts', plan.length, bad)
}

function smcryptoEncrypts (rng, vec, keys, report) {
  const plan = keys.map((k, i) => {
    const m = rng.bytes(messageLen(rng))
    let ct = '04' + sm2.doEncrypt(m, k.pub, 1)
    let exp = hex(m)
    if (m.length === 0) {
      exp = E_DATA_LEN
    } else if (ct.slice(194).toUpperCase() === hex(m).toUpperCase()) {
      // The key stream t was all zero (1 in 256 for a one-byte message).
      // GB/T 32918.4 §6.1 A5: encryption must pick another k, which
      // sm-crypto does not; §7.1 B4: decryption must refuse, as tkm does.
      exp = E_VERIFY
    } else if (i % 4 === 3) { // in C3 or C2: the C3 check must fail
      ct = flipBit(rng, ct, 65)
      exp = E_VERIFY
    }
    return { line: `sm2-decrypt ${k.d} ${ct.toUpperCase()}`, exp }
  })
  const answers = runVec(vec, plan.map((p) => p.line))
  const bad = []
  plan.forEach((p, i) => {
    if (answers[i] !== p.exp) bad.push([p.line, `tkm: ${answers[i]}`, `expected: ${p.exp}`])
  })
  report('sm2-encrypt by sm-crypto, tkm decrypts', plan.length, bad)
}

function smcryptoSigns (rng, vec, keys, report) {
  const plan = keys.map((k, i) => {
    const m = rng.bytes(messageLen(rng))
    const userId = randomId(rng)
    let sig = sm2.doSignature(m, k.d, { hash: true, der: false, publicKey: k.pub, userId })
    let exp = 'OK'
    if (i % 4 === 3) {
      sig = flipBit(rng, sig, 0)
      exp = E_VERIFY
    }
    return {
      line: `sm2-verify ${k.pub.slice(2)} ${hex(m)} ${idArg(userId)} ${sig.toUpperCase()}`,
      exp
    }
  })
  const answers = runVec(vec, plan.map((p) => p.line))
  const bad = []
  plan.forEach((p, i) => {
    if (answers[i] !== p.exp) bad.push([p.line, `tkm: ${answers[i]}`, `expected: ${p.exp}`])
  })
  report('sm2-sign by sm-crypto, tkm verifies', plan.length, bad)
}

function tkmSigns (rng, vec, keys, report) {
  const plan = keys.map((k) => ({ k, m: rng.bytes(messageLen(rng)), userId: randomId(rng) }))
  const lines = plan.map(({ k, m, userId }) => `sm2-sign ${k.d} ${hex(m)} ${idArg(userId)}`)
  const answers = runVec(vec, lines)
  const bad = []
  plan.forEach(({ k, m, userId }, i) => { // every fourth: another message too
    const [sig, pub] = answers[i].split(' ')
    const opts = { hash: true, der: false, userId }
    let why = null
    if (!/^[0-9A-F]{128}$/.test(sig || '') || pub !== k.pub.slice(2).toUpperCase()) {
      why = 'not r || s and the public key'
    } else if (!sm2.doVerifySignature(m, sig.toLowerCase(), k.pub, opts)) {
      why = 'sm-crypto rejects the signature'
    } else if (i % 4 === 3 &&
        sm2.doVerifySignature(m.concat([1]), sig.toLowerCase(), k.pub, opts)) {
      why = 'sm-crypto accepts it for another message'
    }
    if (why) bad.push([lines[i], `tkm: ${answers[i]}`, why])
  })
  report('sm2-sign by tkm, sm-crypto verifies', plan.length, bad)
}

function main () {
  if (process.argv.length !== 3) {
    console.error('usage: node sm2_smcrypto.js PATH-OF-tkm-vec')
    process.exit(2)
  }
  const vec = process.argv[2]
  const seed = process.env.TKMS_DIFF_SEED
    ? Number(process.env.TKMS_DIFF_SEED) >>> 0
    : crypto.randomBytes(4).readUInt32BE(0)
  const n = Number(process.env.TKMS_DIFF_CASES || 1000)
  console.log(`sm2_smcrypto.js: seed ${seed} (replay with TKMS_DIFF_SEED=${seed}), ` +
    `${n} cases per direction, sm-crypto ` +
    require(require.resolve('sm-crypto/package.json', { paths: [__dirname] })).version)

  const start = Date.now()
  let passed = 0
  let failed = 0
  const report = (name, count, bad) => {
    console.log(`${name.padEnd(42)} ${String(count).padStart(5)} cases  ` +
      (bad.length ? `DISAGREE ${bad.length}` : 'ok'))
    if (bad.length) {
      failed++
      console.log('  first disagreement:\n    ' + bad[0].join('\n    '))
    } else {
      passed++
    }
  }
  const rng = makeRng(seed)
  const pool = makeKeys(rng, vec, Math.max(1, Math.ceil(n / 10)), report)
  const keys = Array.from({ length: n }, (_, i) => pool[i % pool.length])
  tkmEncrypts(rng, vec, keys, report)
  smcryptoEncrypts(rng, vec, keys, report)
  smcryptoSigns(rng, vec, keys, report)
  tkmSigns(rng, vec, keys, report)
  console.log(`sm2_smcrypto.js: ${((Date.now() - start) / 1000).toFixed(1)} s, seed ${seed}`)
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed ? 1 : 0)
}

main()
