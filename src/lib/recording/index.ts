export * from './asciicast-writer.js';
