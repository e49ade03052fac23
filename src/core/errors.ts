/**
 * Expected operational failures. Each carries a stable string `code` so the edges (mcp/, http/, cli.ts) can map it
 * without string-matching messages. Messages are written for the person who has to act on them, and never include a
 * host path or Docker id when they can reach a client.
 */
export class AppError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

export class ConfigError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('config_invalid', message, options);
  }
}

export class DockerUnavailableError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('docker_unavailable', message, options);
  }
}

export class ImageMissingError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('image_missing', message, options);
  }
}

export class UpstreamError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('upstream_failed', message, options);
  }
}

export class SandboxError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('sandbox_failed', message, options);
  }
}

export class OverloadedError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('overloaded', message, options);
  }
}

/** A tenant's rate limit refused the call; the message names the limit and when a place frees. */
export class RateLimitError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('rate_limited', message, options);
  }
}

/** The caller gave up on an execution (a client's cancellation): it stops wherever it is. */
export class CancelledError extends AppError {
  constructor(message = 'The execution was cancelled.', options?: { cause?: unknown }) {
    super('cancelled', message, options);
  }
}

export function isAppError(error: unknown): error is AppError {
  return error instanceof AppError;
}

/** A playbook refused or missing: a bad name, one that does not exist, a cap, a policy that forbids creating. */
export class PlaybookError extends AppError {
  constructor(
    code: 'invalid_name' | 'not_found' | 'no_code' | 'exists' | 'too_large' | 'forbidden' | 'invalid',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}
