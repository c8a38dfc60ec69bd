/** The passive SFTP parser: file operations read from an sftp channel's two byte streams (no I/O). */
export { fileEventLabel, MAX_BUFFERED_PACKET, MAX_PACKET, SftpParser, type SftpFileEvent, type SftpParserOptions } from './sftp-parser.js';
