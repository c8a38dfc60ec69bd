import path from 'node:path';
import { Background, run, spawnBackground, tmpDir, waitFor } from './proc.js';
import fs from 'node:fs';

/** A real OpenSSH ssh-agent on a private socket, in the foreground so the test can stop it. */
export class TestAgent {
  private constructor(readonly socket: string, private readonly proc: Background) {}

  static async start(): Promise<TestAgent> {
    const socket = path.join(tmpDir('tollgate-agent-'), 'agent.sock');
    const proc = spawnBackground('ssh-agent', ['-D', '-a', socket]);
    await waitFor(() => fs.existsSync(socket), 'ssh-agent socket');
    return new TestAgent(socket, proc);
  }

  /** `ssh-add -L` lines (empty when the agent has no identities). */
  async list(): Promise<string[]> {
    const r = await run('ssh-add', ['-L'], { env: { ...process.env, SSH_AUTH_SOCK: this.socket } });
    return r.code === 0 ? r.stdout.trim().split('\n').filter(Boolean) : [];
  }

  async stop(): Promise<void> {
    await this.proc.stop();
  }
}
