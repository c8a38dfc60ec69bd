import { beforeAll, describe, expect, it } from 'vitest';
import { NEEDS_AGENT, NO_TARGET, unregisteredNodeLine } from '../../src/lib/proxy-protocol.js';
import { authorizeSession, authorizeTunnel, identityRefusal, parseTarget, type SessionPlan } from '../../src/lib/proxy/session/index.js';
import type { LockRecord, NodeRecord, UserRecord } from '../../src/lib/store/types.js';
import { sessionFixture, type SessionFixture } from '../helpers/session-fixture.js';

describe('authorizeSession (pure)', () => {
  let f: SessionFixture;
  let joe: UserRecord;
  beforeAll(async () => {
    f = await sessionFixture();
    joe = await f.auth.getUser('joe');
    return () => f.close();
  });
  const plan = (over: Partial<SessionPlan> = {}): SessionPlan => ({
    identity: f.joe,
    target: { login: 'root', host: 'node1', port: 22 },
    kind: 'shell',
    command: null,
    subsystem: null,
    pty: undefined,
    env: {},
    forwardAgent: false,
    agentRequested: true,
    ...over,
  });
  const now = () => f.clock.now();

  it('allows a login the certificate names, for a user who exists, with the agent forwarded', () => {
    expect(authorizeSession(plan(), { user: joe, now: now() })).toEqual({ allowed: true, target: { login: 'root', host: 'node1', port: 22 }, node: undefined, nodeLabel: 'node1:22' });
  });

  const node1: NodeRecord = { name: 'node1', host: '10.0.0.5', port: 2222, labels: { env: 'staging', team: 'db' }, addedBy: 'admin', createdAt: 1, hostKeyFingerprint: null };

  it('a registered node: dialled at its own address, no agent needed, reached only when the labels match', () => {
    const ok = authorizeSession(plan({ agentRequested: false }), { user: joe, now: now(), node: node1 });
    expect(ok).toEqual({ allowed: true, target: { login: 'root', host: '10.0.0.5', port: 2222 }, node: node1, nodeLabel: 'node1' });
    const staging = { ...joe, nodeLabels: { env: ['staging', 'dev'] } };
    expect(authorizeSession(plan(), { user: staging, now: now(), node: node1 }).allowed).toBe(true);
    const prod = { ...joe, nodeLabels: { env: ['prod'] } };
    expect(authorizeSession(plan(), { user: prod, now: now(), node: node1 })).toEqual({
      allowed: false,
      reason: 'node labels do not allow node1',
      line: "tollgate: joe may not reach node node1 (its labels do not match joe's node labels; see tsh ls)",
    });
    // Labels never widen logins: the certificate's principals still decide.
    expect(authorizeSession(plan({ target: { login: 'admin', host: 'node1', port: 22 } }), { user: joe, now: now(), node: node1 })).toMatchObject({ allowed: false, reason: 'login admin not allowed' });
  });

  it('allow_unregistered_nodes: no refuses a target outside the inventory, with the hint to register it', () => {
    expect(authorizeSession(plan(), { user: joe, now: now(), refuseUnregistered: true })).toEqual({
      allowed: false,
      reason: 'node1:22 is not a registered node',
      line: unregisteredNodeLine('node1:22'),
    });
    expect(authorizeSession(plan(), { user: joe, now: now(), refuseUnregistered: true, node: node1 }).allowed).toBe(true);
  });

  it('refuses each broken rule with an audit reason and the line the client sees', () => {
    expect(authorizeSession(plan({ target: undefined }), { user: joe, now: now() })).toEqual({ allowed: false, reason: 'no target named', line: NO_TARGET });
    expect(authorizeSession(plan({ target: { login: 'admin', host: 'n', port: 22 } }), { user: joe, now: now() })).toEqual({
      allowed: false,
      reason: 'login admin not allowed',
      line: 'tollgate: joe may not log in as admin (allowed: joe, root)',
    });
    expect(authorizeSession(plan(), { user: undefined, now: now() })).toMatchObject({ allowed: false, reason: 'user joe no longer exists' });
    const later = new Date(Number(f.joe.cert.validBefore) * 1000);
    expect(authorizeSession(plan(), { user: joe, now: later })).toMatchObject({ allowed: false, line: 'tollgate: your certificate has expired; run tsh login' });
    expect(authorizeSession(plan({ agentRequested: false }), { user: joe, now: now() })).toEqual({ allowed: false, reason: 'no agent forwarding', line: NEEDS_AGENT });
  });

  it('a web lockout (too many bad passwords) never refuses a valid certificate', () => {
    expect(authorizeSession(plan(), { user: { ...joe, lockedUntil: now().getTime() + 60_000 }, now: now() }).allowed).toBe(true);
  });

  it("revocation: the user's logins now bound the certificate's principals", () => {
    const fewer = { ...joe, logins: ['joe'] };
    expect(authorizeSession(plan(), { user: fewer, now: now() })).toEqual({ allowed: false, reason: 'login root not allowed', line: 'tollgate: joe may not log in as root (allowed: joe)' });
    expect(authorizeTunnel(f.joe, { login: 'root', host: 'n', port: 22 }, { user: fewer, now: now() })).toMatchObject({ allowed: false, reason: 'login root not allowed' });
  });

  it('revocation: a certificate issued before the user was created or reset is refused, for every login', () => {
    const issued = now().getTime();
    const recreated = { ...joe, createdAt: issued + 1 };
    for (const login of ['root', 'joe']) {
      expect(authorizeSession(plan({ target: { login, host: 'n', port: 22 } }), { user: recreated, now: now(), certIssuedAt: issued })).toMatchObject({
        allowed: false,
        line: 'tollgate: your certificate was issued before user joe was created; run tsh login',
      });
    }
    const reset = { ...joe, credentialsResetAt: issued + 1 };
    expect(authorizeSession(plan(), { user: reset, now: now(), certIssuedAt: issued })).toMatchObject({ allowed: false, line: "tollgate: your certificate was issued before joe's credentials were reset; run tsh login" });
    expect(authorizeSession(plan(), { user: { ...joe, credentialsResetAt: issued }, now: now(), certIssuedAt: issued }).allowed).toBe(true);
    // Without a record of the issue, the latest time the validity start allows stands in.
    const latest = Number(f.joe.cert.validAfter) * 1000 + 60_000 + 999;
    expect(authorizeSession(plan(), { user: { ...joe, credentialsResetAt: latest }, now: now() }).allowed).toBe(true);
    expect(authorizeSession(plan(), { user: { ...joe, credentialsResetAt: latest + 1 }, now: now() }).allowed).toBe(false);
  });

  it('locks: by user, login, node name or legacy host; expired ones and session locks (no id yet) do not refuse', () => {
    const lock = (kind: LockRecord['kind'], target: string, expiresAt: number | null = null): LockRecord => ({ id: 'L1', kind, target, message: 'incident 42', expiresAt, createdBy: 'tctl', createdAt: 1 });
    const refused = { allowed: false, reason: 'locked: lock L1 (user=joe): incident 42', line: 'tollgate: access denied: locked by an administrator: incident 42' };
    expect(authorizeSession(plan(), { user: joe, now: now(), locks: [lock('user', 'joe')] })).toEqual(refused);
    expect(authorizeSession(plan(), { user: joe, now: now(), locks: [lock('login', 'root')] })).toMatchObject({ allowed: false });
    expect(authorizeSession(plan(), { user: joe, now: now(), locks: [lock('node', 'node1')] })).toMatchObject({ allowed: false });
    expect(authorizeSession(plan(), { user: joe, now: now(), locks: [lock('node', 'node1:22')] })).toMatchObject({ allowed: false });
    expect(authorizeSession(plan({ agentRequested: false }), { user: joe, now: now(), node: node1, locks: [lock('node', 'node1')] })).toMatchObject({ allowed: false });
    for (const other of [lock('user', 'amy'), lock('login', 'joe'), lock('node', 'node2'), lock('session', 'x'), lock('user', 'joe', now().getTime())]) {
      expect(authorizeSession(plan(), { user: joe, now: now(), locks: [other] }).allowed, `${other.kind}=${other.target}`).toBe(true);
    }
    expect(authorizeTunnel(f.joe, { login: 'root', host: 'node1', port: 22 }, { user: joe, now: now(), locks: [lock('user', 'joe')] })).toMatchObject({ allowed: false });
  });

  it('tunnels (-L, -D, -R) follow the login rules, without an auth-agent request to look for', () => {
    const t = { login: 'root', host: 'node1', port: 22 };
    expect(authorizeTunnel(f.joe, t, { user: joe, now: now() })).toEqual({ allowed: true, target: t, node: undefined, nodeLabel: 'node1:22' });
    expect(authorizeTunnel(f.joe, { ...t, login: 'admin' }, { user: joe, now: now() })).toMatchObject({ allowed: false, reason: 'login admin not allowed' });
    expect(authorizeTunnel(f.joe, t, { user: undefined, now: now() })).toMatchObject({ allowed: false, reason: 'user joe no longer exists' });
    expect(authorizeTunnel(f.joe, t, { user: joe, now: new Date(Number(f.joe.cert.validBefore) * 1000) })).toMatchObject({ allowed: false, reason: 'your certificate has expired; run tsh login' });
  });

  it('parses tsh targets, IPv6 in brackets, and nothing else', () => {
    expect(parseTarget('root@node1:22')).toEqual({ login: 'root', host: 'node1', port: 22 });
    expect(parseTarget('root@[::1]:2222')).toEqual({ login: 'root', host: '::1', port: 2222 });
    for (const bad of ['root@node1', 'node1:22', 'root@node1:0', 'root@node1:70000', 'ro ot@n:22', '']) expect(parseTarget(bad), bad).toBeUndefined();
  });

  it('identityRefusal: a reset, a re-created user, an expired certificate or a user lock refuse before any target', () => {
    const facts = { user: joe, now: now() };
    expect(identityRefusal(f.joe, facts)).toBeUndefined();
    expect(identityRefusal(f.joe, { ...facts, user: undefined })).toMatchObject({ reason: 'user joe no longer exists' });
    expect(identityRefusal(f.joe, { ...facts, user: { ...joe, credentialsResetAt: now().getTime() + 120_000 } })?.reason).toMatch(/credentials were reset/);
    const lock = { id: 'l1', kind: 'user' as const, target: 'joe', message: 'incident', createdBy: 'tctl', createdAt: 1, expiresAt: null };
    expect(identityRefusal(f.joe, { ...facts, locks: [lock] })).toEqual({ reason: 'locked: lock l1 (user=joe): incident', line: 'tollgate: access denied: locked by an administrator: incident' });
    expect(identityRefusal(f.joe, { ...facts, locks: [{ ...lock, kind: 'login' as const, target: 'root' }] })).toBeUndefined();
  });

  it('a node lock holds however the node is written: case, a trailing dot, host or host:port', () => {
    const lock = { id: 'l2', kind: 'node' as const, target: 'db.example.com', message: '', createdBy: 'tctl', createdAt: 1, expiresAt: null };
    for (const host of ['db.example.com', 'DB.Example.com', 'db.example.com.']) {
      const d = authorizeSession(plan({ target: { login: 'root', host, port: 22 } }), { user: joe, now: now(), locks: [lock] });
      expect(d.allowed, host).toBe(false);
    }
    expect(authorizeSession(plan({ target: { login: 'root', host: 'db2.example.com', port: 22 } }), { user: joe, now: now(), locks: [lock] }).allowed).toBe(true);
  });
});
