// The CouchDB-replication peer of FIT Field's sync benchmark:
// PouchDB 9.0.0 (the device) replicating with pouchdb-server 4.2.0 (the
// server), the stack the Community Health Toolkit uses. The Rust harness
// (crates/fit-bench) generates the records, starts `serve`, runs `push`,
// `pull` and `noop`, and computes medians and ratios. See README.md.
//
//   node bench/peer.mjs serve --port PORT --dir DIR [--durability fsync|stock]
//   node bench/peer.mjs push  --records FILE --url URL [--batch N] [--durability fsync|stock] [--keepalive on|off] [--no-proxy]
//   node bench/peer.mjs pull  --url URL [--batch N] [--durability fsync|stock] [--keepalive on|off] [--no-proxy]
//   node bench/peer.mjs noop  --url URL [--batch N] [--durability fsync|stock] [--keepalive on|off] [--no-proxy]
//
// URL is the remote database, e.g. http://127.0.0.1:5984/fit. push, pull and
// noop each print ONE JSON object on stdout:
//   {"records": n, "seconds": s, "requests": r, "bytes_up": u, "bytes_down": d}
// records = documents written by the timed replication(s) (0 for noop),
// seconds = wall time of the timed replication(s) only; requests and bytes
// are counted by proxy.mjs (see there), which push/pull/noop run in-process
// between PouchDB and URL. With --no-proxy (when the harness already runs
// `proxy.mjs` in front of the server itself) requests/bytes are null.
//
// The device store is PouchDB 9's default Node adapter (`leveldb`, LevelDOWN
// 6.1.1) in a fresh temporary directory, removed at exit. --durability
// applies to it (default fsync, see durability.mjs), and in `serve` to the
// server's store.

import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

import { startProxy } from './proxy.mjs';
import { forceSyncWrites, MODES } from './durability.mjs';

const require = createRequire(import.meta.url);
const DEFAULT_BATCH = 100; // PouchDB's own default batch_size

function usage(message) {
  process.stderr.write(
    (message ? `peer: ${message}\n` : '') +
      'usage:\n' +
      '  peer.mjs serve --port PORT --dir DIR [--durability fsync|stock]\n' +
      '  peer.mjs push  --records FILE --url URL [--batch N] [--durability fsync|stock] [--keepalive on|off] [--no-proxy]\n' +
      '  peer.mjs pull  --url URL [--batch N] [--durability fsync|stock] [--keepalive on|off] [--no-proxy]\n' +
      '  peer.mjs noop  --url URL [--batch N] [--durability fsync|stock] [--keepalive on|off] [--no-proxy]\n',
  );
  process.exit(2);
}

function parseArgs(argv) {
  const flags = new Set(['no-proxy']);
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) usage(`unexpected argument ${a}`);
    const name = a.slice(2);
    if (flags.has(name)) {
      out[name] = true;
      continue;
    }
    if (argv[i + 1] === undefined) usage(`${a} needs a value`);
    out[name] = argv[++i];
  }
  return out;
}

function durabilityOf(args) {
  const mode = args.durability ?? 'fsync';
  if (!MODES.includes(mode)) usage(`--durability must be one of ${MODES.join(', ')}`);
  return mode;
}

// HTTP keep-alive. PouchDB 9 in Node fetches with node-fetch 2, which, when
// given no agent, sends `Connection: close` and so opens one TCP connection
// per request. On a device (a browser or WebView, where CHT runs PouchDB)
// fetch keeps connections alive, and so does FIT Field's client; `on` (the
// default) gives PouchDB a keep-alive agent, `off` measures node-fetch's
// default.
function keepAliveOf(args) {
  const v = args.keepalive ?? 'on';
  if (v !== 'on' && v !== 'off') usage('--keepalive must be on or off');
  return v === 'on';
}

function keepAliveFetch(PouchDB) {
  const agent = new http.Agent({ keepAlive: true });
  return (url, options) => PouchDB.fetch(url, { ...options, agent });
}

function batchOf(args) {
  const n = Number(args.batch ?? DEFAULT_BATCH);
  if (!Number.isInteger(n) || n < 1) usage('--batch must be a positive integer');
  return n;
}

// ---------------------------------------------------------------- serve

// pouchdb-server 4.2.0 in this process, through its own entry point
// (lib/index.js, which reads process.argv), with its default LevelDB store
// (pouchdb-adapter-leveldb 7.3.1 over LevelDOWN 5.6.0) in DIR.
async function serve(args) {
  if (!args.port || !args.dir) usage('serve needs --port and --dir');
  const port = Number(args.port);
  const dir = path.resolve(args.dir);
  const durability = durabilityOf(args);
  fs.mkdirSync(dir, { recursive: true });
  // Anything pouchdb-server puts in its working directory goes to DIR.
  process.chdir(dir);

  const serverRequire = createRequire(require.resolve('pouchdb-server/package.json'));
  if (durability === 'fsync') {
    forceSyncWrites(serverRequire.resolve('pouchdb-adapter-leveldb'));
  }

  // Logging off: express-pouchdb's log level "none" writes nothing to its
  // log file (which is kept in DIR), and --no-stdout-logs stops
  // pouchdb-server from tailing it to stdout. Only `ready` goes to stdout.
  const config = path.join(dir, 'config.json');
  fs.writeFileSync(
    config,
    JSON.stringify({ log: { file: path.join(dir, 'log.txt'), level: 'none' } }, null, 2) + '\n',
  );
  process.argv = [
    process.argv[0],
    'pouchdb-server',
    '--host', '127.0.0.1',
    '--port', String(port),
    '--dir', dir,
    '--config', config,
    '--no-stdout-logs',
  ];
  process.on('SIGTERM', () => process.exit(0));
  serverRequire('pouchdb-server'); // starts listening

  // pouchdb-server has no "listening" hook: wait until it accepts a connection.
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) {
      process.stderr.write(`peer serve: pouchdb-server did not listen on ${port} within 30 s\n`);
      process.exit(1);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  process.stdout.write('ready\n');
}

