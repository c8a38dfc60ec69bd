#!/usr/bin/env node
// `npm run demo`: the seed's tutorial on loopback, step by step, as a newcomer would type it.
// Starts the daemon on a temporary data dir and a local OpenSSH sshd (as the current user, no
// root needed) that trusts the exported user CA; adds a user, completes the signup, logs in with
// tsh (answering its prompt through a pseudo-terminal), runs a recorded session, lists it and
// plays it back. Everything it starts is stopped and its temporary directory removed at the end
// (pass --keep to leave it running until Ctrl-C, e.g. to open the web UI).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const keep = process.argv.includes('--keep');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tollgate-demo-'));
const procs = [];
const login = os.userInfo().username;
const password = 'demo password for the tutorial';
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (cmd, note) => console.log(`\n${bold(`$ ${cmd}`)}${note ? `   # ${note}` : ''}`);

const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

function bin(name, args, env = {}) {
  return execFileSync(process.execPath, [path.join(top, 'bin', name), ...args], { cwd: top, env: { ...process.env, ...env }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function background(cmd, args, env = {}) {
  const p = spawn(cmd, args, { cwd: top, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (out += d));
  procs.push(p);
  return { p, output: () => out };
}

async function waitFor(what, check, ms = 20_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function post(port, p, body) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: p, method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let t = '';
      res.on('data', (d) => (t += d));
      res.on('end', () => (res.statusCode < 400 ? resolve(t) : reject(new Error(`signup failed: ${t}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function main() {
  if (!fs.existsSync('/usr/sbin/sshd')) throw new Error('the demo needs OpenSSH\'s sshd: apt-get install openssh-server');
  const [web, ssh, node] = [await freePort(), await freePort(), await freePort()];
  const data = path.join(work, 'data');
  const config = path.join(work, 'teleport.yaml');
  fs.writeFileSync(
    config,
    `teleport:\n  data_dir: ${data}\nauth_service:\n  cluster_name: demo.local\n  authentication:\n    second_factor: off\nproxy_service:\n  web_listen_addr: 127.0.0.1:${web}\n  listen_addr: 127.0.0.1:${ssh}\n`,
  );
  const tsh = { TELEPORT_HOME: path.join(work, 'tsh') };

  step(`teleport start -c ${config}`, 'auth service, web proxy and SSH recording proxy');
  const daemon = background(process.execPath, [path.join(top, 'bin/teleport'), 'start', '-c', config]);
  await waitFor('the daemon', () => daemon.output().includes('ssh proxy listening'));
  console.log(`listening: https://127.0.0.1:${web} (web), 127.0.0.1:${ssh} (SSH)`);

  step(`tctl users add demo ${login} -c ${config}`);
  const added = JSON.parse(bin('tctl', ['users', 'add', 'demo', login, '-c', config, '--format=json']));
  console.log(`signup URL: ${added.url.replace(/^https:\/\/[^/]+/, `https://127.0.0.1:${web}`)}`);

  step(`tctl auth export --type=user > user_ca.pub`, 'the node trusts the user CA (TrustedUserCAKeys)');
  fs.writeFileSync(path.join(work, 'user_ca.pub'), bin('tctl', ['auth', 'export', '--type=user', '-c', config]));
  step('tctl auth sign --host=localhost,127.0.0.1 --format=openssh -o node_host', 'and presents a host certificate');
  bin('tctl', ['auth', 'sign', '--host=localhost,127.0.0.1', '--format=openssh', '-o', path.join(work, 'node_host'), '-c', config]);
  fs.mkdirSync(path.join(work, 'home'));
  fs.writeFileSync(
    path.join(work, 'sshd_config'),
    [`Port ${node}`, 'ListenAddress 127.0.0.1', `HostKey ${work}/node_host`, `HostCertificate ${work}/node_host-cert.pub`, `TrustedUserCAKeys ${work}/user_ca.pub`, 'AuthorizedKeysFile none', 'PasswordAuthentication no', 'UsePAM no', 'StrictModes no', 'PidFile none', 'Subsystem sftp internal-sftp', `SetEnv HOME=${work}/home`, ''].join('\n'),
  );
  if (process.getuid?.() === 0) fs.mkdirSync('/run/sshd', { recursive: true });
  const sshd = background('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(work, 'sshd_config')]);
  await waitFor('sshd', () => sshd.output().includes('Server listening'));
  console.log(`an OpenSSH node on 127.0.0.1:${node}`);

  step(`open ${added.url.split('/web/')[0]}/web/invite/…`, 'the demo sets the password on the signup page for you');
  await post(web, `/webapi/invites/${added.token}`, { password });

  step('eval "$(ssh-agent)"');
  const agentSock = path.join(work, 'agent.sock');
  background('ssh-agent', ['-D', '-a', agentSock]);
  await waitFor('ssh-agent', () => fs.existsSync(agentSock));
  const env = { ...tsh, SSH_AUTH_SOCK: agentSock };

  step(`tsh login --proxy=127.0.0.1:${web} --insecure --user=demo`, 'the demo types the password at the prompt');
  const tshCmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(top, 'bin/tsh'))} login --proxy=127.0.0.1:${web} --insecure --user=demo`;
  const loginOut = await new Promise((resolve, reject) => {
    const p = spawn('script', ['-qec', tshCmd, '/dev/null'], { cwd: top, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Enter password') && !p.typed) {
        p.typed = true;
        p.stdin.write(`${password}\r`);
      }
    });
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`tsh login failed:\n${out}`))));
  });
  console.log(loginOut.slice(loginOut.indexOf('> Profile URL')).replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').trim());

  step('ssh-add -L');
  console.log(execFileSync('ssh-add', ['-L'], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim().replace(/^(\S+ \S{40})\S+/, '$1…'));

  const cmd = `echo "hello from $(hostname), recorded by tollgate"; uname -sr`;
  step(`tsh ssh --port=${node} ${login}@127.0.0.1 '${cmd}'`);
  process.stdout.write(bin('tsh', ['ssh', `--port=${node}`, `${login}@127.0.0.1`, cmd], env));

  step('tsh recordings ls');
  process.stdout.write(bin('tsh', ['recordings', 'ls'], env));
  const [rec] = JSON.parse(bin('tsh', ['recordings', 'ls', '--format=json'], env));

  step(`tsh play ${rec.id}`);
  process.stdout.write(bin('tsh', ['play', rec.id], env));
  console.log(`\nweb player: https://127.0.0.1:${web}/web/sessions/${rec.id} (user demo, password "${password}")`);
  console.log(`\nThe demo worked: recording ${rec.id}, ${rec.bytes_out} bytes of output, exit status ${rec.exit_status}.`);
  if (keep) {
    console.log('--keep: everything stays up until Ctrl-C');
    await new Promise((r) => process.once('SIGINT', r));
  }
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  console.error(`\nERROR: ${err.message}`);
} finally {
  for (const p of procs.reverse()) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  fs.rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
