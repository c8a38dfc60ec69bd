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
