import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ScreenLines, TextLines, type ScreenCommand, type ScreenLine } from '../../src/lib/search/index.js';
import { textRuns } from '../../src/lib/search/text-lines.js';

/** A shell as the emulator sees it: output events and keys, at the times given. */
function shell(o: { cols?: number; rows?: number; scrollback?: number } = {}) {
  const lines: ScreenLine[] = [];
  const commands: ScreenCommand[] = [];
  const s = new ScreenLines({ cols: o.cols ?? 80, rows: o.rows ?? 24, scrollback: o.scrollback, onLine: (l) => lines.push(l), onCommand: (c) => commands.push(c) });
  /** Types `text` one key at a time from `t`, each key echoed as bash's readline does. */
  const type = (keys: string, t: number, echo = true) => {
    for (const k of keys) {
      s.input(k, t);
      if (echo && k === '\x7f') s.output('\b \b', t);
      else if (echo && k === '\r') s.output('\r\n', t);
      else if (echo) s.output(k, t);
      else if (k === '\r') s.output('\r\n', t);
      t += 10;
    }
    return t;
  };
  return { s, lines, commands, type };
}

describe('ScreenLines', () => {
  it('resolves line editing to what the screen showed; the command is logged as typed after the edit', async () => {
    const { s, lines, commands, type } = shell();
    s.output('joe@node1:~$ ', 0);
    type('echo needle-$((40+2X\x7f))\r', 1000);
    s.output('needle-42\r\njoe@node1:~$ ', 1500);
    await s.end(2000);
    expect(lines.map((l) => l.text)).toEqual(['joe@node1:~$ echo needle-$((40+2))', 'needle-42', 'joe@node1:~$']);
    expect(lines[1]!.offsetMs).toBe(1500);
    expect(commands).toEqual([{ offsetMs: 1000 + 23 * 10, command: 'echo needle-$((40+2))' }]);
  });

  it('keys that were not echoed (a password prompt) are neither a line nor a command', async () => {
    const { s, lines, commands, type } = shell();
    s.output('$ ', 0);
    type('sudo true\r', 100);
    s.output('[sudo] password for joe: ', 300);
    type('hunter2-secret\r', 400, false);
    s.output('$ ', 700);
    await s.end(800);
    expect(commands.map((c) => c.command)).toEqual(['sudo true']);
    expect(lines.map((l) => l.text).join('\n')).not.toContain('hunter2');
  });

  it('pasted lines (keys before their echo) and history recall (arrow keys) are commands too', async () => {
    const { s, commands } = shell();
    s.output('$ ', 0);
    s.input('ls -la\r', 100);
    s.output('ls -la\r\ntotal 0\r\n$ ', 120);
    s.input('\x1b[A', 200);
    s.output('ls -la', 210);
    s.input('\r', 300);
    s.output('\r\ntotal 0\r\n$ ', 310);
    await s.end(400);
    expect(commands).toEqual([
      { offsetMs: 100, command: 'ls -la' },
      { offsetMs: 300, command: 'ls -la' },
    ]);
  });

  it('a full-screen program: its screen is indexed once per line, and keys there are not commands', async () => {
    const { s, lines, commands } = shell({ rows: 5 });
    s.output('$ vi notes\r\n', 0);
    s.output('\x1b[?1049h\x1b[H\x1b[2Jfirst line of notes\r\n~\r\n~\r\n"notes" 1L', 100);
    s.input('ihello\r\x1b:wq\r', 200);
    s.output('\x1b[1;1Hhello\x1b[K\r\nfirst line of notes\r\n', 250);
    s.output('\x1b[?1049l$ ', 300);
    await s.end(400);
    const texts = lines.map((l) => l.text);
    expect(texts).toContain('first line of notes');
    expect(texts).toContain('hello');
    expect(texts.filter((t) => t === 'first line of notes')).toHaveLength(1);
    expect(commands).toEqual([]);
  });

  it('lines that scroll past in one write are all taken, in order, even past the scrollback', async () => {
    const { s, lines } = shell({ rows: 5, scrollback: 50 });
    let text = '';
    for (let i = 0; i < 200; i++) text += `row ${i}\r\n`;
    s.output(text, 10);
    s.output(Buffer.from(text.replaceAll('row', 'byte row')), 15);
    s.output('after\r\n', 20);
    await s.end(30);
    const texts = lines.map((l) => l.text);
    // A write longer than the scrollback is scanned in slices of the scrollback's length (issue
    // 19: the scrollback is small to save memory), so none of its lines is trimmed before it is taken.
    expect(texts).toEqual([...Array.from({ length: 200 }, (_, i) => `row ${i}`), ...Array.from({ length: 200 }, (_, i) => `byte row ${i}`), 'after']);
  });

  it('a UTF-8 character or an escape sequence split between slices is read whole', async () => {
    const { s, lines } = shell({ rows: 5, scrollback: 4 });
    s.output(Buffer.from('héllo wörld\r\n\u001b[31mred\u001b[0m text\r\n'), 10);
    await s.end(20);
    expect(lines.map((l) => l.text)).toEqual(['héllo wörld', 'red text']);
  });

  it('a long command wraps over rows and is one command', async () => {
    const { s, commands, type } = shell({ cols: 20 });
    s.output('$ ', 0);
    const cmd = 'echo aaaaaaaaaa bbbbbbbbbb cccccccccc';
    type(`${cmd}\r`, 0);
    await s.end(1000);
    expect(commands.map((c) => c.command)).toEqual([cmd]);
  });
});

