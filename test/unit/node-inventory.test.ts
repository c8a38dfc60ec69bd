import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeInventory } from '../../src/lib/auth/inventory.js';
import { generateEd25519, parseCertificate, publicKeyLine } from '../../src/lib/ca/index.js';
import { nullLogger } from '../../src/lib/log.js';
import { authFixture, type AuthFixture } from '../helpers/auth-fixture.js';

describe('NodeInventory: joins, lookups, labels', () => {
  let f: AuthFixture;
  let inv: NodeInventory;
  beforeEach(async () => {
    f = await authFixture({ prefix: 'tollgate-inventory-' });
    inv = new NodeInventory({ store: f.store, auth: f.auth, clock: f.clock, log: nullLogger });
  });
  afterEach(() => f.close());

  const hostKey = () => publicKeyLine(generateEd25519().publicBlob);
  const req = (token: string, over: Partial<Parameters<NodeInventory['join']>[0]> = {}) => ({
    token,
    nodeName: 'node1',
    address: '10.0.0.5:22',
    labels: { env: 'staging' },
    hostPublicKey: hostKey(),
    hostnames: ['node1.example.com'],
    ...over,
  });
  const reasons = async () => (await f.store.listEvents({ types: ['node.join'] })).map((e) => (e.fields.success ? 'ok' : e.fields.reason));

  it('a join uses the token once, certifies the host key for its names, and registers the node', async () => {
    const { token } = await inv.createJoinToken(undefined);
    const r = req(token);
    const grant = await inv.join(r, '192.0.2.1');
    expect(grant.openSshCa).toBe(f.auth.exportCA('openssh'));
    const cert = parseCertificate(Buffer.from(grant.hostCertificate.split(' ')[1]!, 'base64'));
    expect(cert).toMatchObject({ type: 'host', principals: ['node1', '10.0.0.5', 'node1.example.com'] });
    expect(cert.signatureKey.equals(f.auth.ca('host').publicBlob)).toBe(true);
    expect(await inv.listNodes()).toEqual([expect.objectContaining({ name: 'node1', addr: '10.0.0.5:22', labels: { env: 'staging' }, host_key_fingerprint: expect.stringMatching(/^SHA256:/) })]);
    await expect(inv.join({ ...r, nodeName: 'node2', address: '10.0.0.6' }, '192.0.2.1')).rejects.toThrow(/join token was refused \(already used\)/);
    await expect(inv.join(req('nope', { nodeName: 'node3', address: '10.0.0.7' }), '192.0.2.1')).rejects.toThrow(/join token was refused \(not valid\)/);
    expect(await reasons()).toEqual(['unknown token', 'token already used', 'ok']);
  });

  it('expired tokens are refused; the TTL is bounded', async () => {
    const { token } = await inv.createJoinToken(60_000);
    f.clock.advance(60_001);
    await expect(inv.join(req(token), 'x')).rejects.toThrow(/\(expired\)/);
    await expect(inv.createJoinToken(25 * 3_600_000)).rejects.toThrow(/out of range/);
  });

  it('a join cannot take over another node: its name with another key, or a principal naming it', async () => {
    const first = req((await inv.createJoinToken(undefined)).token);
    await inv.join(first, 'x');
    const t2 = (await inv.createJoinToken(undefined)).token;
    await expect(inv.join(req(t2), 'x')).rejects.toThrow(/already registered with another host key/);
    await expect(inv.join(req(t2, { nodeName: 'evil', address: '10.0.0.9', hostnames: ['node1'] }), 'x')).rejects.toThrow(/would name node "node1"/);
    await expect(inv.join(req(t2, { nodeName: 'evil', address: '10.0.0.5:2222' }), 'x')).rejects.toThrow(/would name node "node1"/);
    // Refusals before the token is spent leave it usable; the same host key re-joins (renewal).
    await inv.join({ ...first, token: t2, labels: { env: 'prod' } }, 'x');
    expect((await f.store.getNode('node1'))!.labels).toEqual({ env: 'prod' });
  });

  it("a host certificate never names the proxy, and a node name never shadows a DNS name or address", async () => {
    const guarded = new NodeInventory({ store: f.store, auth: f.auth, clock: f.clock, log: nullLogger, reservedNames: ['proxy.example.test', 'localhost', '127.0.0.1'] });
    const t = (await guarded.createJoinToken(undefined)).token;
    for (const bad of ['db.example.com', '10.0.0.9', '1234']) {
      await expect(guarded.join(req(t, { nodeName: bad }), 'x'), bad).rejects.toThrow(/invalid node name/);
    }
    await expect(guarded.join(req(t, { nodeName: 'localhost' }), 'x')).rejects.toThrow(/one of the proxy's names/);
    const grant = await guarded.join(req(t, { address: '127.0.0.1:2222', hostnames: ['proxy.example.test', 'node1.example.com'] }), 'x');
    const cert = parseCertificate(Buffer.from(grant.hostCertificate.split(' ')[1]!, 'base64'));
    expect(cert.principals).toEqual(['node1', 'node1.example.com']);
  });

  it('without a usable token a caller learns nothing of the inventory', async () => {
    await inv.join(req((await inv.createJoinToken(undefined)).token), 'x');
    await expect(inv.join(req('no-such-token'), 'x')).rejects.toThrow(/^the join token was refused \(not valid\)$/);
  });

  it('finds registered targets by name (default or registered port) and by exact address', async () => {
    await inv.addNode({ name: 'db1', addr: '10.0.0.8:2222', labels: 'team=db' });
    expect((await inv.findNode('db1', 22))?.name).toBe('db1');
    expect((await inv.findNode('db1', 2222))?.name).toBe('db1');
    expect(await inv.findNode('db1', 2200)).toBeUndefined();
    expect((await inv.findNode('10.0.0.8', 2222))?.name).toBe('db1');
    expect(await inv.findNode('10.0.0.8', 22)).toBeUndefined();
    await f.auth.createUser({ name: 'bob', logins: 'bob', nodeLabels: 'team=web' });
    await f.auth.createUser({ name: 'eve', logins: 'eve', nodeLabels: 'team=db,team=web' });
    expect(await inv.nodesFor('bob')).toEqual([]);
    expect((await inv.nodesFor('eve')).map((n) => n.name)).toEqual(['db1']);
    expect(await inv.nodesFor('ghost')).toEqual([]);
  });
});
