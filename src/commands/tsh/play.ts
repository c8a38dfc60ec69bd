import { Args, Flags } from '@oclif/core';
import { BaseCommand } from '../../cli/base-command.js';
import { tshPlay } from '../../cli/tsh-play.js';

export default class Play extends BaseCommand {
  static override summary = 'Replay a recorded session in the terminal.';
  static override description =
    'SESSION is a recording file (.cast) or a session id: fetched through the proxy with your tsh login (or read from the data dir given with --data-dir/-c on the auth host). Keys while playing: space pause/resume, → skip 5 s, q quit.';
  static override examples = ['<%= config.bin %> play 5f1c…', '<%= config.bin %> play ./session.cast --speed=4 --skip-idle-time', '<%= config.bin %> play ID --format=text | less -R', '<%= config.bin %> play ID --format=raw | sha256sum'];
  static override args = { session: Args.string({ description: 'session id or .cast file', required: true }) };
  static override flags = {
    speed: Flags.string({ description: 'playback speed, 0.25 to 16', default: '1' }),
    from: Flags.string({ description: 'start at this time into the recording (1m32s, 92.5s, 92.5: the offset tsh recordings search prints); pty paints the screen as it was then' }),
    'skip-idle-time': Flags.boolean({ description: 'cap pauses at 1 s', default: false }),
    format: Flags.string({ description: 'pty: replay with timing; text: the output at once (and a non-PTY session\'s input); json: the events; raw: the output stream byte for byte (its SHA-256 is the session\'s sha256_out)', options: ['pty', 'text', 'json', 'raw'], default: 'pty' }),
    input: Flags.boolean({ description: 'with --format=raw: the input stream instead of the output', default: false }),
    config: Flags.string({ char: 'c', description: 'teleport.yaml of the local auth service (to find its data dir)', helpGroup: 'GLOBAL' }),
    'data-dir': Flags.string({ description: 'data dir of the local auth service', helpGroup: 'GLOBAL' }),
    'raw-escapes': Flags.boolean({ description: 'pass terminal strings (OSC, DCS, APC, PM: clipboard, title, ...) from the recording to your terminal; dropped by default', default: false }),
    verify: Flags.boolean({ description: 'check the recording\'s signatures first; exit 0 verified, 4 altered, 5 incomplete, 6 unsigned', default: false }),
    'allowed-signers': Flags.string({ description: 'recording key to verify with (the line from tctl auth export --type=recording); default: the one pinned at tsh login' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(Play);
    await tshPlay(args.session, flags);
  }
}
