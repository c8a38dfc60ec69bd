/** The ca part's public surface: what other folders may use. */
export { encodeKrl, type KrlSpec } from './krl.js';
export { type CAType, CertAuthority, CLOCK_SKEW_MS, type HostCertRequest, type IssuedCert, sessionCertKeyId, type SessionCertRequest, USER_CERT_EXTENSIONS, type UserCertRequest } from './cert-authority.js';
export { CERT_FOREVER, type CertCheck, type CertificateFields, certificateLine, type CertType, checkCertificate, ED25519_CERT, encodeToBeSigned, parseCertificate, type ParsedCertificate, signCertificate, verifyCertificateSignature } from './certificate.js';
export { ED25519, ed25519Blob, type Ed25519KeyPair, fingerprint, generateEd25519, parsePrivateKeyText, parsePublicKeyLine, privateKeyFromPem, privateKeyToOpenSSH, privateKeyToPem, publicKeyFromBlob, publicKeyLine, rawEd25519Public } from './keys.js';
export { allowedSignersLine, signSshsig, verifySshsig } from './sshsig.js';
