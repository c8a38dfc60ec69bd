import crypto from 'node:crypto';

/** SHA-256 of a secret token, hex: what the store keeps of signup, join and web session tokens. */
export const hashToken = (token: string): string => crypto.createHash('sha256').update(token).digest('hex');
