// retention: output past the result's caps, kept on disk per tenant (within its budget, for an hour) so
// resources/read can give it whole; the only writer of those files.
export * from './store.js';
