import fs from 'node:fs';
import path from 'node:path';
import { badParameter, conflict } from '../errors.js';
import { writeFileAtomic } from '../fs/index.js';
import type { Logger } from '../log.js';
import type { NodeFiles } from './node-files.js';
import { configArg, dropInFiles, managedLines, otherTrustedCaLines, removeBlock, renderDropIn, snippetLines, upsertBlock } from './sshd-config.js';
import { DEFAULT_SSHD, sshdEffective, sshdTest, type EffectiveConfig } from './sshd-control.js';

/** Drop-ins hold no secret and sit beside the distribution's own 0644 ones. */
const DROP_IN_MODE = 0o644;

export interface ConfigureSshdOptions {
  sshd: string | undefined;
  /** The real (symlink-resolved) main config path. */
  configPath: string;
  /** The drop-in to write, when the main config includes a matching directory. */
  dropIn: string | undefined;
  files: NodeFiles;
  log: Logger;
}

function readIfExists(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Puts tollgate's lines into the sshd config and proves sshd takes them: `sshd -t` accepts the
 * config and `sshd -T` shows our TrustedUserCAKeys in effect. Any failure puts the previous
 * files back byte for byte (a new drop-in is removed) and throws with sshd's message. Returns
 * the human steps.
 *
 * Host keys: a config with no HostKey line makes sshd load its default keys; adding ours would
 * silently drop them and break every client's known_hosts entry for this node. So the keys sshd
 * used before are kept, listed before ours (clients asking for a plain key still get the old
 * one; those asking for a certificate get ours).
 */
export async function configureSshd(o: ConfigureSshdOptions): Promise<string[]> {
  const sshd = o.sshd ?? DEFAULT_SSHD;
  const { configPath, dropIn, files } = o;
  const mainBefore = fs.readFileSync(configPath);
  const mainMode = fs.statSync(configPath).mode & 0o7777;
  const dropInBefore = dropIn ? readIfExists(dropIn) : undefined;
  const dropInMode = dropIn && dropInBefore ? fs.statSync(dropIn).mode & 0o7777 : DROP_IN_MODE;
  const mainText = mainBefore.toString('utf8');
  const existing = dropIn ? (dropInBefore ? managedLines(dropInBefore.toString('utf8'), true) : undefined) : managedLines(mainText, false);
  const ours = `HostKey ${configArg(files.hostKey)}`;
  let preserved = (existing ?? []).filter((l) => /^HostKey\s/i.test(l) && l !== ours).map((l) => l.replace(/^HostKey\s+/i, '').replace(/^"(.*)"$/, '$1'));

  const baseline = await sshdEffective(sshd, configPath);
  const keysBefore = baseline instanceof Map ? (baseline.get('hostkey') ?? []).filter((k) => k !== files.hostKey) : [];
  if (typeof baseline === 'string') o.log.warn('the current sshd config does not pass sshd -T; its host keys cannot be carried over', { error: baseline });

  const restore = () => {
    if (!fs.readFileSync(configPath).equals(mainBefore)) writeFileAtomic(configPath, mainBefore, { mode: mainMode, overwrite: true });
    if (dropIn && dropInBefore === undefined) fs.rmSync(dropIn, { force: true });
    else if (dropIn && dropInBefore && !readIfExists(dropIn)?.equals(dropInBefore)) writeFileAtomic(dropIn, dropInBefore, { mode: dropInMode, overwrite: true });
  };

  const apply = () => {
    const lines = snippetLines(files, preserved);
    if (dropIn) {
      const text = renderDropIn(lines);
      if (dropInBefore?.toString('utf8') !== text) writeFileAtomic(dropIn, text, { mode: dropInMode, overwrite: true });
      const main = removeBlock(mainText);
      if (main !== mainText) writeFileAtomic(configPath, main, { mode: mainMode, overwrite: true });
    } else {
      const main = upsertBlock(mainText, lines);
      if (main !== mainText) writeFileAtomic(configPath, main, { mode: mainMode, overwrite: true });
    }
  };

  /** Runs both checks; the effective config, or throws after restoring. */
  const check = async (): Promise<EffectiveConfig> => {
    const failed = (await sshdTest(sshd, configPath)) ?? (await sshdEffective(sshd, configPath));
    if (!(failed instanceof Map)) {
      restore();
      throw badParameter(
        `sshd rejects the config with tollgate's lines: ${failed}`,
        `the previous config is back in place; fix what sshd names so that sshd -t -f ${configPath} passes, then run teleport join openssh again (no new token needed)`,
      );
    }
    return failed;
  };

  let effective: EffectiveConfig;
  try {
    apply();
    effective = await check();
    const lost = keysBefore.filter((k) => !(effective.get('hostkey') ?? []).includes(k) && !preserved.includes(k));
    if (lost.length > 0) {
      preserved = [...preserved, ...lost];
      apply();
      effective = await check();
    }
  } catch (err) {
    restore();
    throw err;
  }
  const trusted = effective.get('trustedusercakeys')?.[0];
  if (trusted !== files.caFile) {
    restore();
    const sources = [configPath, ...(dropIn ? dropInFiles(path.dirname(dropIn)) : [])];
    const where = otherTrustedCaLines(sources, files.caFile)[0] ?? `TrustedUserCAKeys ${trusted ?? 'none'} (set before tollgate's lines)`;
    throw conflict(
      `sshd would keep its own user CA, not tollgate's OpenSSH CA: ${where}`,
      'sshd uses only the first TrustedUserCAKeys: remove or comment out that line (the CA it names is then no longer trusted), then run teleport join openssh again',
    );
  }

  const steps: string[] = [];
  const mainNow = fs.readFileSync(configPath);
  if (dropIn) {
    const now = readIfExists(dropIn);
    if (dropInBefore === undefined) steps.push(`sshd_config: added a drop-in ${dropIn}`);
    else if (!now?.equals(dropInBefore)) steps.push(`sshd_config: updated the drop-in ${dropIn}`);
    if (!mainNow.equals(mainBefore)) steps.push(`sshd_config: removed the old tollgate block from ${configPath} (the drop-in replaces it)`);
  } else if (!mainNow.equals(mainBefore)) {
    steps.push(existing ? `sshd_config: replaced the tollgate block in ${configPath}` : `sshd_config: added the tollgate block to ${configPath}`);
  }
  if (preserved.length > 0) steps.push(`sshd_config: kept sshd's host keys ${preserved.join(', ')} before tollgate's`);
  steps.push('sshd -t: ok');
  return steps;
}
