import fs from 'node:fs';

/*
 * Linux /proc readers for resource checks in tests: memory, open descriptors and the process
 * tree of a daemon or an sshd. Each returns what it can read now; a process that exits while it is
 * read simply drops out.
 */

/** Resident set size of `pid` in KiB (VmRSS in /proc/PID/status), or undefined once it is gone. */
export function rssKiB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Open file descriptors of `pid` (entries of /proc/PID/fd). */
export function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/** What each open descriptor of `pid` points at (`socket:[…]`, a path, `anon_inode:…`). */
export function fdTargets(pid: number): string[] {
  const out: string[] = [];
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      // closed while listing
    }
  }
  return out;
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** The command line, arguments joined with spaces (what ps shows; sshd rewrites its own). */
  cmdline: string;
}

/** Every process on the machine, with its parent and command line. */
export function processes(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');
      out.push({ pid: Number(e), ppid, cmdline });
    } catch {
      // exited while listing
    }
  }
  return out;
}

/** All descendants of `pid` (children, grandchildren, ...), parents before their children. */
export function descendants(pid: number, all: ProcInfo[] = processes()): ProcInfo[] {
  const out: ProcInfo[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    for (const c of all) {
      if (c.ppid === p) {
        out.push(c);
        queue.push(c.pid);
      }
    }
  }
  return out;
}

/**
 * `pid` and its ancestors up to the child of `root` (nearest first, `root` excluded), e.g. the
 * command, its shell and the sshd processes serving one connection under a listening sshd.
 * Empty when `root` is not an ancestor of `pid`.
 */
export function lineage(pid: number, root: number, all: ProcInfo[] = processes()): ProcInfo[] {
  const byPid = new Map(all.map((p) => [p.pid, p]));
  const out: ProcInfo[] = [];
  for (let cur = byPid.get(pid); cur; cur = byPid.get(cur.ppid)) {
    out.push(cur);
    if (cur.ppid === root) return out;
  }
  return [];
}

/** Whether `pid` is still a live process (gone, or a zombie waiting to be reaped, is not). */
export function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
