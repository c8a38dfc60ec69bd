import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';
import { testHostKey } from '../helpers/ssh2-host-key.js';

/**
 * ssh2 1.17 resumes only one of stdout and stderr when the peer opens its window again, and can
 * resume a stale stdout chunk instead of a waiting stderr one: a session that writes stderr
 * after stdout filled the window then hangs for ever (the proxy relays sessions exactly like
 * this). patches/ssh2+1.17.0.patch resumes both.
 */
describe('ssh2 channel window: stdout and stderr both resume', () => {
  it('a large stdout followed by stderr, several times, all arrives and the channel ends', async () => {
    const server = new ssh2.Server({ hostKeys: [testHostKey()] }, (conn) => {
      conn.on('authentication', (ctx) => ctx.accept());
      conn.on('session', (accept) =>
        accept().on('exec', (acceptExec) => {
          const ch = acceptExec();
          const big = Buffer.alloc(3 * 1024 * 1024, 0x61);
          let round = 0;
          const next = () => {
            if (round++ === 4) {
              ch.exit(0);
              ch.end();
              return;
            }
            ch.write(big);
            ch.stderr.write(`err ${round}\n`, () => setImmediate(next));
          };
          next();
        }),
      );
      conn.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const client = new ssh2.Client();
    try {
      const result = await new Promise<{ out: number; err: string; code: number | null }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the channel never ended (stalled window)')), 20_000);
        client.on('error', reject);
        client.on('ready', () =>
          client.exec('x', (err, stream) => {
            if (err) return reject(err);
            let out = 0;
            let errText = '';
            let code: number | null = null;
            // A slow reader, so the window fills.
            stream.on('data', (d: Buffer) => {
              out += d.length;
              stream.pause();
              setTimeout(() => stream.resume(), 1);
            });
            stream.stderr.on('data', (d: Buffer) => (errText += d.toString()));
            stream.on('exit', (c: number) => (code = c));
            stream.on('close', () => {
              clearTimeout(timer);
              resolve({ out, err: errText, code });
            });
          }),
        );
        client.connect({ host: '127.0.0.1', port, username: 'u' });
      });
      expect(result).toEqual({ out: 4 * 3 * 1024 * 1024, err: 'err 1\nerr 2\nerr 3\nerr 4\n', code: 0 });
    } finally {
      client.end();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }, 30_000);
});
