import fs from 'node:fs';
import readline from 'node:readline';
import type { Hono } from 'hono';
import { html } from 'hono/html';
import { AuditEvents } from '../audit/index.js';
import { formatDuration, formatOffset } from '../duration.js';
import { accessDenied, isTollgateError } from '../errors.js';
import { sealedOf, verifyRecording, type VerifyResult } from '../recording/index.js';
import type { AuditEvent, SessionRecord } from '../store/index.js';
import { layout } from './pages.js';
import { checkCsrf, clientAddr, csrfToken, pageNav, webUser, type Env, type UiContext } from './web-session.js';

/** Markers past this many per kind are left off the seek bar (a resize storm would hide the rest). */
const MAX_MARKERS = 500;
/** Audit events of one session shown below the player. */
const MAX_SESSION_EVENTS = 1000;

interface Marker {
  ms: number;
  kind: 'command' | 'file' | 'resize';
  label: string;
}

/** Resize events of the recording, read from the .cast as it streams (asciicast v2 "r" events). */
async function resizeMarkers(castFile: string): Promise<Marker[]> {
  const out: Marker[] = [];
  const lines = readline.createInterface({ input: fs.createReadStream(castFile, 'utf8'), crlfDelay: Infinity });
  let first = true;
  for await (const line of lines) {
    if (first) {
      first = false;
      continue;
    }
    // Cheap test before JSON: most lines are output.
    if (!line.includes('"r"')) continue;
    try {
      const e = JSON.parse(line) as [number, string, string];
      if (e[1] === 'r') out.push({ ms: Math.round(e[0] * 1000), kind: 'resize', label: `resize ${e[2]}` });
    } catch {
      // a torn last line (a crash) is not a marker
    }
    if (out.length >= MAX_MARKERS) break;
  }
  lines.close();
  return out;
}

/** A marker in the lists below the player: a #t= link that opens the player there. */
function markerItem(m: Marker) {
  return html`<li class="marker-${m.kind}"><a href="#t=${formatOffset(m.ms)}">${formatOffset(m.ms)}</a> <span class="badge">${m.kind}</span> <code>${m.label}</code></li>`;
}

function fileLabel(e: AuditEvent): string {
  const f = e.fields;
  const op = typeof f.op === 'string' ? f.op : typeof f.action === 'string' ? f.action : 'file';
  const p = typeof f.path === 'string' ? f.path : '';
  return `${op} ${p}`.trim();
}

