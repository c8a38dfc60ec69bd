/*
 * Label values for reasons. Audit reasons are free text that can name users, hosts and
 * addresses ("certificate does not allow \"bob\""), which would give Prometheus one series per
 * user: each reason is mapped onto a fixed set of categories, with `other` for the rest, so the
 * number of series stays bounded whatever the traffic.
 */

type Rule = readonly [RegExp, string];

const AUTH_RULES: readonly Rule[] = [
  [/authentication is not accepted/i, 'method_not_accepted'],
  [/inner certificate is for/i, 'inner_user_mismatch'],
  [/does not allow|not allowed|login/i, 'login_not_allowed'],
  [/expired|not yet valid|valid_?before|valid_?after/i, 'certificate_expired'],
  [/locked/i, 'user_locked'],
  [/password|otp|second factor|token/i, 'bad_credentials'],
  [/signature/i, 'bad_signature'],
  [/not signed|certificate authority|\bca\b|not a certificate|certificate/i, 'bad_certificate'],
  [/no such user|unknown user|not found|deleted|does not exist/i, 'unknown_user'],
];

const REJECT_RULES: readonly Rule[] = [
  [/shutting down/i, 'shutting_down'],
  [/too many/i, 'connection_limit'],
  [/allowed_targets|may not connect/i, 'target_not_allowed'],
  [/invalid node name|not a target|no target/i, 'invalid_target'],
  [/host key|host certificate|known_hosts/i, 'node_host_key'],
  [/cannot connect|cannot resolve|ECONNREFUSED|EHOSTUNREACH|ETIMEDOUT|timed out|unreachable/i, 'node_unreachable'],
  [/agent/i, 'no_agent_forwarding'],
  [/locked|deleted|reset|revoked/i, 'user_revoked'],
  [/login|not allowed|principal/i, 'login_not_allowed'],
  [/expired/i, 'certificate_expired'],
  [/record/i, 'recording_failed'],
  [/forward|tunnel|x11/i, 'forwarding_refused'],
];

function classify(rules: readonly Rule[], reason: unknown): string {
  if (typeof reason !== 'string' || reason === '') return 'unknown';
  for (const [re, label] of rules) if (re.test(reason)) return label;
  return 'other';
}

/** A failed authentication's reason as one of a fixed set of label values. */
export const authFailureLabel = (reason: unknown): string => classify(AUTH_RULES, reason);

/** A refused session's reason as one of a fixed set of label values. */
export const rejectionLabel = (reason: unknown): string => classify(REJECT_RULES, reason);

/**
 * A label taken from code-defined names (tap names, certificate types, session kinds): those are
 * few, but an unexpected value must still not grow the series without bound.
 */
export function boundedLabel(seen: Set<string>, value: unknown, max = 16): string {
  const v = typeof value === 'string' && /^[a-z0-9_.-]{1,32}$/i.test(value) ? value : 'other';
  if (seen.has(v)) return v;
  if (seen.size >= max) return 'other';
  seen.add(v);
  return v;
}
