// obs: logging, metrics and audit; nothing here decides behaviour.
export * from './logger.js';
