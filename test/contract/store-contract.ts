import { describe, expect, it } from 'vitest';
import type { LockRecord, NodeRecord, Store, UserRecord } from '../../src/lib/store/types.js';
import { sessionRow } from '../helpers/sessions.js';

export interface StoreContractOptions {
  /**
   * Two stores on one new, empty, not yet migrated database, each with its own connections and
   * event loop, as two processes sharing the database would have them.
   */
  twoStores(): Promise<[Store, Store]>;
}

/**
 * The one behaviour suite every Store backend must pass (SQLite, PostgreSQL): call it with a
 * factory that returns a fresh, migrated, empty store, and one that opens two stores on one fresh
 * database for the races between processes.
 */
export function storeContract(name: string, makeStore: () => Promise<Store>, options: StoreContractOptions): void {
  const user = (n: string): UserRecord => ({ name: n, logins: ['root'], roles: ['access'], passwordHash: null, otpSecret: null, createdAt: 1, lockedUntil: null, nodeLabels: { '*': ['*'] } });
  const token = (hash: string, u: string, expiresAt = 10_000) => ({ tokenHash: hash, user: u, createdAt: 1, expiresAt, usedAt: null });

  describe(`store contract: ${name}`, () => {
    it('migrate is idempotent', async () => {
      const s = await makeStore();
      await s.migrate();
      await s.migrate();
      await s.close();
    });

    it('creates each CA once and returns the stored one', async () => {
      const s = await makeStore();
      const a = await s.createCertAuthorityIfAbsent({ type: 'user', privateKeyPem: 'A', publicKey: 'a', createdAt: 1 });
      const b = await s.createCertAuthorityIfAbsent({ type: 'user', privateKeyPem: 'B', publicKey: 'b', createdAt: 2 });
      expect(a.privateKeyPem).toBe('A');
      expect(b.privateKeyPem).toBe('A');
      expect(await s.getCertAuthority('host')).toBeUndefined();
      await s.close();
    });

    it('users: create with token, duplicate refused, list, update, delete removes tokens', async () => {
      const s = await makeStore();
      await s.createUser(user('joe'), token('h1', 'joe'));
      await expect(s.createUser(user('joe'), token('h2', 'joe'))).rejects.toMatchObject({ kind: 'already-exists' });
      expect(await s.getSignupToken('h2')).toBeUndefined(); // the failed create left nothing behind
      await s.createUser({ ...user('amy'), logins: ['amy', 'root'], roles: ['access', 'auditor'] }, undefined);
      expect((await s.listUsers()).map((u) => u.name)).toEqual(['amy', 'joe']);
      expect((await s.getUser('amy'))!.roles).toEqual(['access', 'auditor']);
      expect(await s.updateUser('joe', { passwordHash: 'x', lockedUntil: 5 })).toBe(true);
      expect(await s.getUser('joe')).toMatchObject({ passwordHash: 'x', lockedUntil: 5 });
      expect(await s.updateUser('nobody', { passwordHash: 'x' })).toBe(false);
      expect(await s.deleteUser('joe')).toBe(true);
      expect(await s.deleteUser('joe')).toBe(false);
      expect(await s.getSignupToken('h1')).toBeUndefined();
      await s.close();
    });

    it('signup tokens are consumed once, and not after expiry', async () => {
      const s = await makeStore();
      await s.createUser(user('joe'), token('t1', 'joe', 1000));
      expect(await s.consumeSignupToken('t1', 1000)).toBeUndefined(); // expired at 1000
      await s.replaceSignupToken(token('t2', 'joe', 5000));
      expect(await s.getSignupToken('t1')).toBeUndefined();
      const results = await Promise.all([s.consumeSignupToken('t2', 10), s.consumeSignupToken('t2', 11)]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await s.getSignupToken('t2'))!.usedAt).not.toBeNull();
      await s.close();
    });

    it('audit events: newest first, filtered by type, user and time', async () => {
      const s = await makeStore();
      for (let i = 0; i < 5; i++) {
        await s.appendEvent({ id: `e${i}`, event: i % 2 ? 'cert.create' : 'user.create', time: 100 + i, user: i < 2 ? 'joe' : 'amy', fields: { i } });
      }
      expect((await s.listEvents()).map((e) => e.id)).toEqual(['e4', 'e3', 'e2', 'e1', 'e0']);
      expect((await s.listEvents({ types: ['cert.create'] })).map((e) => e.id)).toEqual(['e3', 'e1']);
      expect((await s.listEvents({ user: 'joe' })).map((e) => e.id)).toEqual(['e1', 'e0']);
      expect((await s.listEvents({ since: 102, until: 104, limit: 1 })).map((e) => e.id)).toEqual(['e3']);
      expect((await s.listEvents({ types: ['cert.create'] }))[0]!.fields).toEqual({ i: 3 });
      await s.close();
    });

    it('completeSignup consumes the token and sets the password in one step, once', async () => {
      const s = await makeStore();
      await s.createUser(user('joe'), token('t', 'joe', 5000));
      expect(await s.setSignupOtpSecret('t', 'SECRET1')).toBe('SECRET1');
      expect(await s.setSignupOtpSecret('t', 'SECRET2')).toBe('SECRET1'); // first writer wins
      const [a, b] = await Promise.all([s.completeSignup('t', 10, 'hash-a', 'SECRET1'), s.completeSignup('t', 11, 'hash-b', 'SECRET1')]);
      expect([a, b].filter(Boolean)).toHaveLength(1);
      const u = (await s.getUser('joe'))!;
      expect(u.passwordHash).toBe(a ? 'hash-a' : 'hash-b');
      expect(u.otpSecret).toBe('SECRET1');
      await s.createUser(user('amy'), token('old', 'amy', 5));
      expect(await s.completeSignup('old', 10, 'h', null)).toBeUndefined();
      expect((await s.getUser('amy'))!.passwordHash).toBeNull();
      await s.close();
    });

    it('login failures are counted within the window; web sessions come and go', async () => {
      const s = await makeStore();
      await s.createUser(user('joe'), undefined);
      expect(await s.recordLoginFailure('joe', 100, 'wrong password', 0)).toBe(1);
      expect(await s.recordLoginFailure('joe', 200, 'wrong password', 0)).toBe(2);
      expect(await s.recordLoginFailure('joe', 300, 'wrong password', 150)).toBe(2);
      await s.clearLoginFailures('joe');
      expect(await s.recordLoginFailure('joe', 400, 'wrong password', 0)).toBe(1);
      await s.createWebSession({ tokenHash: 'w1', user: 'joe', createdAt: 1, expiresAt: 2 });
      expect(await s.getWebSession('w1')).toEqual({ tokenHash: 'w1', user: 'joe', createdAt: 1, expiresAt: 2 });
      await s.deleteWebSession('w1');
      expect(await s.getWebSession('w1')).toBeUndefined();
      await s.createWebSession({ tokenHash: 'w2', user: 'joe', createdAt: 1, expiresAt: 2 });
      await s.deleteWebSessionsForUser('joe');
      expect(await s.getWebSession('w2')).toBeUndefined();
      await s.close();
    });

    it('session index: create, end, get, list newest first with filters', async () => {
      const s = await makeStore();
      const base = { kind: 'exec' as const, login: 'root', node: 'node1:22', clientAddr: '127.0.0.1', command: 'echo hi', pty: false, endedAt: null, exitStatus: null, exitSignal: null, bytesIn: 0, bytesOut: 0, sha256In: null, sha256Out: null, endReason: null };
      await s.createSession({ ...base, id: 'a', user: 'joe', startedAt: 100, recording: 'a.cast' });
      await s.createSession({ ...base, id: 'b', user: 'amy', startedAt: 200, recording: 'b.cast', kind: 'shell', pty: true, command: null });
      await s.endSession('a', { endedAt: 150, exitStatus: 3, exitSignal: null, bytesIn: 5, bytesOut: 2 ** 40, sha256In: 'x', sha256Out: 'y', endReason: 'exit' });
      expect(await s.getSession('a')).toMatchObject({ id: 'a', user: 'joe', endedAt: 150, exitStatus: 3, bytesOut: 2 ** 40, pty: false, command: 'echo hi' });
      expect((await s.getSession('b'))!.pty).toBe(true);
      expect((await s.listSessions()).map((x) => x.id)).toEqual(['b', 'a']);
      expect((await s.listSessions({ user: 'joe' })).map((x) => x.id)).toEqual(['a']);
      expect((await s.listSessions({ since: 150 })).map((x) => x.id)).toEqual(['b']);
      expect((await s.listSessions({ open: true })).map((x) => x.id)).toEqual(['b']);
      expect(await s.getSession('zzz')).toBeUndefined();
      await s.close();
    });

    it('sessions: owner and sealed end; recording chunks append idempotently and read in pages', async () => {
      const s = await makeStore();
      const base = { kind: 'exec' as const, login: 'root', node: 'n:22', clientAddr: '127.0.0.1', command: 'x', pty: false, endedAt: null, exitStatus: null, exitSignal: null, bytesIn: 0, bytesOut: 0, sha256In: null, sha256Out: null, endReason: null, user: 'joe' };
      await s.createSession({ ...base, id: 'mine', startedAt: 1, recording: 'mine.cast', serverId: 'A' });
      await s.createSession({ ...base, id: 'theirs', startedAt: 2, recording: 'theirs.cast', serverId: 'B' });
      await s.createSession({ ...base, id: 'old', startedAt: 3, recording: 'old.cast' });
      expect((await s.listSessions({ open: true, serverId: 'A' })).map((x) => x.id).sort()).toEqual(['mine', 'old']);
      await s.endSession('mine', { endedAt: 5, exitStatus: 0, exitSignal: null, bytesIn: 0, bytesOut: 0, sha256In: null, sha256Out: null, endReason: 'exit', recordingBytes: 2 ** 33, recordingChain: 'ab' });
      expect(await s.getSession('mine')).toMatchObject({ serverId: 'A', recordingBytes: 2 ** 33, recordingChain: 'ab' });
      expect(await s.recordingPartSize('mine', 'cast')).toBe(0);
      await s.appendRecordingChunk('mine', 'cast', 0, Buffer.from('hello '));
      await s.appendRecordingChunk('mine', 'cast', 6, Buffer.from([0, 255, 10]));
      await s.appendRecordingChunk('mine', 'cast', 6, Buffer.from('retry'));
      await s.appendRecordingChunk('mine', 'chain', 0, Buffer.from('c'));
      expect(await s.recordingPartSize('mine', 'cast')).toBe(9);
      const page1 = await s.readRecordingChunks('mine', 'cast', 0, 1);
      expect(page1).toEqual([{ offset: 0, data: Buffer.from('hello ') }]);
      expect(await s.readRecordingChunks('mine', 'cast', 6, 10)).toEqual([{ offset: 6, data: Buffer.from([0, 255, 10]) }]);
      expect(await s.readRecordingChunks('theirs', 'cast', 0, 10)).toEqual([]);
      await s.close();
    });

    it('OTP steps can be claimed once, and only forward', async () => {
      const s = await makeStore();
      await s.createUser(user('joe'), undefined);
      expect(await s.claimOtpStep('joe', 100)).toBe(true);
      expect(await s.claimOtpStep('joe', 100)).toBe(false);
      expect(await s.claimOtpStep('joe', 99)).toBe(false);
      expect(await s.claimOtpStep('joe', 101)).toBe(true);
      expect(await s.claimOtpStep('nobody', 1)).toBe(false);
      await s.close();
    });

    it('issued certificates are recorded', async () => {
      const s = await makeStore();
      await s.recordIssuedCert({ serial: '18446744073709551615', type: 'user', keyId: 'joe', principals: ['root'], validAfter: 1, validBefore: 2, fingerprint: 'SHA256:x', createdAt: 3 });
      expect(await s.listIssuedCerts()).toEqual([{ serial: '18446744073709551615', type: 'user', keyId: 'joe', principals: ['root'], validAfter: 1, validBefore: 2, fingerprint: 'SHA256:x', createdAt: 3 }]);
      await s.close();
    });
  });

  describe(`store contract: ${name}, node inventory`, () => {
    const node = (n: string, over: Partial<NodeRecord> = {}): NodeRecord => ({ name: n, host: '10.0.0.5', port: 22, labels: { env: 'staging' }, addedBy: 'admin', createdAt: 5, hostKeyFingerprint: null, ...over });

    it('nodes: put adds or replaces by name (keeping nothing of the old row), list by name, delete', async () => {
      const s = await makeStore();
      await s.putNode(node('web2', { port: 2222 }));
      await s.putNode(node('db1', { labels: {} }));
      expect((await s.listNodes()).map((n) => n.name)).toEqual(['db1', 'web2']);
      expect(await s.getNode('web2')).toEqual(node('web2', { port: 2222 }));
      await s.putNode(node('web2', { host: '10.0.0.9', labels: { env: 'prod', team: 'web' }, hostKeyFingerprint: 'SHA256:x', addedBy: 'join:abc' }));
      expect(await s.getNode('web2')).toEqual(node('web2', { host: '10.0.0.9', labels: { env: 'prod', team: 'web' }, hostKeyFingerprint: 'SHA256:x', addedBy: 'join:abc' }));
      expect(await s.deleteNode('web2')).toBe(true);
      expect(await s.deleteNode('web2')).toBe(false);
      expect(await s.getNode('web2')).toBeUndefined();
      await s.close();
    });

    it('user node labels round-trip and update', async () => {
      const s = await makeStore();
      await s.createUser({ ...user('joe'), nodeLabels: { env: ['staging', 'dev'], '*': ['*'] } }, undefined);
      expect((await s.getUser('joe'))!.nodeLabels).toEqual({ env: ['staging', 'dev'], '*': ['*'] });
      await s.updateUser('joe', { nodeLabels: { team: ['db'] } });
      expect((await s.getUser('joe'))!.nodeLabels).toEqual({ team: ['db'] });
      await s.close();
    });

    it('join tokens: used once, never after expiry, and who used it is kept', async () => {
      const s = await makeStore();
      const t = (hash: string, expiresAt = 1000) => ({ tokenHash: hash, type: 'node' as const, createdAt: 1, expiresAt, usedAt: null, usedBy: null });
      await s.createJoinToken(t('a'));
      await s.createJoinToken(t('b', 10));
      expect(await s.consumeJoinToken('b', 10, 'node1')).toBeUndefined();
      expect(await s.consumeJoinToken('zz', 5, 'node1')).toBeUndefined();
      const results = await Promise.all([s.consumeJoinToken('a', 5, 'node1'), s.consumeJoinToken('a', 6, 'node2')]);
      expect(results.filter(Boolean)).toHaveLength(1);
      const used = await s.getJoinToken('a');
      expect(used).toMatchObject({ type: 'node', usedAt: expect.any(Number) });
      expect(['node1', 'node2']).toContain(used!.usedBy);
      expect((await s.listJoinTokens()).map((x) => x.tokenHash).sort()).toEqual(['a', 'b']);
      await s.close();
    });
  });

  describe(`store contract: ${name}, search`, () => {
    // Three sessions: joe's older and newer on node1, amy's on node2.
    const seed = async (s: Store) => {
      const old = sessionRow('joe', 1_000, { node: 'node1:22' });
      const recent = sessionRow('joe', 5_000, { node: 'node1:22' });
      const amys = sessionRow('amy', 3_000, { node: 'node2:2222' });
      for (const x of [old, recent, amys]) await s.createSession(x);
      const lines = (texts: string[]) => texts.map((text, seq) => ({ seq, offsetMs: 1000 * seq + 250, text }));
      await s.indexSessionLines(old.id, lines(['$ echo needle-$((40+2))', 'needle-42', '$ cat /etc/passwd', 'root:x:0:0:root:/root:/bin/bash']));
      await s.indexSessionLines(recent.id, lines(['$ ls', 'haystack needle-42 straw', '$ sudo apt-get install Café']));
      await s.indexSessionLines(amys.id, lines(['needle-42', 'needles everywhere', '42 needle']));
      return { old, recent, amys };
    };

    it('a phrase matches its tokens in order, with user, node, offset and the lines beside it', async () => {
      const s = await makeStore();
      const { old, recent, amys } = await seed(s);
      const hits = await s.searchSessions({ text: 'needle-42' });
      // `echo needle-$((40+2))` and `42 needle` are not the phrase.
      expect(hits.map((h) => [h.sessionId, h.seq]).sort()).toEqual([[old.id, 1], [recent.id, 1], [amys.id, 0]].sort());
      const inOld = hits.find((h) => h.sessionId === old.id)!;
      expect(inOld).toMatchObject({ user: 'joe', login: 'joe', node: 'node1:22', startedAt: 1_000, offsetMs: 1250, line: 'needle-42', before: '$ echo needle-$((40+2))', after: '$ cat /etc/passwd' });
      expect(hits.find((h) => h.sessionId === amys.id)).toMatchObject({ before: null, after: 'needles everywhere' });
      expect((await s.searchSessions({ text: '"needle 42"' })).length).toBe(3);
      expect((await s.searchSessions({ text: '/etc/passwd' })).map((h) => h.line)).toEqual(['$ cat /etc/passwd']);
      // Words are ANDed, in any order; case and Unicode width do not matter.
      expect((await s.searchSessions({ text: 'STRAW haystack' })).map((h) => h.sessionId)).toEqual([recent.id]);
      expect((await s.searchSessions({ text: 'café' })).map((h) => h.sessionId)).toEqual([recent.id]);
      expect(await s.searchSessions({ text: 'nothing-like-this' })).toEqual([]);
      await s.close();
    });

    it('prefix queries, alone and at the end of a phrase', async () => {
      const s = await makeStore();
      const { amys } = await seed(s);
      expect((await s.searchSessions({ text: 'needles' })).map((h) => h.sessionId)).toEqual([amys.id]);
      expect((await s.searchSessions({ text: 'needl*' })).length).toBe(6);
      expect((await s.searchSessions({ text: '"apt get inst"*' })).map((h) => h.line)).toEqual(['$ sudo apt-get install Café']);
      expect((await s.searchSessions({ text: 'pass*' })).map((h) => h.line)).toEqual(['$ cat /etc/passwd']);
      await s.close();
    });

    it('filters: user, node (with or without the port), time', async () => {
      const s = await makeStore();
      const { old, recent, amys } = await seed(s);
      const ids = async (q: Partial<Parameters<Store['searchSessions']>[0]>) => [...new Set((await s.searchSessions({ text: 'needle-42', ...q })).map((h) => h.sessionId))].sort();
      expect(await ids({ user: 'amy' })).toEqual([amys.id]);
      expect(await ids({ user: 'nobody' })).toEqual([]);
      expect(await ids({ node: 'node1' })).toEqual([old.id, recent.id].sort());
      expect(await ids({ node: 'node2:2222' })).toEqual([amys.id]);
      expect(await ids({ node: 'node' })).toEqual([]);
      expect(await ids({ since: 2_000, until: 5_000 })).toEqual([amys.id]);
      await s.close();
    });

    it('the largest page the API allows (10,000 hits) comes back with the lines beside each hit', async () => {
      const s = await makeStore();
      const x = sessionRow('joe', 1_000);
      await s.createSession(x);
      const lines = Array.from({ length: 10_001 }, (_, seq) => ({ seq, offsetMs: seq, text: seq % 2 ? `line ${seq}` : `needle ${seq}` }));
      for (let i = 0; i < lines.length; i += 2_000) await s.indexSessionLines(x.id, lines.slice(i, i + 2_000));
      const hits = await s.searchSessions({ text: 'needle', limit: 10_000 });
      expect(hits).toHaveLength(5_001);
      const hit = hits.find((h) => h.seq === 4_000)!;
      expect([hit.before, hit.line, hit.after]).toEqual(['line 3999', 'needle 4000', 'line 4001']);
      await s.close();
    });

    it('ranked, newest session first on ties, and paged without overlap', async () => {
      const s = await makeStore();
      const rows = [];
      for (let i = 0; i < 7; i++) {
        const x = sessionRow('joe', 10_000 + i);
        rows.push(x);
        await s.createSession(x);
        await s.indexSessionLines(x.id, [{ seq: 0, offsetMs: 0, text: 'same line deploy' }]);
      }
      const better = sessionRow('joe', 1);
      await s.createSession(better);
      await s.indexSessionLines(better.id, [{ seq: 0, offsetMs: 0, text: 'deploy deploy deploy' }]);
      const all = await s.searchSessions({ text: 'deploy' });
      expect(all.map((h) => h.sessionId)).toEqual([better.id, ...rows.map((r) => r.id).reverse()]);
      const pages = [await s.searchSessions({ text: 'deploy', limit: 3 }), await s.searchSessions({ text: 'deploy', limit: 3, skip: 3 }), await s.searchSessions({ text: 'deploy', limit: 3, skip: 6 })];
      expect(pages.map((p) => p.length)).toEqual([3, 3, 2]);
      expect(pages.flat().map((h) => h.sessionId)).toEqual(all.map((h) => h.sessionId));
      await s.close();
    });

    it('a batch indexed twice keeps one copy; clear forgets a session; an empty query is refused', async () => {
      const s = await makeStore();
      const { old } = await seed(s);
      await s.indexSessionLines(old.id, [{ seq: 1, offsetMs: 9, text: 'needle-42 again' }]);
      expect((await s.searchSessions({ text: 'needle-42', user: 'joe' })).filter((h) => h.sessionId === old.id).map((h) => h.line)).toEqual(['needle-42']);
      await s.clearSessionLines(old.id);
      expect((await s.searchSessions({ text: 'passwd' }))).toEqual([]);
      await expect(s.searchSessions({ text: ' "" -- ' })).rejects.toMatchObject({ kind: 'bad-parameter' });
      // Query syntax is never passed through: quotes, operators and colons are only separators.
      expect(await s.searchSessions({ text: 'needle:* | NEAR( OR "' })).toEqual([]);
      await s.close();
    });
  });

  describe(`store contract: ${name}, revocation`, () => {
    const lock = (id: string, over: Partial<LockRecord> = {}): LockRecord => ({ id, kind: 'user', target: 'joe', message: 'compromised', expiresAt: null, createdBy: 'tctl', createdAt: 10, ...over });

    it('locks: create, list all or in force at a time (expired ones left out), delete once', async () => {
      const s = await makeStore();
      await s.createLock(lock('00000000-0000-4000-8000-000000000001'));
      await s.createLock(lock('00000000-0000-4000-8000-000000000002', { kind: 'node', target: 'web1', expiresAt: 100, createdAt: 11 }));
      await s.createLock(lock('00000000-0000-4000-8000-000000000003', { kind: 'session', target: 'abc', message: '', createdAt: 12 }));
      expect((await s.listLocks()).map((l) => l.id.slice(-1))).toEqual(['1', '2', '3']);
      expect((await s.listLocks(99)).map((l) => l.id.slice(-1))).toEqual(['1', '2', '3']);
      expect((await s.listLocks(100)).map((l) => l.id.slice(-1))).toEqual(['1', '3']);
      expect((await s.listLocks(50))[1]).toEqual(lock('00000000-0000-4000-8000-000000000002', { kind: 'node', target: 'web1', expiresAt: 100, createdAt: 11 }));
      expect(await s.deleteLock('00000000-0000-4000-8000-000000000001')).toBe(true);
      expect(await s.deleteLock('00000000-0000-4000-8000-000000000001')).toBe(false);
      expect((await s.listLocks()).length).toBe(2);
      await s.close();
    });

    it('issued certificates: found by serial; unexpired ones of a type listed for the KRL', async () => {
      const s = await makeStore();
      const cert = (serial: string, type: 'user' | 'host', validBefore: number) => ({ serial, type, keyId: 'joe', principals: ['root'], validAfter: 1, validBefore, fingerprint: 'SHA256:x', createdAt: Number(serial) });
      await s.recordIssuedCert(cert('1', 'user', 100));
      await s.recordIssuedCert(cert('2', 'user', 300));
      await s.recordIssuedCert(cert('3', 'host', 300));
      expect(await s.getIssuedCert('2')).toEqual(cert('2', 'user', 300));
      expect(await s.getIssuedCert('9')).toBeUndefined();
      expect((await s.listUnexpiredCerts('user', 100)).map((c) => c.serial)).toEqual(['2']);
      expect((await s.listUnexpiredCerts('user', 99)).map((c) => c.serial)).toEqual(['1', '2']);
      await s.close();
    });

    it('users: credentials_reset_at is null until set, and kept', async () => {
      const s = await makeStore();
      await s.createUser(user('joe'), undefined);
      expect((await s.getUser('joe'))!.credentialsResetAt).toBeNull();
      await s.updateUser('joe', { credentialsResetAt: 1234 });
      expect((await s.getUser('joe'))!.credentialsResetAt).toBe(1234);
      await s.close();
    });
  });

  describe(`store contract: ${name}, live session end requests`, () => {
    it('an end request is taken once, only for the sessions asked about; a second request for a session is ignored', async () => {
      const s = await makeStore();
      const req = (id: string, message: string) => ({ sessionId: id, message, requestedBy: 'tctl', requestedAt: 5 });
      await s.requestSessionEnd(req('11111111-1111-4111-8111-111111111111', 'maintenance'));
      await s.requestSessionEnd(req('11111111-1111-4111-8111-111111111111', 'second'));
      await s.requestSessionEnd(req('22222222-2222-4222-8222-222222222222', 'other'));
      expect(await s.takeSessionEndRequests([])).toEqual([]);
      expect(await s.takeSessionEndRequests(['33333333-3333-4333-8333-333333333333'])).toEqual([]);
      const [a, b] = await Promise.all([
        s.takeSessionEndRequests(['11111111-1111-4111-8111-111111111111']),
        s.takeSessionEndRequests(['11111111-1111-4111-8111-111111111111']),
      ]);
      expect([...a, ...b]).toEqual([req('11111111-1111-4111-8111-111111111111', 'maintenance')]);
      expect(await s.takeSessionEndRequests(['22222222-2222-4222-8222-222222222222', '11111111-1111-4111-8111-111111111111'])).toEqual([req('22222222-2222-4222-8222-222222222222', 'other')]);
      await s.close();
    });
  });

  describe(`store contract: ${name}, two processes racing on one database`, () => {
    const twoMigrated = async (): Promise<[Store, Store]> => {
      const [a, b] = await options.twoStores();
      await a.migrate();
      await b.migrate();
      return [a, b];
    };
    const closeBoth = async (a: Store, b: Store) => {
      await Promise.all([a.close(), b.close()]);
    };

    it('concurrent migrate on an empty database runs each migration once; both stores work', async () => {
      // Unserialised, the loser fails about half the time ("table already exists"): a few rounds.
      for (let round = 0; round < 5; round++) {
        const [a, b] = await options.twoStores();
        await Promise.all([a.migrate(), b.migrate()]);
        await a.createUser(user('joe'), undefined);
        expect((await b.getUser('joe'))?.name).toBe('joe');
        await Promise.all([a.migrate(), b.migrate()]);
        await closeBoth(a, b);
      }
    });

    it('concurrent createCertAuthorityIfAbsent with different keys: one wins, both return it', async () => {
      const [a, b] = await twoMigrated();
      for (const type of ['user', 'host', 'openssh', 'recording'] as const) {
        const [ra, rb] = await Promise.all([
          a.createCertAuthorityIfAbsent({ type, privateKeyPem: `A-${type}`, publicKey: 'a', createdAt: 1 }),
          b.createCertAuthorityIfAbsent({ type, privateKeyPem: `B-${type}`, publicKey: 'b', createdAt: 2 }),
        ]);
        expect(ra).toEqual(rb);
        expect([`A-${type}`, `B-${type}`]).toContain(ra.privateKeyPem);
        expect(await a.getCertAuthority(type)).toEqual(ra);
        expect(await b.getCertAuthority(type)).toEqual(ra);
      }
      await closeBoth(a, b);
    });

    it('a join token redeemed from both at once is consumed exactly once', async () => {
      const [a, b] = await twoMigrated();
      for (let i = 0; i < 20; i++) await a.createJoinToken({ tokenHash: `j${i}`, type: 'node', createdAt: 1, expiresAt: 1000, usedAt: null, usedBy: null });
      const pairs = await Promise.all(Array.from({ length: 20 }, (_, i) => Promise.all([a.consumeJoinToken(`j${i}`, 5, 'a'), b.consumeJoinToken(`j${i}`, 5, 'b')])));
      for (const pair of pairs) expect(pair.filter(Boolean)).toHaveLength(1);
      await closeBoth(a, b);
    });

    it('a signup token redeemed from both at once is consumed exactly once', async () => {
      const [a, b] = await twoMigrated();
      const n = 20;
      for (let i = 0; i < n; i++) await a.createUser(user(`u${i}`), token(`t${i}`, `u${i}`));
      const consumed = await Promise.all(Array.from({ length: n }, (_, i) => Promise.all([a.consumeSignupToken(`t${i}`, 10), b.consumeSignupToken(`t${i}`, 10)])));
      for (const pair of consumed) expect(pair.filter(Boolean)).toHaveLength(1);
      const completed = await Promise.all(
        Array.from({ length: n }, (_, i) => i).map(async (i) => {
          await a.replaceSignupToken(token(`s${i}`, `u${i}`));
          return Promise.all([a.completeSignup(`s${i}`, 10, 'hash-a', null), b.completeSignup(`s${i}`, 10, 'hash-b', null)]);
        }),
      );
      for (const [i, pair] of completed.entries()) {
        expect(pair.filter(Boolean)).toHaveLength(1);
        expect((await b.getUser(`u${i}`))!.passwordHash).toBe(pair[0] ? 'hash-a' : 'hash-b');
      }
      await closeBoth(a, b);
    });

    it('concurrent login failures from both are each counted: the counts are 1..n', async () => {
      const [a, b] = await twoMigrated();
      await a.createUser(user('joe'), undefined);
      const n = 12;
      const counts = await Promise.all(Array.from({ length: n }, (_, i) => (i % 2 ? a : b).recordLoginFailure('joe', 100 + i, 'wrong password', 0)));
      expect([...counts].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(await b.recordLoginFailure('joe', 1000, 'wrong password', 0)).toBe(n + 1);
      await closeBoth(a, b);
    });

    it('an OTP step claimed from both at once is granted once', async () => {
      const [a, b] = await twoMigrated();
      await a.createUser(user('joe'), undefined);
      for (let step = 1; step <= 20; step++) {
        const r = await Promise.all([a.claimOtpStep('joe', step), b.claimOtpStep('joe', step)]);
        expect(r.filter(Boolean)).toHaveLength(1);
      }
      await closeBoth(a, b);
    });

    it('concurrent resets leave exactly one signup token', async () => {
      const [a, b] = await twoMigrated();
      const n = 10;
      for (let i = 0; i < n; i++) await a.createUser(user(`u${i}`), token(`old${i}`, `u${i}`));
      await Promise.all(Array.from({ length: n }, (_, i) => Promise.all([a.replaceSignupToken(token(`a${i}`, `u${i}`)), b.replaceSignupToken(token(`b${i}`, `u${i}`))])));
      for (let i = 0; i < n; i++) {
        const left = await Promise.all([`old${i}`, `a${i}`, `b${i}`].map((h) => a.getSignupToken(h)));
        expect(left.filter(Boolean)).toHaveLength(1);
        expect(left[0]).toBeUndefined();
      }
      await closeBoth(a, b);
    });

    it('audit events appended from both are all kept, newest first, each once', async () => {
      const [a, b] = await twoMigrated();
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).appendEvent({ id: `e${i}`, event: 'user.login', time: 100, user: 'joe', fields: { i } })));
      const ids = (await a.listEvents({ limit: 100 })).map((e) => e.id);
      expect([...ids].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `e${i}`).sort());
      await a.appendEvent({ id: 'last', event: 'user.login', time: 100, user: 'joe', fields: {} });
      expect((await b.listEvents({ limit: 1 }))[0]!.id).toBe('last');
      await closeBoth(a, b);
    });
  });
}
