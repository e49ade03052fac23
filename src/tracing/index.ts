// tracing: OpenTelemetry spans built from the execution events and exported over OTLP/HTTP; the only importer of
// @opentelemetry, loaded by the composition root only when an endpoint is configured.
export * from './setup.js';
export * from './spans.js';
