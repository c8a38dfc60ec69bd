import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/lib/config/index.js';
import { planReload } from '../../src/lib/reload.js';
import { errorOf } from '../helpers/errors.js';

const load = (yaml: string, extra: Parameters<typeof loadConfig>[0] = {}) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-cfg-'));
  const file = path.join(dir, 'teleport.yaml');
  fs.writeFileSync(file, yaml);
  return loadConfig({ configFile: file, hostname: 'box', systemConfigFile: '/nonexistent', dataDir: dir, ...extra });
};

describe('teleport.workers', () => {
  it('defaults to auto: one worker per core', () => {
    expect(load('', { cores: 6 })).toMatchObject({ workers: 6, workersAuto: true });
    expect(load('', { cores: 1 })).toMatchObject({ workers: 1, workersAuto: true });
    expect(load('', { cores: 200 }).workers).toBe(64);
    expect(load('').workers).toBe(os.availableParallelism());
  });

  it('a count or auto in the file; --workers wins over it', () => {
    expect(load('teleport:\n  workers: 3\n', { cores: 8 })).toMatchObject({ workers: 3, workersAuto: false });
    expect(load('teleport:\n  workers: auto\n', { cores: 8 })).toMatchObject({ workers: 8, workersAuto: true });
    expect(load('teleport:\n  workers: 3\n', { workers: '1' })).toMatchObject({ workers: 1, workersAuto: false });
    expect(load('teleport:\n  workers: 3\n', { workers: 'auto', cores: 2 })).toMatchObject({ workers: 2, workersAuto: true });
  });

  it.each([['0'], ['65'], ['1.5'], ['"two"'], ['-1'], ['yes']])('refuses workers: %s with the key, the range and a hint', (v) => {
    const e = errorOf(() => load(`teleport:\n  workers: ${v}\n`));
    expect(e.message).toMatch(/\.yaml:2: teleport\.workers: must be auto or a whole number from 1 to 64/);
    expect(e.message.split('\n')).toHaveLength(1);
    expect(e.hint).toBeTruthy();
  });

  it.each([
    ['yes', 'not yes (YAML 1.1 reads yes/no/on/off as true/false)'],
    ['"two"', 'not "two"'],
    ['"64"', 'not "64" (a string: write the number without quotes)'],
  ])('says what was wrong with workers: %s', (v, said) => {
    expect(errorOf(() => load(`teleport:\n  workers: ${v}\n`)).message).toContain(said);
  });

  it.each([['0'], ['many'], ['2.5'], ['']])('refuses --workers=%s', (v) => {
    const e = errorOf(() => load('', { workers: v }));
    expect(e.message).toContain('--workers: must be auto or a whole number from 1 to 64');
    expect(e.hint).toContain('--workers=1');
  });

  it('a change of workers needs a restart', () => {
    const running = load('teleport:\n  workers: 2\n');
    expect(planReload(running, { ...running, workers: 4 }).restart).toEqual(['teleport.workers']);
    expect(planReload(running, { ...running, workersAuto: true }).restart).toEqual(['teleport.workers']);
    expect(planReload(running, running).restart).toEqual([]);
  });
});
