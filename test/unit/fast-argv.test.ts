import fs from 'node:fs';
import path from 'node:path';
import { Args, Command, Flags, Parser } from '@oclif/core';
import { describe, expect, it } from 'vitest';
import { parseFast, type FastCommandSpec } from '../../src/cli/fast-argv.js';
import { fastSpecOf } from '../../src/cli/fast-spec.js';
import { splitSshArgv } from '../../src/cli/tsh-ssh.js';
import Play from '../../src/commands/tsh/play.js';
import Ssh from '../../src/commands/tsh/ssh.js';
import { ROOT } from '../helpers/proc.js';

/** What oclif's Command.parse makes of `argv` for `cls`: its flags and args, or the error it throws. */
async function oclifParse(cls: Command.Class, argv: string[]): Promise<{ flags: unknown; args: unknown } | Error> {
  try {
    const r = await Parser.parse(argv, { flags: { ...cls.baseFlags, ...cls.flags }, args: cls.args, strict: cls.strict, context: {} as Command });
    return { flags: r.flags, args: r.args };
  } catch (err) {
    return err as Error;
  }
}

const SSH_FLAGS: string[][] = [
  [], ['--port=2222'], ['--port', '2222'], ['-p', '2222'], ['-p2222'], ['--port=0'], ['--port=65536'], ['--port=abc'], ['--port=-1'], ['--port=022'], ['--port='],
  ['-l', 'root'], ['--login=root'], ['--login', 'root', '-t'], ['-t'], ['-T'], ['-A'], ['-tA'], ['--tty', '--tty'], ['--tty=true'], ['--no-tty'], ['--forward-agent'],
  ['--proxy=h:3080', '--user=joe'], ['--proxy', 'h', '--user', 'joe', '--insecure', '--debug'], ['--login'], ['--login='], ['--login', '-t'], ['--login=a=b'],
  ['--bogus'], ['-x'], ['-'], ['--port=1', '--port=2'], ['-p', '1', '--port', '2'], ['--PORT=22'], ['--deb'], ['--debug=false'],
];
const PLAY_ARGV: string[][] = [
  [], ['x.cast'], ['x.cast', 'y'], ['x.cast', '--format=text'], ['--format', 'json', 'x.cast'], ['--format=bogus', 'x.cast'], ['--format=TEXT', 'x.cast'],
  ['-c', 'f.yaml', 'id'], ['--speed=2', '--skip-idle-time', '--raw-escapes', '--verify', '--input', '--from=1m', 'x'], ['--', 'x.cast'], ['x.cast', '--'],
  ['--allowed-signers', 'f', 'x'], ['--data-dir=/d', 'x'], ['--speed', '-1', 'x'], ['--speed=abc', 'x'], ['--format=raw', '--input', 'x', '--debug'],
  ['-'], ['x', '-c'], ['--verify', '--verify', 'x'], ['--bogus', 'x'], ['-v', 'x'], ['--from=', 'x'],
];

describe('the fast path parser', () => {
  const cases: [string, Command.Class, string[][]][] = [
    ['ssh', Ssh, SSH_FLAGS],
    ['play', Play, PLAY_ARGV],
  ];
  for (const [id, cls, lines] of cases) {
    it(`parses tsh ${id} as oclif does, or leaves the command line to oclif`, async () => {
      const spec = fastSpecOf(cls)!;
      expect(spec).toBeDefined();
      let fast = 0;
      for (const argv of lines) {
        const mine = parseFast(spec, argv);
        if (!mine) continue;
        fast++;
        const theirs = await oclifParse(cls, argv);
        expect(theirs, argv.join(' ')).not.toBeInstanceOf(Error);
        expect(mine, argv.join(' ')).toEqual(theirs);
      }
      expect(fast).toBeGreaterThan(lines.length / 3);
    });
  }

  it('takes the plain command lines itself', () => {
    const ssh = fastSpecOf(Ssh)!;
    for (const argv of [[], ['--port=2222'], ['-p', '2222', '-l', 'root', '-t'], ['-A', '--proxy=h:3080', '--user=joe']]) expect(parseFast(ssh, argv), argv.join(' ')).toBeDefined();
    const play = fastSpecOf(Play)!;
    for (const argv of [['x.cast'], ['x.cast', '--format=text'], ['--speed', '4', '--skip-idle-time', 'id']]) expect(parseFast(play, argv), argv.join(' ')).toBeDefined();
  });

  it('leaves to oclif what it cannot be sure of', () => {
    const spec: FastCommandSpec = { strict: true, args: [], flags: { n: { kind: 'integer', min: 1, max: 9 }, x: { kind: 'other' } } };
    for (const argv of [['--n=0'], ['--n=10'], ['--n=+1'], ['--n=1.0'], ['--x=a'], ['stray'], ['--n', '1', '--n', '2']]) expect(parseFast(spec, argv), argv.join(' ')).toBeUndefined();
    expect(parseFast(spec, ['--n', '9'])).toEqual({ flags: { n: 9 }, args: {} });
  });

  it('leaves a whole command to oclif when a flag it cannot parse would matter even when absent', () => {
    const command = (flags: Command.Class['flags'], args: Command.Class['args'] = {}) =>
      class extends Command {
        static override flags = flags;
        static override args = args;
        async run(): Promise<void> {}
      };
    const custom = Flags.custom<number>({ parse: async (s) => Number(s) * 2 });
    expect(fastSpecOf(command({ n: Flags.string({ required: true }) }))).toBeUndefined();
    expect(fastSpecOf(command({ n: Flags.string({ env: 'N' }) }))).toBeUndefined();
    expect(fastSpecOf(command({ n: custom({ default: 2 }) }))).toBeUndefined();
    expect(fastSpecOf(command({ n: Flags.string({ default: async () => 'computed' }) }))).toBeUndefined();
    expect(fastSpecOf(command({ a: Flags.string({ exclusive: ['b'] }), b: Flags.string() }))).toBeUndefined();
    expect(fastSpecOf(command({}, { n: Args.integer() }))).toBeUndefined();
    // Harmless when absent: parsed by oclif only when given.
    const spec = fastSpecOf(command({ n: custom(), s: Flags.string({ default: 'd' }), b: Flags.boolean({ allowNo: true }) }))!;
    expect(spec.flags.n!.kind).toBe('other');
    expect(parseFast(spec, ['--n=1'])).toBeUndefined();
    expect(parseFast(spec, ['--no-b'])).toBeUndefined();
    expect(parseFast(spec, [])).toEqual({ flags: { s: 'd' }, args: {} });
  });

  it('splits tsh ssh at HOST as the command always did', () => {
    expect(splitSshArgv(['-p', '22', '--tty', 'root@n', 'ls', '-la'])).toEqual({ flagArgv: ['-p', '22', '--tty'], dest: 'root@n', rest: ['ls', '-la'] });
    expect(splitSshArgv(['--port=2', '--', '-weird-host', 'x'])).toEqual({ flagArgv: ['--port=2'], dest: '-weird-host', rest: ['x'] });
    expect(splitSshArgv(['-t'])).toEqual({ flagArgv: ['-t'], dest: undefined, rest: [] });
  });

  it('is built from the command classes (roots/tsh/fast-path.json, scripts/build.mjs)', () => {
    const built = JSON.parse(fs.readFileSync(path.join(ROOT, 'roots/tsh/fast-path.json'), 'utf8'));
    expect(built).toEqual({ ssh: fastSpecOf(Ssh), play: fastSpecOf(Play) });
  });
});
