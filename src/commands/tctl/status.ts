import { adminRoutes } from '../../lib/api/index.js';
import { AdminCommand } from '../../cli/admin-command.js';
import { formatFlag } from '../../cli/base-command.js';

export default class Status extends AdminCommand {
  static override summary = 'Show the cluster: name, version, CAs, users, and whether certificates are pinned to the proxy.';
  static override flags = { format: formatFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(Status);
    const s = await this.adminClient(flags).call(adminRoutes.status);
    if (flags.format === 'json') {
      this.out(JSON.stringify(s, null, 2));
      return;
    }
    const rows: [string, string][] = [
      ['Cluster', s.cluster_name],
      ['Version', s.version],
      ['Roles', s.roles.join(',')],
      ['Data dir', s.data_dir],
      ['Started', s.started_at],
      ['Users', String(s.users)],
      ['Proxy address', s.public_web_addr],
      // What tsh login shows for a proxy whose certificate it cannot verify; users compare the two.
      ['Proxy TLS pin', s.web_tls_pin ? `${s.web_tls_pin} (tsh login --fingerprint=${s.web_tls_pin})` : 'none (no proxy in this process)'],
      ['User CA', s.user_ca.fingerprint],
      ['Host CA', s.host_ca.fingerprint],
      ['OpenSSH CA', s.openssh_ca.fingerprint],
      ['Source pinning', s.certs_pinned ? s.cert_source_addresses.join(',') : 'off'],
      ['Recording', s.session_recording === 'off' ? 'off (session_recording: off: sessions are audited, not recorded)' : 'at the proxy'],
      ['Registered nodes', s.nodes.length ? `${s.nodes.length}, agentless: direct logins impossible` : 'none (tctl tokens add --type=node, then teleport join openssh on the node)'],
      ['Other targets', unregisteredMode(s.unregistered_nodes, s.certs_pinned)],
      ...(s.ssh_workers ? [['SSH workers', `${s.ssh_workers.listening} of ${s.ssh_workers.configured} accepting connections (teleport.workers)`] as [string, string]] : []),
    ];
    const w = Math.max(...rows.map(([k]) => k.length), ...s.nodes.map((n) => n.name.length + 2)) + 1;
    const lines = rows.map(([k, v]) => `${`${k}:`.padEnd(w)} ${v}`);
    // Per node, which mode protects it (every registered node is agentless).
    for (const n of s.nodes) {
      // A node added by hand was never checked: only a join proves its sshd trusts the OpenSSH CA alone.
      const mode = n.joined ? 'agentless: direct logins impossible' : 'agentless (added by hand: check that its sshd trusts only the OpenSSH CA)';
      lines.push(`  ${`${n.name}:`.padEnd(w)} ${n.addr}, ${mode}`);
    }
    this.out(lines.join('\n'));
    if (s.session_recording === 'off') process.stderr.write('WARNING: session recording is off (auth_service.session_recording: off)\n');
    if (!s.certs_pinned) {
      process.stderr.write('WARNING: user certificates are not pinned to the proxy (auth_service.cert_source_addresses): users can bypass recording by connecting to nodes directly\n');
    }
  }
}

function unregisteredMode(mode: 'legacy' | 'refused', pinned: boolean): string {
  if (mode === 'refused') return 'refused (proxy_service.allow_unregistered_nodes: no)';
  return pinned ? 'legacy agent forwarding, certificates pinned to the proxy (cert_source_addresses)' : 'legacy agent forwarding: pin certificates with cert_source_addresses';
}
