/** The recording part's public surface: what other folders may use. */
export { type CastEvent, type CastItem, readCast, readCastBatches } from './asciicast-reader.js';
export { type AsciicastHeader, AsciicastWriter, type StreamTotals, type WriterOptions, type WriterTotals } from './asciicast-writer.js';
export { exportMeta } from './export-meta.js';
export { writeHtmlExport } from './html-export.js';
export { chainPath, RECORDING_INTERRUPTED_NAMESPACE, RECORDING_NAMESPACE, type RecordingSigner, sigPath } from './integrity.js';
export { binPath } from './binary-sidecar.js';
export { PlaybackControl, playJson, type PlayOptions, playRaw, playText, playTimed } from './player.js';
export { sealedOf, sessionColumns, sessionJson, type SessionJson, sessionToJson } from './session-json.js';
export { ActiveRecording, auditSessionStart, RecordingStopped, RECORDINGS_DIR, RecordingService, type RecordingServiceOptions, type SessionEnd, type SessionMeta } from './session-recorder.js';
export { LocalDirStorage, type RecordingStorage, SharedStoreStorage } from './storage.js';
export { blobFromAllowedSigners, VERDICT_EXIT_CODES, type VerifyJson, verifyRecording, type VerifyResult, verifyResultToJson, withAnchorCheck } from './verify.js';
export { type AnchorCheck, anchorFromFields, checkAnchors, type RecordingAnchor } from './anchors.js';
export { type CastWriter, createWriterPool, inThreadWriters, type WriterPool } from './writer-pool.js';
