export * from './asciicast-reader.js';
export * from './asciicast-writer.js';
export * from './player.js';
export * from './session-recorder.js';
