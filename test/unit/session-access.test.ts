import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSessionAccess } from '../../src/lib/web/session-access.js';
import { authFixture, type AuthFixture } from '../helpers/auth-fixture.js';
import { sessionRow } from '../helpers/sessions.js';

describe('recordings stay owned by the user who made them, not by the name', () => {
  let f: AuthFixture;
  beforeEach(async () => {
    f = await authFixture({ prefix: 'tollgate-access-' });
  });
  afterEach(() => f.close());

  it("a user re-created under a deleted user's name neither opens nor lists the old user's recordings; an auditor does", async () => {
    const access = createSessionAccess({ auth: f.auth, store: f.store });
    await f.auth.createUser({ name: 'joe', logins: ['root'] });
    const old = sessionRow('joe', f.clock.now().getTime() + 1000);
    await f.store.createSession(old);
    f.clock.advance(60_000);
    await f.auth.deleteUser('joe');
    await f.auth.createUser({ name: 'joe', logins: ['joe'] });
    f.clock.advance(1000);
    const mine = sessionRow('joe', f.clock.now().getTime());
    await f.store.createSession(mine);
    const joe = await f.auth.getUser('joe');

    await expect(access.visibleSession(joe, old.id, '127.0.0.1')).rejects.toThrow(/access denied: session .* of a previous user joe/);
    expect((await access.visibleSession(joe, mine.id, '127.0.0.1')).id).toBe(mine.id);
    const listed = await f.store.listSessions({ ...access.scope(joe, {}) });
    expect(listed.map((s) => s.id)).toEqual([mine.id]);
    expect(access.scope(joe, { user: 'amy', since: 5 })).toEqual({ user: 'joe', since: joe.createdAt });

    await f.auth.createUser({ name: 'eve', logins: ['eve'], roles: ['auditor'] });
    const eve = await f.auth.getUser('eve');
    expect((await access.visibleSession(eve, old.id, '127.0.0.1')).id).toBe(old.id);
    expect((await f.store.listSessions({ ...access.scope(eve, { user: 'joe' }) })).length).toBe(2);
    expect((await f.store.listEvents({ types: ['session.access_denied'] })).length).toBe(1);
  });
});
