// obs: logging, metrics and audit; nothing here decides behaviour.
export * from './audit.js';
export * from './logger.js';
export * from './metrics.js';
