import fs from 'node:fs';
import os from 'node:os';

/**
 * Lowers the calling thread's CPU priority (nice `niceness`) where the OS allows it per thread
 * (Linux: a thread is a task with its own id, `/proc/thread-self`). For best-effort work that
 * skips rather than waits when it falls behind (the search index writer), so on a saturated
 * machine the relays and the recorder get the cores first. Returns false where it cannot.
 */
export function lowerThreadPriority(niceness = 10): boolean {
  try {
    const tid = Number(path(fs.readlinkSync('/proc/thread-self')));
    if (!Number.isInteger(tid) || tid <= 0) return false;
    os.setPriority(tid, Math.max(os.getPriority(tid), niceness));
    return true;
  } catch {
    return false;
  }
}

/** "PID/task/TID" → "TID". */
function path(link: string): string {
  return link.slice(link.lastIndexOf('/') + 1);
}
