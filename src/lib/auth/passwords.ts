import { badParameter } from '../errors.js';

/*
 * Password hashing: argon2id with OWASP's recommended minimum (19 MiB, 2 iterations, 1 lane),
 * about 20-130 ms a hash here: slow for an attacker with a stolen store, fine for a login.
 */
const ARGON2 = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
export const PASSWORD_MIN_LENGTH = 12;
export const PASSWORD_MAX_LENGTH = 1024;

export function checkPasswordPolicy(password: string): void {
  if (password.length < PASSWORD_MIN_LENGTH) throw badParameter(`password must be at least ${PASSWORD_MIN_LENGTH} characters`, 'a passphrase of a few words is easiest');
  if (password.length > PASSWORD_MAX_LENGTH) throw badParameter(`password must be at most ${PASSWORD_MAX_LENGTH} characters`);
}

export async function hashPassword(password: string): Promise<string> {
  const { hash, Algorithm } = await import('@node-rs/argon2');
  return hash(password, { ...ARGON2, algorithm: Algorithm.Argon2id });
}

export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  const { verify } = await import('@node-rs/argon2');
  try {
    return await verify(hash, password);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | undefined;
/** Spends the time a real verification would, so unknown users cannot be told apart by timing. */
export async function burnPasswordCheck(password: string): Promise<void> {
  dummy ??= hashPassword('tollgate-dummy-password');
  await verifyPassword(await dummy, password);
}
