/** Sessions over every core: the daemon's SSH workers (node:cluster), their supervision and messages. */
export { isToPrimary, isToWorker, WORKER_CONFIG_ENV, WORKER_SECRET_ENV, WORKER_SLOT_ENV, type ToPrimary, type ToWorker, type WatchEvent } from './messages.js';
export { MAX_RESTARTS, RESTART_WINDOW_MS, WORKER_START_TIMEOUT_MS, WorkerPool, type WatchTarget, type WorkerPoolOptions } from './worker-pool.js';
export { primaryConfig, serveWorker, tellPrimary, workerSecret, workerSlot, type WorkerHandlers } from './worker-side.js';
export { localRecordingChunks } from './local-chunks.js';
export { handOverJoin, joinSocketPath, serveJoinBridge, type BridgedIdentity, type BridgedJoin, type JoinBridgeServer } from './join-bridge.js';
export { ClusterDirectory } from './cluster-directory.js';
