import fs from 'node:fs';
import path from 'node:path';
import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../../cli/base-command.js';
import { openRecording } from '../../../cli/recording-target.js';
import { alreadyExists, badParameter } from '../../../lib/errors.js';
import { writeFileAtomicStream } from '../../../lib/fs/index.js';
import { binPath, exportMeta, writeHtmlExport, chainPath, sigPath, playText } from '../../../lib/recording/index.js';

export default class RecordingsExport extends BaseCommand {
  static override summary = 'Export a recording: one self-contained HTML player file, the .cast, or its text.';
  static override description =
    'html is a single file anyone can open in a browser without an account or network: the player and the recording inline, with the session\'s user, login, node, start, duration and the verification result at export time. cast also writes the integrity files beside it (FILE.chain, FILE.sig) and the binary reads (FILE.bin, when there were any) so "tctl recordings verify FILE" and ssh-keygen -Y verify work on the copy.';
  static override examples = ['<%= config.bin %> recordings export 5f1c… --format=html -o session.html', '<%= config.bin %> recordings export 5f1c… --format=text -o -'];
  static override args = { session: Args.string({ description: 'session id or .cast file', required: true }) };
  static override flags = {
    format: Flags.string({ description: 'html: self-contained player page; cast: asciicast v2; text: the output', options: ['html', 'cast', 'text'], default: 'html' }),
    output: Flags.string({ char: 'o', description: 'file to write (default SESSION.FORMAT here; - for stdout)' }),
    overwrite: Flags.boolean({ description: 'replace the output file if it exists', default: false }),
    'allowed-signers': Flags.string({ description: 'recording key to verify with; default: the one pinned at tsh login' }),
    config: Flags.string({ char: 'c', description: 'teleport.yaml of the local auth service (to find its data dir)', helpGroup: 'GLOBAL' }),
    'data-dir': Flags.string({ description: 'data dir of the local auth service', helpGroup: 'GLOBAL' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(RecordingsExport);
    const id = path.basename(args.session).replace(/\.cast$/, '');
    const output = flags.output ?? `${id}.${flags.format}`;
    if (output !== '-' && fs.existsSync(output) && !flags.overwrite) throw alreadyExists(`${output} exists`, 'pass --overwrite to replace it, or choose another file with -o');
    if (output !== '-' && !fs.existsSync(path.dirname(path.resolve(output)))) throw badParameter(`the directory of ${output} does not exist`);
    const target = await openRecording(args.session, flags, { local: true });
    try {
      const castFile = target.source as string;
      const fill = async (out: NodeJS.WritableStream): Promise<void> => {
        if (flags.format === 'cast') {
          for await (const chunk of fs.createReadStream(castFile)) if (!out.write(chunk)) await new Promise((r) => out.once('drain', r));
        } else if (flags.format === 'text') {
          await playText(castFile, (t) => (out.write(t) ? undefined : new Promise<void>((r) => out.once('drain', () => r()))), (m) => process.stderr.write(`WARNING: ${m}\n`));
        } else {
          const verification = await target.verify();
          await writeHtmlExport(fs.createReadStream(castFile), out, exportMeta(id, castFile, target.session, verification, Date.now()));
          process.stderr.write(`recording ${verification.summary}\n`);
        }
      };
      if (output === '-') {
        await fill(process.stdout);
        return;
      }
      // All or nothing: a failed export never leaves half a file behind.
      await writeFileAtomicStream(output, fill, { mode: 0o600, overwrite: flags.overwrite });
      if (flags.format === 'cast') {
        for (const [from, to] of [[chainPath(castFile), chainPath(output)], [sigPath(castFile), sigPath(output)], [binPath(castFile), binPath(output)]] as const) {
          if (fs.existsSync(from)) fs.copyFileSync(from, to);
        }
      }
      process.stderr.write(`wrote ${output}\n`);
    } finally {
      target.cleanup();
    }
  }
}
