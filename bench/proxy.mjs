// A counting TCP proxy for the sync benchmark.
//
// Both sides of the benchmark (FIT Field's own server and pouchdb-server)
// are measured through this very code, so that "bytes on the wire" and
// "requests" mean the same thing for both.
//
// What is counted
//   bytes_up    every byte the client wrote to its TCP connection(s)
//               (HTTP request lines, headers and bodies, exactly as sent,
//               after any compression), summed over all connections
//   bytes_down  every byte the server wrote back (status lines, headers,
//               bodies, as sent: gzip'd bodies count compressed)
//   requests    HTTP requests seen client -> server. Each connection's
//               upstream byte stream is followed by a small HTTP/1.x framing
//               parser: a request starts at a message boundary with a line
//               matching /^[A-Z]+ \S+ HTTP\/1\.[01]$/; its body is skipped
//               using Content-Length or chunked Transfer-Encoding, so a body
//               that happens to contain such a line is never miscounted and
//               keep-alive / pipelined requests are each counted once.
//   connections TCP connections accepted (extra, for information)
// TCP/IP and TLS overheads are not counted (loopback, plain HTTP).
//
// As a module:
//   import { startProxy } from './proxy.mjs';
//   const p = await startProxy({ listenPort: 0, targetPort: 5984 });
//   p.port; p.stats(); p.reset(); await p.close();
//
// As a CLI:
//   node bench/proxy.mjs --listen PORT --target PORT
//        [--target-host 127.0.0.1] [--host 127.0.0.1] [--stats FILE]
//   prints the line `ready` on stdout once it accepts connections
//   (with --listen 0: `ready PORT`, the port picked by the kernel).
//   stdin, one command a line:
//     stats  -> prints {"requests":r,"bytes_up":u,"bytes_down":d,"connections":c}
//     reset  -> zeroes the counters (prints nothing)
//     take   -> prints the stats, then zeroes the counters (atomically)
//   SIGTERM / SIGINT -> prints the stats, closes, exits 0.
//   With --stats FILE the same JSON is also written to FILE each time it is
//   printed. With FIT_PROXY_LOG=1 in the environment each request line seen
//   is written to stderr (for checking the counts by eye).

import net from 'node:net';
import fs from 'node:fs';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const REQUEST_LINE = /^[A-Z]+ \S+ HTTP\/1\.[01]$/;
const MAX_HEAD = 256 * 1024;

// Follows one connection's client -> server byte stream and calls onRequest()
// at each request start. Bodies are skipped without being copied.
class RequestCounter {
  constructor(onRequest) {
    this.onRequest = onRequest;
    this.mode = 'head'; // head | body | chunk-size | chunk-data | trailers | lost
    this.line = ''; // the line being read (latin1)
    this.head = []; // the lines of the head being read
    this.remaining = 0; // body or chunk bytes still to skip
  }

  push(buf) {
    let i = 0;
    while (i < buf.length && this.mode !== 'lost') {
      if (this.mode === 'body' || this.mode === 'chunk-data') {
        const n = Math.min(this.remaining, buf.length - i);
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) this.mode = this.mode === 'body' ? 'head' : 'chunk-size';
        continue;
      }
      // The other modes read CRLF-terminated lines.
      const nl = buf.indexOf(10, i);
      const stop = nl < 0 ? buf.length : nl + 1;
      this.line += buf.toString('latin1', i, stop);
      i = stop;
      if (this.line.length > MAX_HEAD) {
        this.mode = 'lost'; // not HTTP/1.x as we know it: stop counting here
        return;
      }
      if (nl < 0) return; // need more bytes
      const line = this.line.replace(/\r?\n$/, '');
      this.line = '';
      this.#onLine(line);
    }
  }

  #onLine(line) {
    switch (this.mode) {
      case 'head':
        if (line !== '') this.head.push(line);
        // An empty line ends the head; empty lines before a request line are
        // skipped (allowed between messages by RFC 9112).
        else if (this.head.length > 0) {
          const head = this.head;
          this.head = [];
          this.#onHead(head);
        }
        break;
      case 'chunk-size': {
        const size = parseInt(line.split(';')[0].trim(), 16);
        if (Number.isNaN(size)) this.mode = 'lost';
        else if (size === 0) this.mode = 'trailers';
        else {
          this.mode = 'chunk-data';
          this.remaining = size + 2; // chunk data + CRLF
        }
        break;
      }
      case 'trailers':
        if (line === '') this.mode = 'head';
        break;
    }
  }

  #onHead(lines) {
    if (!REQUEST_LINE.test(lines[0])) {
      this.mode = 'lost';
      return;
    }
    this.onRequest(lines[0]);
    let length = 0;
    let chunked = false;
    for (const l of lines.slice(1)) {
      const colon = l.indexOf(':');
      if (colon < 0) continue;
      const name = l.slice(0, colon).trim().toLowerCase();
      const value = l.slice(colon + 1).trim().toLowerCase();
      if (name === 'content-length') length = parseInt(value, 10) || 0;
      if (name === 'transfer-encoding' && value.split(',').some((s) => s.trim() === 'chunked')) {
        chunked = true;
      }
    }
    if (chunked) this.mode = 'chunk-size';
    else if (length > 0) {
      this.mode = 'body';
      this.remaining = length;
    } else this.mode = 'head';
  }
}