describe('TextLines', () => {
  it('splits a non-PTY stream at newlines, strips escapes and keeps the time each line began', () => {
    const out: ScreenLine[] = [];
    const t = new TextLines((l) => out.push(l));
    t.write(Buffer.from('hel'), 5);
    t.write(Buffer.from('lo \x1b[31mred\x1b[0m\nsecond\r\nprogress 10%\rprogress 100%\n'), 9);
    t.write(Buffer.from([0xe2, 0x82]), 11);
    t.write(Buffer.from([0xac, 0x0a]), 12);
    t.end(20);
    expect(out).toEqual([
      { offsetMs: 5, text: 'hello red' },
      { offsetMs: 9, text: 'second' },
      { offsetMs: 9, text: 'progress 100%' },
      // The line began with the character's first byte (the .cast shows it a read later: playing from here shows it).
      { offsetMs: 11, text: '€' },
    ]);
  });

  it('skips the lines of reads that come while it is not accepting, without losing the line after them', () => {
    const out: ScreenLine[] = [];
    let open = true;
    const t = new TextLines(
      (l) => out.push(l),
      () => open,
    );
    t.write(Buffer.from('one\ntw'), 1);
    open = false;
    t.write(Buffer.from('o\nthree\nfo'), 2);
    open = true;
    t.write(Buffer.from('ur\n'), 3);
    // A line past 4096 bytes is cut, but not inside the character split across the two reads.
    const euro = Buffer.from('€');
    t.write(Buffer.concat([Buffer.alloc(4998, 'x'), euro.subarray(0, 2)]), 4);
    t.write(Buffer.concat([euro.subarray(2), Buffer.from(' tail')]), 5);
    t.end(6);
    expect(out.map((l) => [l.offsetMs, l.text.length > 20 ? `${l.text.length} chars` : l.text])).toEqual([
      [1, 'one'],
      [2, 'four'],
      [4, '4998 chars'],
      [4, '€ tail'],
    ]);
    expect(t.skippedBytes).toBe('two\nthree\n'.length);
  });

  it('a character cut off by a binary read is not part of the line before it (as the old decoder had it)', () => {
    const out: ScreenLine[] = [];
    const t = new TextLines((l) => out.push(l));
    t.write(Buffer.concat([Buffer.from('caf'), Buffer.from('é').subarray(0, 1)]), 1);
    t.write(Buffer.from([0, 1, 2, 0xff]), 2);
    t.end(3);
    expect(out).toEqual([{ offsetMs: 1, text: 'caf' }]);
  });
});

describe('textRuns', () => {
  /** What the indexer did before (decode, then a regular expression): the reference. */
  const reference = (b: Buffer) => b.toString('utf8').match(/[^\x00-\x08\x0a-\x1f\x7f\ufffd]{12,}/g) ?? [];

  it('finds what decoding and matching finds, in noise with text, UTF-8 and broken sequences in it', () => {
    const pieces = ['hello world, this is text', 'Grüße aus Köln und München', '中文字符测试一二三四五六', '𝄞𝄞𝄞𝄞𝄞𝄞', '\ufffd', 'short', '\t\ttabbed text here'];
    for (let t = 0; t < 500; t++) {
      const parts: Buffer[] = [];
      for (let k = crypto.randomInt(12); k >= 0; k--) {
        // Noise around the text, half of it bytes no text holds: a run of noise alone (which the
        // seeds could miss) is then too unlikely to occur.
        parts.push(Buffer.from(Array.from({ length: crypto.randomInt(40) }, () => (crypto.randomInt(2) ? crypto.randomInt(256) : [0, 1, 0x1b, 0x7f, 0xc0, 0xff][crypto.randomInt(6)]!))));
        const piece = Buffer.from(pieces[crypto.randomInt(pieces.length)]!);
        // Sometimes cut inside a character, or with a stray continuation byte.
        parts.push(crypto.randomInt(4) === 0 ? piece.subarray(0, crypto.randomInt(piece.length + 1)) : piece);
        if (crypto.randomInt(5) === 0) parts.push(Buffer.from([0x80 + crypto.randomInt(0x40)]));
      }
      const b = Buffer.concat(parts);
      const found = textRuns(b);
      const ref = reference(b);
      // Never a run the reference lacks, in the reference's order...
      let j = 0;
      for (const run of found) {
        while (j < ref.length && ref[j] !== run) j++;
        expect(j, `${JSON.stringify(run)} is not in ${JSON.stringify(ref)}`).toBeLessThan(ref.length);
        j++;
      }
      // ...and every run holding a whole piece of text is found (a run of noise, or of a piece cut
      // short with noise, may have no seed in a read that is mostly not text).
      const whole = ref.filter((run) => pieces.some((p) => p.length >= 12 && run.includes(p)));
      for (const run of whole) expect(found, JSON.stringify(run)).toContain(run);
    }
  });

  it('text with a few NULs in it (find -print0, an environment dump) is read whole, at any alignment', () => {
    const text = ['Příliš žluťoučký kůň úpěl ďábelské ódy', 'naïve café résumé déjà vu', 'a=ä b=ö c=ü d=ß e=ø', 'x\ty\tz\tw\tv\tu\tt'].join('\0');
    for (let shift = 0; shift < 16; shift++) {
      const b = Buffer.concat([Buffer.alloc(shift, 0), Buffer.from(`${text}\0`)]);
      expect(textRuns(b), `shift ${shift}`).toEqual(reference(b));
    }
  });
});
