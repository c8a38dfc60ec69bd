/**
 * The audit log's event names (Teleport's where Teleport has one). Every event the code writes is
 * named here, so a typo is a type error and `tctl events ls --type=` has one list to match.
 */
export const AuditEvents = {
  userCreate: 'user.create',
  userDelete: 'user.delete',
  userReset: 'user.reset',
  userSignup: 'user.signup',
  userLogin: 'user.login',
  userLocked: 'user.locked',
  /** tctl users unlock: a web login lockout cleared, credentials kept. */
  userUnlock: 'user.unlock',
  /** tctl lock (Teleport's lock.created / lock.deleted): refuses and ends matching sessions. */
  lockCreate: 'lock.created',
  lockDelete: 'lock.deleted',
  userUpdate: 'user.update',
  certCreate: 'cert.create',
  /** A node added to the inventory (tctl nodes add, or a join), or removed. */
  nodeCreate: 'node.create',
  nodeDelete: 'node.delete',
  /** A node redeemed a join token (success: true), or tried to (success: false, with the reason). */
  nodeJoin: 'node.join',
  joinTokenCreate: 'join_token.create',
  /** A failed SSH authentication at the proxy. */
  auth: 'auth',
  /** A port, X11 or agent forwarding request (refused unless allowed). */
  port: 'port',
  sessionStart: 'session.start',
  sessionEnd: 'session.end',
  sessionRejected: 'session.rejected',
  exec: 'exec',
  /** A file operation in an sftp channel (scp and sftp), read by the passive SFTP parser. */
  sftp: 'sftp',
  resize: 'resize',
  /** A command line submitted at a shell prompt (the search indexer reads it off the screen). */
  sessionCommand: 'session.command',
  /** An optional tap (live view, indexer) fell behind and was dropped from a session. */
  sessionTapDropped: 'session.tap_dropped',
  /** A non-PTY exec reached auth_service.max_exec_recording_size: the session was ended (recording is mandatory). */
  sessionRecordingLimit: 'session.recording_limit',
  sessionAccessDenied: 'session.access_denied',
  /** Someone attached to a running session (tsh join): observer or peer. */
  sessionJoin: 'session.join',
  sessionLeave: 'session.leave',
  sessionReplay: 'session.replay',
  sessionExport: 'session.export',
  /** A recording's signed checkpoint, anchored off the data path: sid, cp, bytes, chain (recording/anchors.ts). */
  recordingCheckpoint: 'recording.checkpoint',
} as const;

export type AuditEventName = (typeof AuditEvents)[keyof typeof AuditEvents];
