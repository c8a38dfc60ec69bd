import type { Readable } from 'node:stream';
import { badParameter } from '../lib/errors.js';
import { parseOffset } from '../lib/duration.js';
import { openRecording } from './recording-target.js';

/** `tsh play`'s flags as parsed (by oclif, or by the fast path from the same class: fast-argv.ts). */
export interface TshPlayFlags {
  speed: string;
  from?: string;
  'skip-idle-time': boolean;
  format: string;
  input: boolean;
  config?: string;
  'data-dir'?: string;
  'raw-escapes': boolean;
  verify: boolean;
  'allowed-signers'?: string;
}

/**
 * The player alone, not the recording folder's index (which brings the recorder, the store and
 * zod: about 60 ms of tsh play's start-up). A dynamic import, which the folder rule allows.
 */
const player = () => import('../lib/recording/player.js');

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

/** `tsh play SESSION` once parsed: replays, or verifies then replays, a recording. */
export async function tshPlay(session: string, flags: TshPlayFlags): Promise<void> {
  const speed = Number(flags.speed);
  if (!Number.isFinite(speed) || speed < 0.25 || speed > 16) throw badParameter(`--speed ${flags.speed} is out of range`, 'use a number from 0.25 to 16');
  const fromMs = flags.from ? parseOffset(flags.from) : undefined;
  if (fromMs !== undefined && (flags.format === 'raw' || flags.format === 'json')) throw badParameter(`--from goes with --format=pty or text, not ${flags.format}`);
  const target = await openRecording(session, flags, { local: flags.verify });
  try {
    if (flags.verify) {
      const r = await target.verify();
      const { VERDICT_EXIT_CODES } = await import('../lib/recording/index.js');
      process.stderr.write(`${r.verdict === 'verified' ? '' : 'WARNING: '}recording ${r.summary}\n`);
      process.exitCode = VERDICT_EXIT_CODES[r.verdict];
    }
    if (flags.format === 'raw') await (await player()).playRaw(target.source, await target.bin(), flags.input ? 'i' : 'o', writeBytes, (m) => process.stderr.write(`WARNING: ${m}\n`));
    else if (flags.input) throw badParameter('--input goes with --format=raw');
    else await play(target.source, flags, speed, fromMs);
  } finally {
    target.cleanup();
  }
}

async function play(file: string | Readable, flags: TshPlayFlags, speed: number, fromMs?: number): Promise<void> {
  const { PlaybackControl, playJson, playText, playTimed } = await player();
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
