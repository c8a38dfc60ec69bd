import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * A worker thread's script beside its host module, when it is built (dist/); undefined when the
 * host runs from the sources (unit tests), where its work then stays in the calling thread.
 */
export function builtWorkerScript(script: URL): URL | undefined {
  return fs.existsSync(fileURLToPath(script)) ? script : undefined;
}
