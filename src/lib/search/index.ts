/** Search inside recordings: screen lines and command lines from sessions, live (a tap) or from a `.cast`. */
export { reindexAll, reindexSession, type ReindexOptions, type ReindexResult } from './reindex.js';
export { createScreenWorker, inThreadScreens, type ScreenFactory, type ScreenSink, type ScreenWorker } from './screen-host.js';
export { ScreenLines, type ScreenCommand, type ScreenLine, type ScreenLinesOptions } from './screen-lines.js';
export { createSearchIndexer, MAX_INDEXED_LINES, PendingIndexWrites, type IndexerEvent, type SearchIndexer, type SearchIndexerOptions } from './session-indexer.js';
export { TextLines } from './text-lines.js';