/** The player page: metadata, the server's verification verdict, markers, downloads, audit events. */
export function mountPlayerPage(app: Hono<Env>, o: UiContext): void {
  app.get('/web/sessions/:id', async (c) => {
    const user = await webUser(c, o.login);
    if (!user) return c.redirect('/web/login', 303);
    const nav = pageNav(c, user, 'sessions', o.access);
    const id = c.req.param('id');
    let s: SessionRecord;
    try {
      s = await o.access.visibleSession(user, id, clientAddr(c));
    } catch (err) {
      // Someone else's recording looks like a missing one (the refusal is audited all the same).
      if (isTollgateError(err) && (err.kind === 'not-found' || err.kind === 'access-denied')) {
        return c.html(layout('Not found', html`<h1>No such recording</h1><p class="error" id="error">There is no recording ${id} that you may see.</p>`, { nav }), 404);
      }
      throw err;
    }
    const head = html`<link rel="stylesheet" href="/web/assets/asciinema-player.css">`;
    if (s.endedAt === null && o.live !== undefined) {
      return c.html(
        layout(
          `Live session ${s.id}`,
          html`<h1><span class="live" id="live">live</span> ${s.user} as ${s.login}@${s.node}</h1>
<p class="muted">${new Date(s.startedAt).toISOString()} · ${s.kind}${s.command ? html` · <code>${s.command}</code>` : ''}</p>
${o.access.isAuditor(user)
  ? html`<form method="post" action="/web/sessions/${s.id}/end" id="end-session" class="bar"><input type="hidden" name="csrf" value="${csrfToken(c)}"><div><label for="end-message">Message</label><input id="end-message" name="message" maxlength="1024"></div><button type="submit" id="end">End session</button></form>`
  : ''}
<div id="player" data-live="/webapi/sessions/${s.id}/live" data-cols="80" data-rows="24"></div>
<script src="/web/assets/asciinema-player.min.js"></script>
<script src="/web/assets/player.js"></script>`,
          { nav, head },
        ),
      );
    }

    // The verdict, computed here with the cluster's recording key (as tctl recordings verify does).
    let verification: VerifyResult | undefined;
    let resizes: Marker[] = [];
    const local = await o.recordings.storage.materialize(s.id);
    if (local) {
      try {
        const signer = o.auth.recordingSigner;
        verification = await verifyRecording({ castFile: local.castFile, session: s.id, publicBlob: signer.publicBlob, namespace: signer.namespace, expectIntegrity: true, sealed: sealedOf(s) });
        resizes = await resizeMarkers(local.castFile);
      } finally {
        local.cleanup();
      }
    }
    // The session's audit events: the owner's events in its time span that name it.
    const events = (
      await o.store.listEvents({ user: s.user, since: s.startedAt - 1000, until: (s.endedAt ?? Date.now()) + 5000, limit: MAX_SESSION_EVENTS })
    )
      .filter((e) => e.fields.sid === s.id)
      .sort((a, b) => a.time - b.time);
    const commands: Marker[] = events
      .filter((e) => e.event === AuditEvents.sessionCommand && typeof e.fields.offset_ms === 'number' && typeof e.fields.command === 'string')
      .map((e) => ({ ms: e.fields.offset_ms as number, kind: 'command' as const, label: e.fields.command as string }));
    const files: Marker[] = events
      .filter((e) => e.event === AuditEvents.sftp)
      .map((e) => ({ ms: typeof e.fields.offset_ms === 'number' ? e.fields.offset_ms : Math.max(0, e.time - s.startedAt), kind: 'file' as const, label: fileLabel(e) }));
    const markers = [...commands.slice(0, MAX_MARKERS), ...files.slice(0, MAX_MARKERS), ...resizes].sort((a, b) => a.ms - b.ms);
    const markerJson = JSON.stringify(markers.map((m) => [m.ms / 1000, m.kind === 'command' ? `$ ${m.label}` : m.label]));
    const verdict = verification?.verdict ?? 'incomplete';
    const exit = s.endReason === 'interrupted' ? 'interrupted' : String(s.exitStatus ?? s.exitSignal ?? '—');
    const meta = (label: string, value: unknown, idAttr: string) => html`<div><dt>${label}</dt><dd id="${idAttr}">${String(value)}</dd></div>`;
    return c.html(
      layout(
        `Session ${s.id}`,
        html`<h1>${s.user} as ${s.login}@${s.node}</h1>
<p><span class="verdict verdict-${verdict}" id="verdict">${verdict}</span> <span class="muted" id="verdict-summary">${verification?.summary ?? 'the recording is missing from storage'}</span></p>
<div id="player" data-src="/webapi/sessions/${s.id}/stream" data-markers="${markerJson}"></div>
<form class="bar" aria-label="Playback"><div><label for="speed">Speed</label><select id="speed"><option value="0.5">0.5×</option><option value="1" selected>1×</option><option value="2">2×</option><option value="4">4×</option><option value="8">8×</option></select></div>
<a class="button" id="download" href="/webapi/sessions/${s.id}/stream" download="${s.id}.cast">Download .cast</a> <a class="button" id="download-html" href="/webapi/sessions/${s.id}/export.html" download="tollgate-${s.id}.html">Download HTML</a></form>
<dl class="meta">
${meta('User', s.user, 'm-user')}${meta('Login', s.login, 'm-login')}${meta('Node', s.node, 'm-node')}${meta('Client address', s.clientAddr, 'm-addr')}
${meta('Started', new Date(s.startedAt).toISOString(), 'm-start')}${meta('Duration', s.endedAt ? formatDuration(s.endedAt - s.startedAt) : 'running', 'm-duration')}
${meta('Exit', exit, 'm-exit')}${meta('Bytes in / out', `${s.bytesIn} / ${s.bytesOut}`, 'm-bytes')}${meta('Kind', s.kind, 'm-kind')}
</dl>
${s.command ? html`<details class="cmd"><summary>Command: <code>${s.command.slice(0, 120)}</code></summary><pre><code id="m-command">${s.command}</code></pre></details>` : ''}
${commands.length ? html`<h2>Commands</h2><ol id="commands" class="events">${commands.map(markerItem)}</ol>` : ''}
${files.length + resizes.length ? html`<h2>File transfers and resizes</h2><ol id="other-markers" class="events">${[...files, ...resizes].sort((a, b) => a.ms - b.ms).map(markerItem)}</ol>` : ''}
<h2>Audit events</h2>
<ol id="session-events" class="events">${events.map((e) => html`<li><time>${new Date(e.time).toISOString()}</time> <strong>${e.event}</strong> <span class="muted">${JSON.stringify(e.fields)}</span></li>`)}</ol>
<script src="/web/assets/asciinema-player.min.js"></script>
<script src="/web/assets/player.js"></script>`,
        { nav, head },
      ),
    );
  });

  // The auditors' button on a live session's page: ends it with the message for every participant.
  app.post('/web/sessions/:id/end', async (c) => {
    const user = await webUser(c, o.login);
    if (!user) return c.redirect('/web/login', 303);
    const form = await c.req.parseBody();
    checkCsrf(c, form);
    if (!o.access.isAuditor(user)) {
      await o.access.visibleSession(user, c.req.param('id'), clientAddr(c));
      throw accessDenied('only auditors may end sessions', 'ask an administrator: tctl sessions end ID');
    }
    if (!o.live) throw accessDenied('this proxy serves no live sessions');
    const message = typeof form.message === 'string' ? form.message.slice(0, 1024) : '';
    await o.live.end(c.req.param('id'), message, `web:${user.name}`);
    return c.redirect(`/web/sessions/${c.req.param('id')}`, 303);
  });
}
