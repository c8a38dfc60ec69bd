/**
 * Teleport's users type global flags before the command (`tctl -c FILE users ls`,
 * `tsh --proxy=HOST ssh node`); oclif only takes flags after the command id. This moves the
 * leading flags to just after the command id, leaving everything else in order.
 *
 * `valueFlags` are the global flags that take a value as the next word (`-c FILE`).
 * `commandIds` are the known ids, space-separated words (`users add`).
 */
export function moveLeadingFlags(argv: readonly string[], valueFlags: ReadonlySet<string>, commandIds: ReadonlySet<string>): string[] {
  const flags: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const a = argv[i]!;
    if (a === '--' || !a.startsWith('-') || a === '-') break;
    flags.push(a);
    if (!a.includes('=') && valueFlags.has(a) && i + 1 < argv.length) flags.push(argv[++i]!);
    i++;
  }
  if (flags.length === 0) return [...argv];
  const rest = argv.slice(i);
  // The longest run of words that names a command.
  let idLength = 0;
  for (let n = 1; n <= rest.length; n++) {
    if (rest[n - 1]!.startsWith('-')) break;
    if (commandIds.has(rest.slice(0, n).join(' '))) idLength = n;
  }
  // No command named (`tctl --help`, `tsh --version`): leave the flags where oclif expects them.
  if (idLength === 0) return [...argv];
  return [...rest.slice(0, idLength), ...flags, ...rest.slice(idLength)];
}
