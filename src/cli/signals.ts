/** Resolves on the first SIGINT or SIGTERM; a second one while shutting down exits at once. */
export function waitForStopSignal(onSecond: () => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handler = (sig: NodeJS.Signals) => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      process.once('SIGINT', onSecond);
      process.once('SIGTERM', onSecond);
      resolve(sig);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}

/**
 * Runs `handler` on each `signal` (SIGHUP: reload, SIGUSR1: reopen the log file), one at a time:
 * a signal that arrives while the previous one is handled runs once after it. Returns the remover.
 */
export function onSignal(signal: NodeJS.Signals, handler: () => Promise<void> | void): () => void {
  let running: Promise<void> | undefined;
  let again = false;
  const run = () => {
    if (running) {
      again = true;
      return;
    }
    running = Promise.resolve()
      .then(handler)
      .catch(() => undefined)
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          run();
        }
      });
  };
  process.on(signal, run);
  return () => process.off(signal, run);
}
