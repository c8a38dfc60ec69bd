import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { openRecording } from '../../cli/recording-target.js';
import { parseOffset } from '../../lib/duration.js';
import { PlaybackControl, playJson, playRaw, playText, playTimed, VERDICT_EXIT_CODES } from '../../lib/recording/index.js';

/** stdout with backpressure: resolves when the data is accepted, so a 1 GiB replay stays small in memory. */
function writeOut(text: string): void | Promise<void> {
  if (process.stdout.write(text)) return;
  return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}

/** Bytes to stdout with backpressure (raw playback). */
function writeBytes(bytes: Buffer): void | Promise<void> {
  if (process.stdout.write(bytes)) return;
  return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}

export default class Play extends BaseCommand {
  static override summary = 'Replay a recorded session in the terminal.';
  static override description =
    'SESSION is a recording file (.cast) or a session id: fetched through the proxy with your tsh login (or read from the data dir given with --data-dir/-c on the auth host). Keys while playing: space pause/resume, → skip 5 s, q quit.';
  static override examples = ['<%= config.bin %> play 5f1c…', '<%= config.bin %> play ./session.cast --speed=4 --skip-idle-time', '<%= config.bin %> play ID --format=text | less -R', '<%= config.bin %> play ID --format=raw | sha256sum'];
  static override args = { session: Args.string({ description: 'session id or .cast file', required: true }) };
  static override flags = {
    speed: Flags.string({ description: 'playback speed, 0.25 to 16', default: '1' }),
    from: Flags.string({ description: 'start at this time into the recording (1m32s, 92.5s, 92.5: the offset tsh recordings search prints); pty paints the screen as it was then' }),
    'skip-idle-time': Flags.boolean({ description: 'cap pauses at 1 s', default: false }),
    format: Flags.string({ description: 'pty: replay with timing; text: the output at once (and a non-PTY session\'s input); json: the events; raw: the output stream byte for byte (its SHA-256 is the session\'s sha256_out)', options: ['pty', 'text', 'json', 'raw'], default: 'pty' }),
    input: Flags.boolean({ description: 'with --format=raw: the input stream instead of the output', default: false }),
    config: Flags.string({ char: 'c', description: 'teleport.yaml of the local auth service (to find its data dir)', helpGroup: 'GLOBAL' }),
    'data-dir': Flags.string({ description: 'data dir of the local auth service', helpGroup: 'GLOBAL' }),
    'raw-escapes': Flags.boolean({ description: 'pass terminal strings (OSC, DCS, APC, PM: clipboard, title, ...) from the recording to your terminal; dropped by default', default: false }),
    verify: Flags.boolean({ description: 'check the recording\'s signatures first; exit 0 verified, 4 altered, 5 incomplete, 6 unsigned', default: false }),
    'allowed-signers': Flags.string({ description: 'recording key to verify with (the line from tctl auth export --type=recording); default: the one pinned at tsh login' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Play);
    const speed = Number(flags.speed);
    if (!Number.isFinite(speed) || speed < 0.25 || speed > 16) {
      const { badParameter } = await import('../../lib/errors.js');
      throw badParameter(`--speed ${flags.speed} is out of range`, 'use a number from 0.25 to 16');
    }
    const fromMs = flags.from ? parseOffset(flags.from) : undefined;
    if (fromMs !== undefined && (flags.format === 'raw' || flags.format === 'json')) {
      const { badParameter } = await import('../../lib/errors.js');
      throw badParameter(`--from goes with --format=pty or text, not ${flags.format}`);
    }
    const target = await openRecording(args.session, flags, { local: flags.verify });
    try {
      if (flags.verify) {
        const r = await target.verify();
        process.stderr.write(`${r.verdict === 'verified' ? '' : 'WARNING: '}recording ${r.summary}\n`);
        process.exitCode = VERDICT_EXIT_CODES[r.verdict];
      }
      if (flags.format === 'raw') await playRaw(target.source, await target.bin(), flags.input ? 'i' : 'o', writeBytes, (m) => process.stderr.write(`WARNING: ${m}\n`));
      else if (flags.input) {
        const { badParameter } = await import('../../lib/errors.js');
        throw badParameter('--input goes with --format=raw');
      } else await this.play(target.source, flags, speed, fromMs);
    } finally {
      target.cleanup();
    }
  }

  private async play(file: string | import('node:stream').Readable, flags: { format: string; 'skip-idle-time': boolean; 'raw-escapes': boolean }, speed: number, fromMs?: number): Promise<void> {
    const warn = (m: string) => process.stderr.write(`\r\nWARNING: ${m}\n`);
    if (flags.format === 'text') return playText(file, writeOut, warn, { rawEscapes: flags['raw-escapes'], fromMs });
    if (flags.format === 'json') return playJson(file, writeOut, warn);

    const tty = process.stdin.isTTY && process.stdout.isTTY;
    const control = new PlaybackControl();
    const restore = () => {
      if (tty) process.stdin.setRawMode(false);
      process.stdin.pause();
    };
    const onSignal = () => control.stop();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    if (tty) {
      process.stdin.setRawMode(true);
      process.stdin.resume();
      process.stdin.on('data', (key: Buffer) => {
        const k = key.toString();
        if (k === 'q' || k === '\u0003') control.stop();
        else if (k === ' ') control.togglePause();
        else if (k === '\u001b[C') control.skip(5000);
      });
    }
    try {
      await playTimed(file, { speed, maxIdleSeconds: flags['skip-idle-time'] ? 1 : undefined, write: writeOut, control, onWarning: warn, rawEscapes: flags['raw-escapes'], fromMs });
    } finally {
      restore();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}
