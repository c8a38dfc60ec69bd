/** TOTP (RFC 6238, 30 s steps, 6 digits, SHA-1) as authenticator apps expect, via otplib. */
export async function newOtpSecret(): Promise<string> {
  const { generateSecret } = await import('otplib');
  return generateSecret();
}

export async function otpUri(secret: string, user: string, issuer: string): Promise<string> {
  const { generateURI } = await import('otplib');
  return generateURI({ issuer, label: user, secret });
}

/** True when `code` is valid now, allowing one step of clock drift either way. */
export async function verifyOtp(secret: string, code: string): Promise<boolean> {
  if (!/^\d{6}$/.test(code)) return false;
  const { verify } = await import('otplib');
  const r = await verify({ secret, token: code, epochTolerance: 30 });
  return r.valid;
}

/** The current code (tests, and nothing else, compute codes this way). */
export async function currentOtp(secret: string): Promise<string> {
  const { generate } = await import('otplib');
  return generate({ secret });
}
