import { AuditEvents, type Auditor } from '../../audit/index.js';
import type { Logger } from '../../log.js';
import type { SessionEnd, SessionMeta } from '../../recording/index.js';
import { fileEventLabel, SftpParser, type SftpFileEvent } from '../../sftp/index.js';
import type { SessionTap } from './taps.js';

/** What the pipeline needs of one session's recording (ActiveRecording, or an unrecorded session's stand-in). */
export interface SessionRecording {
  readonly id: string;
  readonly meta: Pick<SessionMeta, 'user' | 'login' | 'node'>;
  /** Time 0 of the recording's events (epoch ms, performance clock); absent when nothing is recorded. */
  readonly startedAtMs?: number;
  /** False when the recording's writes are behind: pause the source until onceDrained(). */
  /** `at`: when the relay passed the bytes (epoch ms, the taps' one stamp for the event). */
  output(data: Buffer, at?: number): boolean;
  input(data: Buffer, at?: number): boolean;
  onceDrained(cb: () => void): void;
  resize(cols: number, rows: number, at?: number): void;
  /** A labelled moment in the recording (an sftp file operation). */
  marker(label: string, at?: number): void;
  /** Called (once) when the recording can no longer be written: the session must end. */
  onFailure(cb: (err: Error) => void): void;
  end(e: SessionEnd): Promise<void>;
}

/** Starts a session's recording (RecordingService; UnrecordedSessions with session_recording: off). */
export interface SessionRecorder {
  start(meta: SessionMeta): Promise<SessionRecording>;
}

/** For an sftp channel: where its file operations are reported besides the recording. */
export interface SftpRecording {
  auditor: Auditor;
  log?: Logger;
}

/**
 * The recorder as the session's mandatory tap: output, input and resizes go to the recording
 * (asciicast, with its integrity chain), and its disk backpressure pauses the relay. Its failures
 * arrive through `recording.onFailure`, which the pipeline turns into the end of the session.
 * On an sftp channel (`sftp` given) the bytes are still recorded as they are, and a passive SFTP
 * parser also reads them: each file operation becomes a marker in the recording and an `sftp`
 * audit event. The parser copies only packet headers, never file data, so it is cheap enough to
 * run in the relay's turn.
 */
export function recorderTap(recording: SessionRecording, sftp?: SftpRecording): SessionTap {
  const parser = sftp ? sftpParser(recording, sftp) : undefined;
  return {
    name: 'recorder',
    write(e, at) {
      switch (e.type) {
        case 'output': {
          const ok = recording.output(e.data, at);
          parser?.fromServer(e.data);
          return ok;
        }
        case 'input': {
          // A peer's keystrokes (tsh join --mode=peer): a marker names who typed them, before the
          // input event itself (kept as record_input says, like the session's own keystrokes).
          if (e.participant) recording.marker(`input from ${e.participant} (peer): ${e.data.length} bytes`, at);
          const ok = recording.input(e.data, at);
          parser?.fromClient(e.data);
          return ok;
        }
        case 'resize':
          recording.resize(e.cols, e.rows, at);
          return true;
        default:
          // Exit reaches the recording through its end record (exit status, totals).
          return true;
      }
    },
    onceDrained: (cb) => recording.onceDrained(cb),
    close: (end) => {
      // Files left open (the client went away mid-transfer) are reported with their totals.
      parser?.end();
      return recording.end(end);
    },
  };
}

function sftpParser(recording: SessionRecording, o: SftpRecording): SftpParser {
  const { user, login, node } = recording.meta;
  return new SftpParser({
    onEvent(e: SftpFileEvent) {
      recording.marker(fileEventLabel(e));
      o.auditor.emit(AuditEvents.sftp, user, {
        sid: recording.id,
        login,
        node,
        op: e.op,
        path: e.path,
        ...(e.target !== undefined ? { target: e.target } : {}),
        ...(e.bytes !== undefined ? { bytes: e.bytes } : {}),
        ...(e.flags ? { flags: e.flags.join(',') } : {}),
        ...(e.attrs ? { attrs: e.attrs } : {}),
        result: e.ok ? 'success' : 'failure',
        ...(e.error !== undefined ? { error: e.error } : {}),
      });
    },
    onStop(reason) {
      // The bytes are still recorded whole (and hashed in the session index); only the events stop.
      recording.marker(`sftp events stopped: ${reason}`);
      o.log?.warn('stopped reading sftp file operations; the channel is still recorded as bytes', { component: 'proxy', sid: recording.id, reason });
    },
  });
}
