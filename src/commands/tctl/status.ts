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
      ['User CA', s.user_ca.fingerprint],
      ['Host CA', s.host_ca.fingerprint],
      ['Source pinning', s.certs_pinned ? s.cert_source_addresses.join(',') : 'off'],
      ['Recording', s.session_recording === 'off' ? 'off (session_recording: off: sessions are audited, not recorded)' : 'at the proxy'],
    ];
    const w = Math.max(...rows.map(([k]) => k.length)) + 1;
    this.out(rows.map(([k, v]) => `${`${k}:`.padEnd(w)} ${v}`).join('\n'));
    if (s.session_recording === 'off') process.stderr.write('WARNING: session recording is off (auth_service.session_recording: off)\n');
    if (!s.certs_pinned) {
      process.stderr.write('WARNING: user certificates are not pinned to the proxy (auth_service.cert_source_addresses): users can bypass recording by connecting to nodes directly\n');
    }
  }
}
