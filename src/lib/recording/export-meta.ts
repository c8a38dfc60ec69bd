import fs from 'node:fs';
import { castLineText, splitCastLines } from './cast-lines.js';
import type { HtmlExportMeta } from './html-export.js';
import type { SessionJson } from './session-json.js';
import type { VerifyResult } from './verify.js';

/** What a recording's own header says about it (a bare .cast has no session index row). */
function fromHeader(castFile: string): { title?: string; timestamp?: number } {
  const fd = fs.openSync(castFile, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const first = splitCastLines(buf.subarray(0, n))[0];
    return first ? (JSON.parse(castLineText(first)) as { title?: string; timestamp?: number }) : {};
  } catch {
    return {};
  } finally {
    fs.closeSync(fd);
  }
}

/** The HTML export's info panel: the session index row when there is one, else the recording's header title. */
export function exportMeta(id: string, castFile: string, session: SessionJson | undefined, verification: VerifyResult, now: number): HtmlExportMeta {
  const v = { status: verification.verdict, summary: verification.summary };
  if (session) {
    return {
      id,
      user: session.user,
      login: session.login,
      node: session.node,
      startedAt: Date.parse(session.started_at),
      endedAt: session.ended_at && session.end_reason !== 'interrupted' ? Date.parse(session.ended_at) : null,
      command: session.command,
      verification: v,
      generatedAt: now,
    };
  }
  const h = fromHeader(castFile);
  // The proxy titles recordings "USER as LOGIN@NODE[: COMMAND]".
  const m = /^(.+?) as (.+?)@(.+?)(?:: (.*))?$/.exec(h.title ?? '');
  return {
    id,
    user: m?.[1] ?? 'unknown',
    login: m?.[2] ?? 'unknown',
    node: m?.[3] ?? 'unknown',
    startedAt: typeof h.timestamp === 'number' ? h.timestamp * 1000 : 0,
    endedAt: null,
    command: m?.[4] ?? null,
    verification: v,
    generatedAt: now,
  };
}
