import fs from 'node:fs';
import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { adminRoutes } from '../../../lib/api/index.js';
import { AdminCommand } from '../../../cli/admin-command.js';
import { formatFlag } from '../../../cli/base-command.js';
import { recordingKey } from '../../../lib/client/index.js';
import { notFound } from '../../../lib/errors.js';
import { RECORDING_NAMESPACE, blobFromAllowedSigners, VERDICT_EXIT_CODES, verifyRecording, verifyResultToJson, type VerifyJson } from '../../../lib/recording/index.js';
import { isUuid } from '../../../lib/ids.js';


export default class RecordingsVerify extends AdminCommand {
  static override summary = 'Check a recording against its signed checkpoints and signature.';
  static override description =
    'TARGET is a session id (checked by the auth service) or a .cast file (checked here, with FILE.chain and FILE.sig beside it). Prints verified, altered (with the first altered event: its time and byte offset) or incomplete (verified up to a time, then cut off). Exit codes: 0 verified, 4 altered, 5 incomplete, 6 unsigned.';
  static override examples = ['<%= config.bin %> recordings verify 5f1c…', '<%= config.bin %> recordings verify ./5f1c….cast --allowed-signers=recording_signers'];
  static override args = { target: Args.string({ description: 'session id or .cast file', required: true }) };
  static override flags = {
    'allowed-signers': Flags.string({ description: 'recording key for a file (the line from tctl auth export --type=recording); default: ask the auth service' }),
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
    } else if (isUuid(args.target)) {
      result = await this.adminClient(flags).call(adminRoutes.verifyRecording, { params: { id: args.target } });
    } else {
      throw notFound(`no recording file or session id ${args.target}`, 'pass a session id from tctl sessions ls, or the path of a .cast file');
    }
    this.out(flags.format === 'json' ? JSON.stringify(result, null, 2) : result.summary);
    process.exitCode = VERDICT_EXIT_CODES[result.verdict];
  }
}
