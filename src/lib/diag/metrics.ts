import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { AuditEvent, QueryTiming } from '../store/index.js';
import { authFailureLabel, boundedLabel, rejectionLabel } from './labels.js';

/*
 * The daemon's Prometheus metrics. Names follow Teleport's where it has one (noted beside each),
 * under tollgate's own prefix. Nothing here is called from the relay's hot path: session bytes
 * come from an optional tap (batched on a later turn, dropped rather than waited for), audit
 * counts from the auditor's observer, query times from Kysely's own timing. No label carries a
 * user name, a session id or an address.
 */

/** The session events the metrics tap reads (a structural subset of the proxy's TapEvent). */
export interface MetricsTapEvent {
  type: string;
  data?: Buffer;
}

/** An optional session tap that counts (a TapConsumer for the proxy's pipeline). */
export interface MetricsTap {
  readonly name: string;
  deliver(events: readonly MetricsTapEvent[]): void;
  close(): void;
}

export const METRICS_TAP = 'metrics';

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly kinds = new Set<string>();
  private readonly taps = new Set<string>();
  private readonly certTypes = new Set<string>();

  // Teleport: proxy_ssh_sessions_total / server_interactive_sessions_total (gauges of sessions now).
  private readonly active = new Gauge({ name: 'tollgate_sessions_active', help: 'Sessions being relayed and recorded now, by kind (shell, exec, sftp).', labelNames: ['kind'], registers: [this.registry] });
  private readonly started = new Counter({ name: 'tollgate_sessions_started_total', help: 'Sessions that reached the relay, by kind.', labelNames: ['kind'], registers: [this.registry] });
  private readonly ended = new Counter({ name: 'tollgate_sessions_ended_total', help: 'Sessions that ended after being relayed, by kind.', labelNames: ['kind'], registers: [this.registry] });
  private readonly rejected = new Counter({ name: 'tollgate_sessions_rejected_total', help: 'Sessions and connections refused, by reason category (session.rejected audit events).', labelNames: ['reason'], registers: [this.registry] });
  private readonly bytes = new Counter({ name: 'tollgate_session_bytes_total', help: 'Session bytes relayed: direction="out" node to client, "in" client to node.', labelNames: ['direction'], registers: [this.registry] });
  private readonly recordingBytes = new Counter({ name: 'tollgate_recording_bytes_written_total', help: 'Bytes written to recording files (.cast, .bin and .chain).', registers: [this.registry] });
  private readonly recordingLag = new Histogram({
    name: 'tollgate_recording_write_lag_seconds',
    help: 'Time a recording write waited in the queue before it reached the file.',
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly tapsDropped = new Counter({ name: 'tollgate_session_taps_dropped_total', help: 'Optional session taps dropped for falling behind or failing, by tap.', labelNames: ['tap'], registers: [this.registry] });
  // Teleport: failed_login_attempts_total.
  private readonly failedLogins = new Counter({ name: 'tollgate_failed_login_attempts_total', help: 'Failed authentications: kind="ssh" at the proxy, "web" at tsh login, by reason category.', labelNames: ['kind', 'reason'], registers: [this.registry] });
  // Teleport: auth_generate_requests_total.
  private readonly certs = new Counter({ name: 'tollgate_certificates_generated_total', help: 'Certificates issued, by type (user, host).', labelNames: ['type'], registers: [this.registry] });
  // Teleport: backend_read_seconds / backend_write_seconds.
  private readonly queries = new Histogram({
    name: 'tollgate_store_query_duration_seconds',
    help: 'Store query latency, by backend and outcome.',
    labelNames: ['backend', 'outcome'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  constructor(o: { version: string; backend: string; shipperBacklog?: () => number }) {
    // process_cpu_seconds_total, process_resident_memory_bytes, nodejs_* (Teleport exports the Go equivalents).
    collectDefaultMetrics({ register: this.registry });
    // `max`: summed over SSH workers it would be N + 1, not 1.
    new Gauge({ name: 'tollgate_build_info', help: 'Always 1; the version is a label.', labelNames: ['version'], registers: [this.registry], aggregator: 'max' }).set({ version: o.version }, 1);
    if (o.shipperBacklog) {
      const backlog = o.shipperBacklog;
      new Gauge({
        name: 'tollgate_recording_upload_backlog_bytes',
        help: 'Recording bytes in the spool not yet shipped to PostgreSQL.',
        registers: [this.registry],
        collect() {
          this.set(backlog());
        },
      });
    }
    this.backend = o.backend;
    for (const kind of ['shell', 'exec', 'sftp']) {
      // Zero series exist from the start, so `rate()` and alerts see them before the first session.
      this.active.set({ kind }, 0);
      this.started.inc({ kind }, 0);
      this.ended.inc({ kind }, 0);
      this.kinds.add(kind);
    }
    for (const direction of ['in', 'out']) this.bytes.inc({ direction }, 0);
  }

  private readonly backend: string;

  /** The tap the proxy adds to each session: counts it as active until it ends, and its bytes. */
  sessionTap(kind: string): MetricsTap {
    const k = boundedLabel(this.kinds, kind, 8);
    this.started.inc({ kind: k });
    this.active.inc({ kind: k });
    let open = true;
    return {
      name: METRICS_TAP,
      deliver: (events) => {
        let out = 0;
        let inp = 0;
        for (const e of events) {
          if (e.type === 'output') out += e.data?.length ?? 0;
          else if (e.type === 'input') inp += e.data?.length ?? 0;
        }
        if (out) this.bytes.inc({ direction: 'out' }, out);
        if (inp) this.bytes.inc({ direction: 'in' }, inp);
      },
      close: () => {
        // Once: a dropped tap is closed by the pipeline and not again at the session's end.
        if (!open) return;
        open = false;
        this.active.dec({ kind: k });
        this.ended.inc({ kind: k });
      },
    };
  }

  /** The auditor's observer: counts the events that are metrics too. */
  observeAudit(e: AuditEvent): void {
    const f = e.fields;
    switch (e.event) {
      case 'session.rejected':
        this.rejected.inc({ reason: rejectionLabel(f.reason) }, typeof f.count === 'number' && f.count > 0 ? f.count : 1);
        break;
      case 'auth':
        // An aggregated event (a flood from one source) stands for `count` failures.
        this.failedLogins.inc({ kind: 'ssh', reason: authFailureLabel(f.aggregated ? (f.reasons as string[] | undefined)?.[0] : f.reason) }, typeof f.count === 'number' && f.count > 0 ? f.count : 1);
        break;
      case 'user.login':
        if (f.success === false) this.failedLogins.inc({ kind: 'web', reason: authFailureLabel(f.reason) });
        break;
      case 'cert.create':
        this.certs.inc({ type: boundedLabel(this.certTypes, f.cert_type, 4) });
        break;
      case 'session.tap_dropped':
        this.tapsDropped.inc({ tap: boundedLabel(this.taps, f.tap) });
        break;
    }
  }

  /**
   * The exposition of this registry and the SSH workers' (their getMetricsAsJSON()), aggregated
   * as prom-client's cluster mode does: counters, gauges and histograms summed (sessions, bytes,
   * process CPU and memory of every process), except where a metric says otherwise (build_info:
   * max; process start time: left out; event loop lag: averaged).
   */
  async text(workers: readonly unknown[][]): Promise<string> {
    const own = await this.registry.getMetricsAsJSON();
    const all = [own, ...workers] as Array<Array<MetricObjectWithValues<MetricValue<string>>>>;
    return AggregatorRegistry.aggregate(all).metrics();
  }

  /** The store's query observer. */
  observeQuery(q: QueryTiming): void {
    this.queries.observe({ backend: this.backend, outcome: q.failed ? 'error' : 'ok' }, q.ms / 1000);
  }

  /** The recorder's write observer. */
  observeRecordingWrite(bytes: number, lagMs: number): void {
    this.recordingBytes.inc(bytes);
    this.recordingLag.observe(lagMs / 1000);
  }
}