// Exposed for the self-check in README / tests.
export { RequestCounter };

export async function startProxy({
  listenPort = 0,
  host = '127.0.0.1',
  targetPort,
  targetHost = '127.0.0.1',
  onRequest = null, // optional: called with each request line
}) {
  if (!targetPort) throw new Error('startProxy: targetPort is required');
  const counters = { requests: 0, bytes_up: 0, bytes_down: 0, connections: 0 };
  const sockets = new Set();

  const server = net.createServer({ noDelay: true }, (client) => {
    counters.connections += 1;
    const upstream = net.connect({ port: targetPort, host: targetHost, noDelay: true });
    sockets.add(client);
    sockets.add(upstream);
    const parser = new RequestCounter((requestLine) => {
      counters.requests += 1;
      onRequest?.(requestLine);
    });

    const pipe = (from, to, onData) => {
      from.on('data', (chunk) => {
        onData(chunk);
        if (!to.write(chunk)) from.pause();
      });
      to.on('drain', () => from.resume());
      from.on('end', () => to.end());
    };
    pipe(client, upstream, (chunk) => {
      counters.bytes_up += chunk.length;
      parser.push(chunk);
    });
    pipe(upstream, client, (chunk) => {
      counters.bytes_down += chunk.length;
    });

    const teardown = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', teardown);
    upstream.on('error', teardown);
    client.on('close', () => {
      sockets.delete(client);
      if (upstream.writableEnded || upstream.destroyed) return;
      upstream.end();
    });
    upstream.on('close', () => {
      sockets.delete(upstream);
      if (!client.destroyed) client.end();
    });
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  return {
    port: server.address().port,
    stats() {
      return { ...counters };
    },
    reset() {
      counters.requests = 0;
      counters.bytes_up = 0;
      counters.bytes_down = 0;
      counters.connections = 0;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${a} needs a value`);
    out[a.slice(2)] = v;
    i++;
  }
  return out;
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
    if (args.listen === undefined || args.target === undefined) {
      throw new Error('--listen PORT and --target PORT are required');
    }
  } catch (e) {
    process.stderr.write(
      `${e.message}\nusage: node proxy.mjs --listen PORT --target PORT [--target-host H] [--host H] [--stats FILE]\n`,
    );
    process.exit(2);
  }
  const proxy = await startProxy({
    listenPort: Number(args.listen),
    host: args.host ?? '127.0.0.1',
    targetPort: Number(args.target),
    targetHost: args['target-host'] ?? '127.0.0.1',
    onRequest: process.env.FIT_PROXY_LOG ? (l) => process.stderr.write(`proxy: ${l}\n`) : null,
  });

  const report = () => {
    const json = JSON.stringify(proxy.stats());
    process.stdout.write(json + '\n');
    if (args.stats) fs.writeFileSync(args.stats, json + '\n');
  };

  process.stdout.write(Number(args.listen) === 0 ? `ready ${proxy.port}\n` : 'ready\n');

  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const cmd = line.trim();
    if (cmd === 'stats') report();
    else if (cmd === 'reset') proxy.reset();
    else if (cmd === 'take') {
      report();
      proxy.reset();
    } else if (cmd !== '') process.stderr.write(`proxy: unknown command ${JSON.stringify(cmd)}\n`);
  });
  // stdin closing (e.g. spawned with stdin ignored) does not stop the proxy.

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    report();
    rl.close();
    await proxy.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  main().catch((e) => {
    process.stderr.write(`proxy: ${e.stack || e}\n`);
    process.exit(1);
  });
}
