/** TOTP (RFC 6238, 30 s steps, 6 digits, SHA-1) as authenticator apps expect, via otplib. */
export async function newOtpSecret(): Promise<string> {
  const { generateSecret } = await import('otplib');
  return generateSecret();
}

export async function otpUri(secret: string, user: string, issuer: string): Promise<string> {
  const { generateURI } = await import('otplib');
  return generateURI({ issuer, label: user, secret });
}

/**
 * The 30-second step `code` belongs to when it is valid now (one step of clock drift either way),
 * else null. Callers remember the last step used so a code cannot be replayed.
 */
export async function verifyOtp(secret: string, code: string): Promise<number | null> {
  if (!/^\d{6}$/.test(code)) return null;
  const { verify } = await import('otplib');
  const r = await verify({ secret, token: code, epochTolerance: 30 });
  // `epoch` is the start of the period the code matched (RFC 6238 step = epoch / 30).
  return r.valid ? Math.floor((r as { epoch: number }).epoch / 30) : null;
}

/** The current code (tests, and nothing else, compute codes this way). */
export async function currentOtp(secret: string): Promise<string> {
  const { generate } = await import('otplib');
  return generate({ secret });
}
