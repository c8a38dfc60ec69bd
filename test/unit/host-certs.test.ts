import { describe, expect, it } from 'vitest';
import { CertAuthority } from '../../src/lib/ca/cert-authority.js';
import { parseCertificate } from '../../src/lib/ca/certificate.js';
import { FakeClock } from '../../src/lib/clock.js';
import { HostCertificates } from '../../src/lib/proxy/host-certs.js';

describe('proxy host certificates', () => {
  it('renews the proxy certificate in place before it expires', async () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const certs = new HostCertificates(CertAuthority.generate('host'), clock);
    const [entry] = certs.forProxy(['proxy.example.test', 'localhost'], 50);
    const key = entry!.key as unknown as { getPublicSSH(): Buffer };
    const first = parseCertificate(key.getPublicSSH());
    expect(first.principals).toEqual(['proxy.example.test', 'localhost']);
    clock.advance(6 * 24 * 3_600_000);
    await new Promise((r) => setTimeout(r, 120));
    const renewed = parseCertificate(key.getPublicSSH());
    expect(renewed.validBefore).toBeGreaterThan(first.validBefore);
    certs.close();
  });

  it('node certificates name exactly the dialled host and are reused for an hour', () => {
    const clock = new FakeClock();
    const certs = new HostCertificates(CertAuthority.generate('host'), clock);
    const a = certs.forNode('node1.example.test');
    expect(certs.forNode('node1.example.test')).toBe(a);
    expect(parseCertificate((a[0]!.key as unknown as { getPublicSSH(): Buffer }).getPublicSSH()).principals).toEqual(['node1.example.test']);
    clock.advance(3_600_001);
    expect(certs.forNode('node1.example.test')).not.toBe(a);
  });
});