// ------------------------------------------------------- push/pull/noop

async function client(command, args) {
  if (!args.url) usage(`${command} needs --url`);
  if (command === 'push' && !args.records) usage('push needs --records');
  const batch = batchOf(args);
  const durability = durabilityOf(args);
  if (durability === 'fsync') forceSyncWrites(require.resolve('pouchdb'));
  const PouchDB = require('pouchdb');

  // Read the records before anything else (not timed).
  let docs = [];
  if (command === 'push') {
    const text = fs.readFileSync(args.records, 'utf8');
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const { id, ...rest } = JSON.parse(line);
      if (typeof id !== 'string') throw new Error(`a record without a string id: ${line.slice(0, 120)}`);
      docs.push({ _id: id, ...rest });
    }
  }

  // Requests and bytes: a counting proxy between PouchDB and the server.
  const target = new URL(args.url);
  let proxy = null;
  let remoteUrl = target.href;
  if (!args['no-proxy']) {
    proxy = await startProxy({
      listenPort: 0,
      targetPort: Number(target.port || 80),
      targetHost: target.hostname,
      onRequest: process.env.FIT_PROXY_LOG ? (l) => process.stderr.write(`proxy: ${l}\n`) : null,
    });
    const viaProxy = new URL(target.href);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    remoteUrl = viaProxy.href;
  }

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fit-bench-pouch-'));
  const local = new PouchDB(path.join(tmp, 'device'));
  const remote = new PouchDB(remoteUrl, keepAliveOf(args) ? { fetch: keepAliveFetch(PouchDB) } : {});
  try {
    // Untimed set-up: the device's records in its own store, the remote
    // database created if need be, and PouchDB's one-time per-instance
    // set-up request (GET /db) done, as in an app that has been running.
    for (let i = 0; i < docs.length; i += 1000) {
      const res = await local.bulkDocs(docs.slice(i, i + 1000));
      const bad = res.find((r) => r.error);
      if (bad) throw new Error(`local bulkDocs: ${JSON.stringify(bad)}`);
    }
    const n = docs.length;
    docs = null;
    await remote.info();

    let records;
    let seconds;
    if (command === 'push' || command === 'pull') {
      proxy?.reset();
      const t0 = performance.now();
      const res =
        command === 'push'
          ? await PouchDB.replicate(local, remote, { batch_size: batch })
          : await PouchDB.replicate(remote, local, { batch_size: batch });
      seconds = (performance.now() - t0) / 1000;
      checkReplication(command, res);
      records = res.docs_written;
      if (command === 'push' && records !== n) {
        throw new Error(`push wrote ${records} documents of ${n}`);
      }
    } else {
      // noop: bring the device in sync both ways (untimed), then one more
      // sync() as a device does it: a push and a pull, concurrently.
      checkReplication('noop set-up pull', await PouchDB.replicate(remote, local, { batch_size: batch }));
      checkReplication('noop set-up push', await PouchDB.replicate(local, remote, { batch_size: batch }));
      proxy?.reset();
      const t0 = performance.now();
      const res = await local.sync(remote, { batch_size: batch });
      seconds = (performance.now() - t0) / 1000;
      checkReplication('noop push', res.push);
      checkReplication('noop pull', res.pull);
      records = res.push.docs_written + res.pull.docs_written;
    }
    const stats = proxy ? proxy.stats() : { requests: null, bytes_up: null, bytes_down: null };
    process.stdout.write(
      JSON.stringify({
        records,
        seconds,
        requests: stats.requests,
        bytes_up: stats.bytes_up,
        bytes_down: stats.bytes_down,
      }) + '\n',
    );
  } finally {
    await local.close().catch(() => {});
    await remote.close().catch(() => {});
    await proxy?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function checkReplication(what, res) {
  if (!res || res.ok === false || res.status !== 'complete' || res.doc_write_failures > 0) {
    throw new Error(`${what}: replication did not complete cleanly: ${JSON.stringify(res)}`);
  }
}

// ----------------------------------------------------------------- main

async function main() {
  const [command, ...rest] = process.argv.slice(2);
  const args = parseArgs(rest);
  switch (command) {
    case 'serve':
      return serve(args);
    case 'push':
    case 'pull':
    case 'noop':
      return client(command, args);
    default:
      usage(command ? `unknown command ${command}` : 'no command');
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  main().catch((e) => {
    process.stderr.write(`peer: ${e.stack || e}\n`);
    process.exit(1);
  });
}
