import https from 'node:https';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

/** HTTPS to a test daemon (its certificate is self-signed, so verification is off here only). */
export function httpsRequest(port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}, localAddress?: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, method, path, rejectUnauthorized: false, headers, timeout: 15_000, ...(localAddress ? { localAddress } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export const postJson = (port: number, path: string, body: unknown) =>
  httpsRequest(port, 'POST', path, JSON.stringify(body), { 'content-type': 'application/json' });

/** postJson from another loopback source address (127.0.0.0/8 binds without setup): a different client to the proxy's throttling. */
export const postJsonFrom = (localAddress: string, port: number, path: string, body: unknown) =>
  httpsRequest(port, 'POST', path, JSON.stringify(body), { 'content-type': 'application/json' }, localAddress);
