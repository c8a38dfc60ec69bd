import { execFileSync, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ssh2 from 'ssh2';

/*
 * One ssh2 hop alone, for ssh2's per-packet cost (issue 19): an ssh2 Server in a child process
 * streams BYTES over an exec channel to an ssh2 Client in this process, both on 127.0.0.1, with
 * one cipher forced. Each side measures its own CPU (process.cpuUsage, user + system) from the
 * start of the stream to its end, so the figure is the CPU seconds per GiB that sending
 * (padding, encryption, socket writes) and receiving (decryption, channel data) cost, which is
 * what the proxy pays twice per relayed byte. Wall time is printed too, but on a shared machine
 * the CPU figures are the ones to compare.
 *
 *   node bench/ssh2-hop.mjs [cipher ...]    (BYTES=268435456 by default; RUNS=3)
 *
 * Prints one line per run and the median per cipher; nothing is written to disk.
 */
const BYTES = Number(process.env.BYTES ?? 256 * 1024 * 1024);
const RUNS = Number(process.env.RUNS ?? 3);
const CHUNK = 64 * 1024;
const DEFAULT_CIPHERS = ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com'];

const cpuSeconds = (since) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1e6;
};

/** The child: a server that streams BYTES to every exec request and reports its CPU for it. */
function serve() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssh2-hop-'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(dir, 'key')]);
  const hostKey = fs.readFileSync(path.join(dir, 'key'));
  fs.rmSync(dir, { recursive: true });
  const chunk = Buffer.alloc(CHUNK, 'tollgate-ssh2-hop-text\n');
  const server = new ssh2.Server({ hostKeys: [hostKey] }, (conn) => {
    conn.on('authentication', (ctx) => ctx.accept());
    conn.on('error', () => undefined);
    conn.on('session', (accept) => {
      accept().on('exec', (acceptExec) => {
        const ch = acceptExec();
        ch.resume();
        const t0 = process.cpuUsage();
        let left = BYTES;
        const pump = () => {
          while (left > 0) {
            const n = Math.min(CHUNK, left);
            left -= n;
            if (!ch.write(n === CHUNK ? chunk : chunk.subarray(0, n))) return void ch.once('drain', pump);
          }
          ch.exit(0);
          ch.end();
          ch.once('close', () => process.send({ cpu: cpuSeconds(t0) }));
        };
        pump();
      });
    });
  });
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
  process.on('disconnect', () => process.exit(0));
}

/** One run: connects with `cipher`, reads the stream; the client's and server's CPU seconds. */
async function once(port, cipher, serverCpu) {
  const client = new ssh2.Client();
  await new Promise((resolve, reject) => {
    client.once('ready', () => resolve()).once('error', reject);
    client.connect({ host: '127.0.0.1', port, username: 'bench', password: 'x', algorithms: { cipher: [cipher] }, debug: process.env.DEBUG_HOP ? (s) => console.log(s) : undefined });
  });
  const t0 = process.cpuUsage();
  const w0 = performance.now();
  const serverDone = serverCpu();
  let got = 0;
  await new Promise((resolve, reject) => {
    client.exec('stream', (err, ch) => {
      if (err) return reject(err);
      ch.on('data', (d) => (got += d.length));
      ch.on('close', () => resolve());
    });
  });
  const clientCpu = cpuSeconds(t0);
  const wall = (performance.now() - w0) / 1000;
  client.end();
  if (got !== BYTES) throw new Error(`got ${got} of ${BYTES} bytes`);
  return { client: clientCpu, server: await serverDone, wall };
}

async function main() {
  const ciphers = process.argv.slice(2).length > 0 ? process.argv.slice(2) : DEFAULT_CIPHERS;
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { execArgv: process.execArgv });
  const waiting = [];
  child.on('message', (m) => waiting.shift()?.(m));
  const next = () => new Promise((resolve) => waiting.push(resolve));
  const { port } = await next();
  if (process.env.DEBUG_HOP) console.log("port", port);
  const gib = BYTES / 2 ** 30;
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const cipher of ciphers) {
    const rows = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await once(port, cipher, async () => (await next()).cpu);
      rows.push(r);
      console.log(`${cipher.padEnd(30)} run ${i + 1}: send ${(r.server / gib).toFixed(2)} s/GiB  receive ${(r.client / gib).toFixed(2)} s/GiB  wall ${(r.wall / gib).toFixed(2)} s/GiB`);
    }
    const s = median(rows.map((r) => r.server)) / gib;
    const c = median(rows.map((r) => r.client)) / gib;
    console.log(`${cipher.padEnd(30)} MEDIAN  send ${s.toFixed(2)}  receive ${c.toFixed(2)}  both ${(s + c).toFixed(2)} CPU s/GiB  wall ${(median(rows.map((r) => r.wall)) / gib).toFixed(2)} s/GiB`);
  }
  child.disconnect();
}

if (process.argv.includes('--serve')) serve();
else await main();
