export * from './asciicast-writer.js';
export * from './session-recorder.js';
