import fs from 'node:fs';

/** The parts of a V8 `.cpuprofile` (what `node --cpu-prof` writes) that self time needs. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  /** Function, file (relative to node_modules or the package) and line. */
  name: string;
  ms: number;
  /** Percent of all sampled time, idle included. */
  share: number;
}

/**
 * The functions with the most self time in a CPU profile, by function and source location:
 * each sample's interval (the next time delta) goes to the node it landed in.
 */
export function topSelfTime(file: string, n: number): SelfTime[] {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const nameOf = new Map<number, string>();
  for (const node of p.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? ` ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(dist|src)\//, '$1/')}:${lineNumber + 1}` : '';
    nameOf.set(node.id, `${functionName || '(anonymous)'}${where}`);
  }
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    total += dt;
    const name = nameOf.get(p.samples[i]!) ?? '?';
    self.set(name, (self.get(name) ?? 0) + dt);
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, ms]) => ({ name, ms, share: (100 * ms) / total }));
}
