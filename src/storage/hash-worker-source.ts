// The source of the hash worker thread, as plain JavaScript run with `new Worker(src, { eval: true })`.
// A string rather than a module: a .ts worker file cannot start under tsx or vitest on Node 20, and
// tsc does not copy a .js file into dist/.
//
// Messages in: {op:'open', id, path, size} · {op:'upto', id, n} (bytes 0..n are on disk) ·
// {op:'drop', id}. Messages out: {id, hex} once all `size` bytes are hashed, or {id, error, code}.
// The worker reads the file back (from the page cache, just written) with its own descriptor, so
// the digest covers exactly the bytes on disk and the main thread never hashes.
export const HASH_WORKER_SOURCE = String.raw`
'use strict';
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const READ = 1 << 20;      // one read from the page cache
const SLICE = 16 << 20;    // work between looks at the message queue
const jobs = new Map();
let buf = null;
let scheduled = false;

function fail(id, err) {
  const j = jobs.get(id);
  jobs.delete(id);
  if (j) try { fs.closeSync(j.fd); } catch {}
  parentPort.postMessage({ id, error: String(err && err.message || err), code: err && err.code });
}

function step() {
  scheduled = false;
  let budget = SLICE;
  for (const [id, j] of jobs) {
    while (j.next < j.upTo && budget > 0) {
      buf ??= Buffer.allocUnsafe(READ);
      let n;
      try {
        n = fs.readSync(j.fd, buf, 0, Math.min(READ, j.upTo - j.next), j.next);
      } catch (err) { fail(id, err); break; }
      if (n <= 0) { fail(id, new Error('short read at ' + j.next + ' while hashing')); break; }
      j.hash.update(buf.subarray(0, n));
      j.next += n;
      budget -= n;
    }
    if (jobs.get(id) === j && j.next >= j.size) {
      jobs.delete(id);
      try { fs.closeSync(j.fd); } catch {}
      parentPort.postMessage({ id, hex: j.hash.digest('hex') });
    }
  }
  if (jobs.size === 0) buf = null;
  else if (budget <= 0) schedule();
}

function schedule() {
  if (scheduled) return;
  scheduled = true;
  setImmediate(step);
}

parentPort.on('message', (m) => {
  if (m.op === 'open') {
    try {
      jobs.set(m.id, { fd: fs.openSync(m.path, 'r'), size: m.size, next: 0, upTo: 0, hash: createHash('sha256') });
    } catch (err) { fail(m.id, err); return; }
  } else if (m.op === 'upto') {
    const j = jobs.get(m.id);
    if (!j) return;
    j.upTo = Math.min(j.size, Math.max(j.upTo, m.n));
  } else if (m.op === 'drop') {
    const j = jobs.get(m.id);
    jobs.delete(m.id);
    if (j) try { fs.closeSync(j.fd); } catch {}
    return;
  }
  schedule();
});
`;
