/**
 * Waits for `p` at most `ms`: true when it settled in time (its rejection is thrown), false when
 * the time ran out first. The timer is cleared either way; `unref`: it does not keep the process
 * alive on its own.
 */
export async function settlesWithin(p: Promise<unknown>, ms: number, o: { unref?: boolean } = {}): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    if (o.unref) timer.unref();
  });
  try {
    return await Promise.race([p.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}
