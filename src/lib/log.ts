import fs from 'node:fs';

/**
 * Structured logging, one line per event: time, level, component, message and fields, as text
 * (`TIME LEVEL [component] message key=value ...`) or as one JSON object per line (log
 * collectors parse it without a grammar). Library code logs through a Logger it was given;
 * nothing here writes to stdout unless the daemon's config says so.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;
export type LogFormat = 'text' | 'json';

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

export interface LoggerOptions {
  level?: Level;
  format?: LogFormat;
  write?: (line: string) => void;
  now?: () => Date;
}

/** The root of a logger tree whose level can change while it runs (SIGHUP reloads it). */
export interface LogControl {
  readonly log: Logger;
  level(): Level;
  setLevel(level: Level): void;
}

function formatValue(v: unknown): string {
  if (v instanceof Error) v = v.message;
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /[\s"=]/.test(s ?? '') ? JSON.stringify(s) : String(s);
}

/** A JSON-safe field value: errors as their message (as text logs show them), bigints as strings. */
function jsonValue(v: unknown): unknown {
  if (v instanceof Error) return v.message;
  if (typeof v === 'bigint') return v.toString();
  return v;
}

function build(options: LoggerOptions, state: { min: number }, base: Fields): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const now = options.now ?? (() => new Date());
  const json = options.format === 'json';
  const emit = (level: Level, msg: string, fields?: Fields) => {
    if (ORDER[level] < state.min) return;
    const all = { ...base, ...fields };
    const component = all.component;
    delete all.component;
    const entries = Object.entries(all).filter(([, v]) => v !== undefined);
    if (json) {
      // time, level, component and msg first; the same fields as the text line after them.
      const obj: Fields = { time: now().toISOString(), level, component: component === undefined ? 'tollgate' : String(component), msg };
      for (const [k, v] of entries) if (!(k in obj)) obj[k] = jsonValue(v);
      let line: string;
      try {
        line = JSON.stringify(obj);
      } catch {
        // A field that cannot be serialised (a cycle) must not cost the whole line.
        line = JSON.stringify({ time: obj.time, level, component: obj.component, msg, fields_error: 'unserialisable fields' });
      }
      write(`${line}\n`);
      return;
    }
    const kv = entries.map(([k, v]) => `${k}=${formatValue(v)}`).join(' ');
    const head = `${now().toISOString()} ${level.toUpperCase().padEnd(5)}${component ? ` [${String(component)}]` : ''}`;
    write(`${head} ${msg}${kv ? ` ${kv}` : ''}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => build(options, state, { ...base, ...fields }),
  };
}

export function createLogger(options: LoggerOptions = {}, base: Fields = {}): Logger {
  return build(options, { min: ORDER[options.level ?? 'info'] }, base);
}

/** A logger whose level (for it and every child) can be changed later. */
export function createLogControl(options: LoggerOptions = {}): LogControl {
  const state = { min: ORDER[options.level ?? 'info'] };
  let current: Level = options.level ?? 'info';
  return {
    log: build(options, state, {}),
    level: () => current,
    setLevel(level) {
      current = level;
      state.min = ORDER[level];
    },
  };
}

/**
 * A log file opened for appending, reopened on demand: logrotate moves the file away and sends
 * SIGUSR1, and the next line goes to a new file at the same path. Writes are synchronous so a
 * line is on disk before the daemon goes on (and the last lines before an exit are not lost).
 */
export class LogFile {
  private fd: number;

  constructor(readonly path: string) {
    this.fd = LogFile.open(path);
  }

  private static open(file: string): number {
    return fs.openSync(file, 'a', 0o600);
  }

  write(line: string): void {
    try {
      fs.writeSync(this.fd, line);
    } catch {
      // Nowhere else to report it without recursing into the log; stderr gets the line instead.
      process.stderr.write(line);
    }
  }

  /** Opens the path again (after rotation); keeps the old file when the new one cannot be opened. */
  reopen(): void {
    const fd = LogFile.open(this.path);
    const old = this.fd;
    this.fd = fd;
    fs.closeSync(old);
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/** A logger that drops everything, for tests and for commands that must stay quiet. */
export const nullLogger: Logger = createLogger({ write: () => {} });
