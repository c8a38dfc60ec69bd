/** The diag part's public surface: Prometheus metrics, readiness checks and their HTTP server. */
export { type DiagOptions, type DiagServer, startDiagServer } from './diag-server.js';
export { authFailureLabel, boundedLabel, rejectionLabel } from './labels.js';
export { DaemonMetrics, METRICS_TAP, type MetricsTap, type MetricsTapEvent } from './metrics.js';
export { CHECK_TIMEOUT_MS, type ReadinessCheck, type ReadinessReport, runChecks, writableDirCheck } from './readiness.js';
