/*
 * Escape-sequence strings a recorded user must not be able to send to an auditor's terminal
 * through `tsh play`: they set the clipboard (OSC 52), the window title and icon (OSC 0/1/2),
 * hyperlinks and notifications (OSC 8/9/777), query or reprogram the terminal (DCS, e.g. DECRQSS,
 * tmux passthrough), or carry application data (APC, PM, SOS). ECMA-48 §5.6 / xterm's ctlseqs:
 *   OSC  ESC ]  (or C1 0x9d)  ... terminated by BEL (0x07) or ST
 *   DCS  ESC P  (or C1 0x90)  ... terminated by ST
 *   SOS  ESC X  (or C1 0x98)  ... terminated by ST
 *   PM   ESC ^  (or C1 0x9e)  ... terminated by ST
 *   APC  ESC _  (or C1 0x9f)  ... terminated by ST
 *   ST = ESC \  (or C1 0x9c); CAN (0x18) and SUB (0x1a) abort a string, as in xterm.
 * Everything else (CSI colours and cursor movement, plain text) passes, so replays look the
 * same. Recordings are decoded text, so the C1 controls arrive as U+0080..U+009F.
 */

const ESC = '\u001b';
/** Characters that open a string after ESC (their C1 forms are in TEXT_STOP). */
const OPENERS_7BIT = new Set([']', 'P', 'X', '^', '_']);

/**
 * The longest string this filter swallows. A string left open would otherwise hide the rest of
 * the session from the auditor: past this, the filter gives up on it, says so in the output and
 * shows what follows.
 */
export const MAX_FILTERED_STRING = 64 * 1024;

type State = 'text' | 'esc' | 'string' | 'string-esc';

/** How ESC and the C1 controls can appear in a `.cast` line's bytes (JSON-escaped, or C1 as raw UTF-8). */
const JSON_CONTROL_PATTERNS = ['\\u001b', '\\u001B', '\\u008', '\\u009'];

/**
 * Whether `.cast` bytes could hold an ESC or a C1 control once parsed: native scans of the raw
 * bytes, so a batch with none skips the character-level filter (the player's hot path; a regex
 * over every character cost a quarter of `tsh play --format=text`).
 */
export function mayHaveControls(bytes: Buffer): boolean {
  for (const p of JSON_CONTROL_PATTERNS) if (bytes.indexOf(p) !== -1) return true;
  // C1 controls U+0080..U+009F as raw UTF-8: 0xc2 0x80..0x9f.
  for (let i = bytes.indexOf(0xc2); i !== -1; i = bytes.indexOf(0xc2, i + 1)) {
    const next = bytes[i + 1];
    if (next === undefined || (next >= 0x80 && next <= 0x9f)) return true;
  }
  return false;
}

/** Where a string may start, in text. */
const TEXT_STOP = /[\u001b\u0090\u0098\u009d\u009e\u009f]/g;
/** Where a string may end (or be aborted), inside one. */
const STRING_STOP = /[\u0007\u0018\u001a\u001b\u009c]/g;

/** Streams text through, dropping OSC, DCS, SOS, PM and APC strings; state carries across chunks. */
export class EscapeFilter {
  private state: State = 'text';
  private swallowed = 0;

  /** True between sequences: text known to hold no ESC or C1 control may skip push(). */
  get idle(): boolean {
    return this.state === 'text';
  }

  /** Returns what may reach the terminal from `chunk`. */
  push(chunk: string): string {
    let out = '';
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'text') {
        TEXT_STOP.lastIndex = i;
        const m = TEXT_STOP.exec(chunk);
        if (!m) {
          out += i === 0 ? chunk : chunk.slice(i);
          break;
        }
        out += chunk.slice(i, m.index);
        i = m.index + 1;
        if (m[0] === ESC) this.state = 'esc';
        else this.open();
      } else if (this.state === 'esc') {
        if (OPENERS_7BIT.has(chunk[i]!)) {
          this.open();
          i++;
        } else {
          // An ordinary sequence (CSI colours, cursor keys, ...): the ESC goes out with it.
          out += ESC;
          this.state = 'text';
        }
      } else if (this.state === 'string-esc') {
        if (chunk[i] === '\\') {
          this.state = 'text';
          i++;
        } else {
          // As xterm: an ESC that is not ST aborts the string and starts a new sequence.
          this.state = 'esc';
        }
      } else {
        STRING_STOP.lastIndex = i;
        const m = STRING_STOP.exec(chunk);
        const end = m ? m.index : chunk.length;
        this.swallowed += end - i;
        if (this.swallowed > MAX_FILTERED_STRING) {
          // A string left open must not hide the rest of the session from the auditor.
          out += `[tsh: dropped an escape sequence longer than ${MAX_FILTERED_STRING} characters]`;
          this.state = 'text';
          i = end;
          continue;
        }
        if (!m) break;
        i = m.index + 1;
        this.state = m[0] === ESC ? 'string-esc' : 'text';
      }
    }
    return out;
  }

  /** Ends the stream: a lone trailing ESC is passed on; an unterminated string stays dropped. */
  end(): string {
    const rest = this.state === 'esc' ? ESC : '';
    this.state = 'text';
    return rest;
  }

  private open(): void {
    this.state = 'string';
    this.swallowed = 0;
  }
}
