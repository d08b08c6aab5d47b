// The waiting room's proof of work, solved off the page's thread: find a nonce such that
// SHA-256(challenge + ":" + nonce) starts with `difficulty` zero bits.
//
// A small synchronous SHA-256 rather than WebCrypto: crypto.subtle.digest is asynchronous,
// and one promise per attempt costs more than the hash itself. The prefix
// `challenge + ":"` is the same for every attempt, so its whole 64-byte blocks are hashed
// once and each attempt only hashes the last block or two.
//
// In:  {challenge: string, difficulty: bits}
// Out: {type: "progress", tried: n} now and then, then {type: "done", nonce: string, tried: n}
"use strict";

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const W = new Int32Array(64);

// One 64-byte block of `bytes` at `offset` into the state `h` (8 words).
function block(h, bytes, offset) {
  for (let i = 0; i < 16; i++) {
    const j = offset + i * 4;
    W[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = W[i - 15];
    const b = W[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (k + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    k = g; g = f; f = e; e = (d + t1) | 0;
    d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
  h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
}

// Does the digest `h` start with `bits` zero bits?
function leadingZeros(h, bits) {
  for (let i = 0; bits > 0; i++, bits -= 32) {
    if (i >= 8) return true;
    const word = h[i] >>> 0;
    if (bits >= 32) {
      if (word !== 0) return false;
    } else if (word >>> (32 - bits) !== 0) {
      return false;
    }
  }
  return true;
}

function solve(challenge, difficulty) {
  const prefix = new TextEncoder().encode(challenge + ":");
  const whole = prefix.length - (prefix.length % 64);
  const mid = Int32Array.from(INITIAL);
  for (let off = 0; off < whole; off += 64) block(mid, prefix, off);
  const rest = prefix.subarray(whole);

  // The tail: the prefix's remainder, the nonce's digits, 0x80, zeros, the length in bits.
  // Nonces are decimal and at most 16 digits, so two blocks always hold it.
  const tail = new Uint8Array(128);
  tail.set(rest);
  const h = new Int32Array(8);
  let lastReport = Date.now();
  for (let n = 0; ; n++) {
    const digits = String(n);
    let len = rest.length;
    for (let i = 0; i < digits.length; i++) tail[len++] = digits.charCodeAt(i);
    const total = whole + len;
    const blocks = len + 9 <= 64 ? 1 : 2;
    const end = blocks * 64;
    tail[len] = 0x80;
    tail.fill(0, len + 1, end - 8);
    const bitLength = total * 8; // under 2^53: the high word is the division below
    const hi = Math.floor(bitLength / 0x100000000);
    const lo = bitLength >>> 0;
    tail[end - 8] = hi >>> 24; tail[end - 7] = hi >>> 16; tail[end - 6] = hi >>> 8; tail[end - 5] = hi;
    tail[end - 4] = lo >>> 24; tail[end - 3] = lo >>> 16; tail[end - 2] = lo >>> 8; tail[end - 1] = lo;
    h.set(mid);
    block(h, tail, 0);
    if (blocks === 2) block(h, tail, 64);
    if (leadingZeros(h, difficulty)) {
      postMessage({ type: "done", nonce: digits, tried: n + 1 });
      return;
    }
    if ((n & 0x3ff) === 0) {
      const now = Date.now();
      if (now - lastReport >= 100) {
        lastReport = now;
        postMessage({ type: "progress", tried: n + 1 });
      }
    }
  }
}

// For tests and the page's self-check: the hex SHA-256 of a string.
function sha256Hex(text) {
  const bytes = new TextEncoder().encode(text);
  const padded = new Uint8Array(Math.ceil((bytes.length + 9) / 64) * 64);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const bits = bytes.length * 8;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bits / 0x100000000));
  view.setUint32(padded.length - 4, bits >>> 0);
  const h = Int32Array.from(INITIAL);
  for (let off = 0; off < padded.length; off += 64) block(h, padded, off);
  return Array.from(h, (w) => (w >>> 0).toString(16).padStart(8, "0")).join("");
}

onmessage = (event) => {
  const data = event.data || {};
  if (data.type === "sha256") {
    postMessage({ type: "sha256", hex: sha256Hex(String(data.text)) });
    return;
  }
  const difficulty = Math.max(0, Math.min(256, data.difficulty | 0));
  solve(String(data.challenge), difficulty);
};
