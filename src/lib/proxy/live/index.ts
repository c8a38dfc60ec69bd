/** Live sessions: the registry of running sessions, their terminal state, and tsh join. */
export { DEFAULT_MAX_VIEWERS, endedByAdminLine, LiveSession, LiveSessions, type JoinMode, type LiveSessionControls, type LiveSessionInfo, type Participant, type Viewer } from './live-sessions.js';
export { END_POLL_MS, LiveDirectory, REMOTE_END_WAIT_MS, type ActiveSession } from './live-directory.js';
export { joinRefusal, serveJoin, VIEWER_BUFFER_BYTES, type JoinDeps, type JoinRequest } from './join.js';
export { TerminalScreen } from './screen.js';
export { createLiveScreenWorker, inThreadLiveScreens, type LiveScreen, type LiveScreenFactory, type LiveScreenWorker, type ScreenPaint } from './screen-host.js';
export { FOLLOW_POLL_MS, followShipped, type FollowerSink } from './shipped-follower.js';
