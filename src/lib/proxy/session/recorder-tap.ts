import type { ActiveRecording } from '../../recording/index.js';
import type { SessionTap } from './taps.js';

/**
 * The recorder as the session's mandatory tap: output, input and resizes go to the recording
 * (asciicast, with its integrity chain), and its disk backpressure pauses the relay. Its failures
 * arrive through `recording.onFailure`, which the pipeline turns into the end of the session.
 */
export function recorderTap(recording: ActiveRecording): SessionTap {
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
