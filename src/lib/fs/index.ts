/** The fs part's public surface: what other folders may use. */
export { writeFileAtomic, writeFileAtomicStream, writeFilesAtomic } from './atomic-write.js';
