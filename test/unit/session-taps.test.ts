import { describe, expect, it } from 'vitest';
import { nullLogger } from '../../src/lib/log.js';
import { createOptionalTap, SessionTaps, type SessionTap, type TapEvent } from '../../src/lib/proxy/session/index.js';

const clock = () => performance.timeOrigin + performance.now();

describe('SessionTaps: one time stamp per event', () => {
  it("an optional tap's time for an event is never later than the recorder's, however long the recorder's turn takes", async () => {
    const recorderSaw: number[] = [];
    // A recorder whose turn is slow (encoding a large chunk under load): it reads the clock when called.
    const recorder: SessionTap = {
      name: 'recorder',
      write() {
        recorderSaw.push(clock());
        const until = clock() + 5;
        while (clock() < until) {
          // busy: the encoding work
        }
        return true;
      },
      onceDrained: (cb) => cb(),
      close: async () => undefined,
    };
    const seen: number[] = [];
    const optional = createOptionalTap({ name: 'indexer', deliver: (_events: readonly TapEvent[], at: readonly number[]) => void seen.push(...at) }, { maxBufferedBytes: 1 << 20, onDrop: () => undefined });
    const taps = new SessionTaps(recorder, [optional], nullLogger);
    for (let i = 0; i < 5; i++) taps.write({ type: 'output', data: Buffer.from(`line ${i}\r\n`) });
    await taps.close({ exitStatus: 0, exitSignal: null, reason: 'exit' });
    expect(seen).toHaveLength(5);
    for (let i = 0; i < 5; i++) expect(seen[i]!).toBeLessThanOrEqual(recorderSaw[i]!);
  });
});
