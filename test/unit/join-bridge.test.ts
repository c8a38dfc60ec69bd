import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateEd25519, parseCertificate, publicKeyLine } from '../../src/lib/ca/index.js';
import { serveJoinBridge } from '../../src/lib/cluster/index.js';
import { nullLogger } from '../../src/lib/log.js';
import { authFixture } from '../helpers/auth-fixture.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-jb-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Sends one hand-over header to the bridge; resolves when the socket closes (or after 300 ms). */
function handOver(socket: string, header: Record<string, unknown>): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(socket, () => s.write(`${JSON.stringify(header)}\n`));
    s.on('error', () => resolve());
    s.on('close', () => resolve());
    setTimeout(() => (s.destroy(), resolve()), 300);
  });
}

describe('the join bridge between a daemon\'s SSH workers', () => {
  it('serves only a hand-over with the daemon\'s secret, for the user its certificate names (a forged join typed into joe\'s session before)', async () => {
    const f = await authFixture({ prefix: 'tg-jb-auth-', log: nullLogger, now: Date.now() });
    try {
      await f.auth.createUser({ name: 'joe', logins: 'joe,root' });
      await f.auth.createUser({ name: 'mallory', logins: 'mallory' });
      const key = generateEd25519();
      const mallory = (await f.auth.signUserCert({ user: 'mallory', publicKey: publicKeyLine(key.publicBlob), ttlMs: 3_600_000 })).blob;
      const joe = (await f.auth.signUserCert({ user: 'joe', publicKey: publicKeyLine(key.publicBlob), ttlMs: 3_600_000 })).blob;
      const served: string[] = [];
      const socket = path.join(dir, 'join.sock');
      const secret = 'a'.repeat(64);
      const bridge = await serveJoinBridge(socket, async (channel, who, req) => void served.push(`${who.user}:${req.mode}`), nullLogger, secret);
      try {
        const base = { id: '11111111-2222-3333-4444-555555555555', mode: 'peer', clientAddr: '127.0.0.1' };
        await handOver(socket, { ...base, user: 'joe', cert: joe.toString('base64') });
        await handOver(socket, { ...base, secret: 'b'.repeat(64), user: 'joe', cert: joe.toString('base64') });
        await handOver(socket, { ...base, secret, user: 'joe', cert: mallory.toString('base64') });
        expect(served).toEqual([]);
        await handOver(socket, { ...base, secret, user: 'joe', cert: joe.toString('base64') });
        expect(served).toEqual(['joe:peer']);
        expect(parseCertificate(joe).keyId).toBe('joe');
      } finally {
        await bridge.close();
      }
    } finally {
      await f.close();
    }
  });
});
