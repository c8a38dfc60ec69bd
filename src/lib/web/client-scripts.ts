/*
 * The pages' scripts, served as files from 'self' (the CSP allows no inline script). Plain ES2020
 * for current browsers, no build step: each is a few dozen lines over the player's and xterm's APIs.
 */

/** The player page: asciinema-player with #t= deep links, speed, and markers on the seek bar. */
export const PLAYER_JS = `
const el = document.getElementById('player');
const speedSel = document.getElementById('speed');
let player;
// #t=OFFSET (a search hit's or a marker's offset: 1m32.5s, 92.5s or 92.5) opens the recording at
// that moment, showing that frame (the poster) before play is pressed.
function startAt() {
  const m = /^#t=([0-9hms.]+)$/.exec(location.hash);
  if (!m) return 0;
  if (/^[0-9.]+$/.test(m[1])) return Number(m[1]) || 0;
  let total = 0;
  for (const [, n, u] of m[1].matchAll(/([0-9.]+)(h|m|s)/g)) total += Number(n) * (u === 'h' ? 3600 : u === 'm' ? 60 : 1);
  return total;
}
function create(speed) {
  if (player) player.dispose();
  el.innerHTML = '';
  // A hit's offset is the time of the event that drew the line; the player's frame at a time
  // holds the events before it, so open a few milliseconds later to include that event.
  const at = startAt() > 0 ? startAt() + 0.005 : 0;
  // Commands, file transfers and resizes as markers on the seek bar ([seconds, label]).
  const markers = JSON.parse(el.dataset.markers || '[]');
  // preload: the markers are drawn on the seek bar (they need the duration) before play is pressed.
  // The terminal size comes from the recording's header.
  player = AsciinemaPlayer.create(el.dataset.src, el, { speed, controls: true, fit: 'both', idleTimeLimit: undefined, markers, ...(markers.length > 0 || at > 0 ? { preload: true } : {}), ...(at > 0 ? { startAt: at, poster: 'npt:' + at } : {}) });
  // For tests and the curious: the player of this page.
  window.tollgatePlayer = player;
}
if (el.dataset.live) {
  // A running session: the player's eventsource driver paints the current screen, then follows.
  player = AsciinemaPlayer.create({ driver: 'eventsource', url: el.dataset.live }, el, { cols: Number(el.dataset.cols), rows: Number(el.dataset.rows), autoPlay: true, fit: 'both' });
  window.tollgatePlayer = player;
} else {
  create(1);
  speedSel.addEventListener('change', () => create(Number(speedSel.value)));
  // A marker in the lists below the player links to #t=OFFSET: open the player there.
  window.addEventListener('hashchange', () => create(Number(speedSel.value)));
}
`;

/**
 * The web terminal: xterm.js over a WebSocket. Binary frames carry the terminal's bytes both ways;
 * text frames carry JSON control messages (resize from here; exit from the server). The socket
 * URL holds the page's CSRF token: the server checks it against the CSRF cookie and the Origin.
 */
export const TERMINAL_JS = `
const box = document.getElementById('terminal');
const status = document.getElementById('term-status');
const term = new Terminal({ cursorBlink: true, fontFamily: 'monospace', fontSize: 14, scrollback: 5000 });
term.open(box);
// The cols and rows that fill the box, from the size of one character cell.
function fit() {
  const probe = document.createElement('span');
  probe.textContent = 'W'.repeat(50);
  probe.style.font = '14px monospace';
  probe.style.position = 'absolute';
  probe.style.visibility = 'hidden';
  document.body.appendChild(probe);
  const cw = probe.getBoundingClientRect().width / 50;
  const ch = probe.getBoundingClientRect().height;
  probe.remove();
  const cols = Math.max(20, Math.floor((box.clientWidth - 12) / cw));
  const rows = Math.max(5, Math.floor((box.clientHeight - 8) / ch));
  if (cols !== term.cols || rows !== term.rows) term.resize(cols, rows);
}
fit();
const url = new URL(box.dataset.ws, location.href);
url.protocol = 'wss:';
url.searchParams.set('cols', String(term.cols));
url.searchParams.set('rows', String(term.rows));
const ws = new WebSocket(url);
ws.binaryType = 'arraybuffer';
const enc = new TextEncoder();
ws.onopen = () => { status.textContent = 'Connected'; term.focus(); };
ws.onmessage = (ev) => {
  if (typeof ev.data === 'string') {
    const msg = JSON.parse(ev.data);
    if (msg.type === 'exit') status.textContent = 'Session ended' + (msg.status !== undefined && msg.status !== null ? ' (exit ' + msg.status + ')' : '');
    return;
  }
  term.write(new Uint8Array(ev.data));
};
ws.onclose = (ev) => { if (!/ended/.test(status.textContent)) status.textContent = 'Disconnected' + (ev.reason ? ': ' + ev.reason : ''); };
term.onData((d) => ws.readyState === 1 && ws.send(enc.encode(d)));
term.onBinary((d) => ws.readyState === 1 && ws.send(Uint8Array.from(d, (c) => c.charCodeAt(0))));
term.onResize(({ cols, rows }) => ws.readyState === 1 && ws.send(JSON.stringify({ type: 'resize', cols, rows })));
let pending;
window.addEventListener('resize', () => { clearTimeout(pending); pending = setTimeout(fit, 100); });
// For tests: the terminal of this page.
window.tollgateTerminal = term;
`;
