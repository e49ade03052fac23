// cli: the composition root — the only place that reads argv and the environment, builds the Docker client, the
// event bus and its subscribers (metrics, audit), wires stdio and HTTP, and handles signals.
export * from './program.js';
