import { formatHostPort } from '../address.js';
import { badParameter, TollgateError } from '../errors.js';
import { parseProxyAddress, type Profile } from '../profile/index.js';
import { parseTlsPin } from '../tls-pin.js';
import { WebClient, type TlsProbe } from './web-client.js';

/*
 * How tsh decides to trust a proxy's HTTPS certificate, as ssh decides about host keys:
 *   1. --fingerprint=sha256:HEX names the key: it must be the one presented (no prompt, no TTY needed).
 *   2. A profile for this address holds a pin: the key must match it; a different key is refused
 *      whatever else was asked (--insecure included) until --fingerprint names the new one.
 *   3. A certificate that verifies (trusted CA, right name) is used with the usual checks; nothing pinned.
 *   4. --insecure: this login goes on without verification, and the key it saw is pinned, so the
 *      flag itself is never saved and later requests are not blind.
 *   5. A terminal: the pin is shown and the user is asked (compare with `tctl status`).
 *   6. Otherwise refused, with the pin to check.
 */
export interface TrustDecision {
  /** The pin every request checks before it sends anything; undefined = ordinary CA verification. */
  pin: string | undefined;
  how: 'fingerprint' | 'profile' | 'ca' | 'insecure' | 'confirmed';
}

export interface TrustInput {
  where: string;
  probe: TlsProbe;
  fingerprint?: string;
  knownPin?: string;
  insecure: boolean;
  /** Asks the user to trust the key (a TTY prompt); absent when there is no terminal. */
  confirm?: (pin: string, reason: string) => Promise<boolean>;
}

/** ssh's "REMOTE HOST IDENTIFICATION HAS CHANGED", for the proxy's TLS key. */
export function changedKeyError(where: string, expected: string, got: string): TollgateError {
  return new TollgateError('access-denied', `the proxy at ${where} presented a different TLS key than the one pinned at login (pinned ${expected}, now ${got}): someone may be intercepting the connection`, {
    hint: `if the proxy's certificate was replaced on purpose, check the new pin with tctl status and run: tsh login --proxy=${where} --fingerprint=${got}`,
  });
}

export async function decideTrust(t: TrustInput): Promise<TrustDecision> {
  const got = t.probe.pin;
  if (t.fingerprint !== undefined) {
    const want = parseTlsPin(t.fingerprint);
    if (!want) throw badParameter(`--fingerprint ${t.fingerprint}: not a pin`, 'write --fingerprint=sha256:HEX as tctl status prints it');
    if (want !== got) {
      throw new TollgateError('access-denied', `the proxy at ${t.where} presented TLS key ${got}, not the --fingerprint given: someone may be intercepting the connection`, {
        hint: 'compare with the pin tctl status prints on the proxy',
      });
    }
    return { pin: want, how: 'fingerprint' };
  }
  if (t.knownPin !== undefined) {
    if (t.knownPin !== got) throw changedKeyError(t.where, t.knownPin, got);
    return { pin: got, how: 'profile' };
  }
  if (t.probe.verified) return { pin: undefined, how: 'ca' };
  if (t.insecure) return { pin: got, how: 'insecure' };
  const reason = t.probe.reason ?? 'not verified';
  if (t.confirm) {
    if (await t.confirm(got, reason)) return { pin: got, how: 'confirmed' };
    throw new TollgateError('access-denied', `the proxy at ${t.where} is not trusted (you declined its key ${got})`, { hint: 'compare the pin with tctl status on the proxy' });
  }
  throw new TollgateError('access-denied', `the proxy's TLS certificate at ${t.where} is not trusted (${reason}); its key's pin is ${got}`, {
    hint: `check it against tctl status on the proxy, then run tsh login --fingerprint=${got} (or log in at a terminal to be asked)`,
  });
}

/**
 * The web client for a saved profile: pinned when the profile holds a pin (the key is checked on
 * every connection before anything is sent), CA-verified otherwise. A profile an older tsh saved
 * with `insecure: true` and no pin is refused rather than silently trusting any key.
 */
export function profileWebClient(p: Profile): WebClient {
  const proxy = parseProxyAddress(p.web_proxy_addr);
  if (p.legacy_insecure && !p.tls_pin) {
    throw new TollgateError('access-denied', `the profile for ${p.web_proxy_addr} was saved with --insecure by an older tsh, which trusted any proxy key`, {
      hint: `log in again: tsh login --proxy=${p.web_proxy_addr} (it shows the proxy's pin to check, or takes --fingerprint)`,
    });
  }
  const where = formatHostPort(proxy);
  return new WebClient(proxy, false, p.token, p.tls_pin, p.tls_pin ? (got) => changedKeyError(where, p.tls_pin!, got) : undefined);
}
