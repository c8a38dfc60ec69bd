import fs from 'node:fs';
import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { adminRoutes } from '../../../lib/api/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { recordingKey } from '../../../lib/client/index.js';
import { badParameter, notFound } from '../../../lib/errors.js';
import { anchorFromFields, checkAnchors, withAnchorCheck, RECORDING_NAMESPACE, blobFromAllowedSigners, VERDICT_EXIT_CODES, verifyRecording, verifyResultToJson, type VerifyJson } from '../../../lib/recording/index.js';
import { isUuid } from '../../../lib/ids.js';


export default class RecordingsVerify extends AdminCommand {
  static override summary = 'Check a recording against its signed checkpoints and signature.';
  static override description =
    'TARGET is a session id (checked by the auth service) or a .cast file (checked here, with FILE.chain and FILE.sig beside it). Prints verified, altered (with the first altered event: its time and byte offset) or incomplete (verified up to a time, then cut off). Exit codes: 0 verified, 4 altered, 5 incomplete, 6 unsigned.';
  static override examples = ['<%= config.bin %> recordings verify 5f1c…', '<%= config.bin %> recordings verify ./5f1c….cast --allowed-signers=recording_signers'];
  static override args = { target: Args.string({ description: 'session id or .cast file', required: true }) };
  static override flags = {
    'allowed-signers': Flags.string({ description: 'recording key for a file (the line from tctl auth export --type=recording); default: ask the auth service' }),
    audit: Flags.boolean({ description: 'also check the recording against its checkpoint anchors in the audit log (recording.checkpoint events)', default: false }),
    'audit-file': Flags.string({ description: 'with a .cast FILE: the anchors from an exported audit log (tctl events ls --type=recording.checkpoint --format=json) instead of the auth service\'s' }),
    format: formatFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RecordingsVerify);
    let result: VerifyJson;
    if (fs.existsSync(args.target) && fs.statSync(args.target).isFile()) {
      const blob = flags['allowed-signers']
        ? recordingKey(flags['allowed-signers'], undefined)
        : blobFromAllowedSigners((await this.adminClient(flags).call(adminRoutes.exportCa, { params: { type: 'recording' } })).line);
      const base = path.basename(args.target).replace(/\.cast$/, '');
      result = verifyResultToJson(await verifyRecording({ castFile: args.target, publicBlob: blob, namespace: RECORDING_NAMESPACE, ...(isUuid(base) ? { session: base } : {}) }));
      if (flags.audit || flags['audit-file']) {
        if (!isUuid(base)) throw badParameter(`--audit: ${args.target} is not named after its session id`, 'keep the recording\'s file name (SESSION_ID.cast)');
        const events = flags['audit-file']
          ? eventsFromFile(flags['audit-file'])
          : await this.adminClient(flags).call(adminRoutes.listEvents, { query: { type: 'recording.checkpoint', limit: 10_000 } });
        const anchors = events.filter((e) => e.event === 'recording.checkpoint' && e.sid === base).flatMap((e) => anchorFromFields(e) ?? []);
        result = withAnchorCheck(result, await checkAnchors(args.target, anchors));
      }
    } else if (isUuid(args.target)) {
      if (flags['audit-file']) throw badParameter('--audit-file works with a .cast FILE', 'download the recording (tsh recordings export ID --format=cast) and verify the file');
      result = await this.adminClient(flags).call(adminRoutes.verifyRecording, { params: { id: args.target }, query: { audit: flags.audit ? 'yes' : 'no' } });
    } else {
      throw notFound(`no recording file or session id ${args.target}`, 'pass a session id from tctl sessions ls, or the path of a .cast file');
    }
    this.out(flags.format === 'json' ? JSON.stringify(result, null, 2) : result.summary);
    process.exitCode = VERDICT_EXIT_CODES[result.verdict];
    // Asked to check against the audit log and nothing there: not a pass. Whoever could rewrite
    // the recording could also have deleted its anchors (exit 7, distinct from a verdict).
    if ((flags.audit || flags['audit-file']) && result.audit?.verdict === 'none' && result.verdict === 'verified') process.exitCode = NO_ANCHORS_EXIT_CODE;
  }
}

/** `--audit` found no checkpoint anchors for the recording. */
export const NO_ANCHORS_EXIT_CODE = 7;

/** Events exported by `tctl events ls --format=json` (an array), flattened as that output is. */
function eventsFromFile(file: string): Array<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw badParameter(`--audit-file ${file}: ${(err as Error).message}`, 'export it with tctl events ls --type=recording.checkpoint --format=json');
  }
  if (!Array.isArray(parsed)) throw badParameter(`--audit-file ${file}: not a JSON array of events`, 'export it with tctl events ls --type=recording.checkpoint --format=json');
  return parsed.filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null);
}
