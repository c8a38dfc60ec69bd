import type { SessionEnd, SessionMeta } from '../../recording/index.js';
import type { SessionTap } from './taps.js';

/** What the pipeline needs of one session's recording (ActiveRecording, or an unrecorded session's stand-in). */
export interface SessionRecording {
  readonly id: string;
  /** False when the recording's writes are behind: pause the source until onceDrained(). */
  output(data: Buffer): boolean;
  input(data: Buffer): boolean;
  onceDrained(cb: () => void): void;
  resize(cols: number, rows: number): void;
  /** Called (once) when the recording can no longer be written: the session must end. */
  onFailure(cb: (err: Error) => void): void;
  end(e: SessionEnd): Promise<void>;
}

/** Starts a session's recording (RecordingService; UnrecordedSessions with session_recording: off). */
export interface SessionRecorder {
  start(meta: SessionMeta): Promise<SessionRecording>;
}

/**
 * The recorder as the session's mandatory tap: output, input and resizes go to the recording
 * (asciicast, with its integrity chain), and its disk backpressure pauses the relay. Its failures
 * arrive through `recording.onFailure`, which the pipeline turns into the end of the session.
 */
export function recorderTap(recording: SessionRecording): SessionTap {
  return {
    name: 'recorder',
    write(e) {
      switch (e.type) {
        case 'output':
          return recording.output(e.data);
        case 'input':
          return recording.input(e.data);
        case 'resize':
          recording.resize(e.cols, e.rows);
          return true;
        default:
          // Exit and file events reach the recording through its end record (exit status, totals).
          return true;
      }
    },
    onceDrained: (cb) => recording.onceDrained(cb),
    close: (end) => recording.end(end),
  };
}
