import { createAdminInputs, startConductor, type AdminInputs, type Conductor } from '../conductor/index.js';
import { readSettings, type ConductorSettings } from '../config/env.js';
import { createEventStream, type EventStream, type ExecutionEvent } from '../core/index.js';
import { createDockerClient, type DockerPort } from '../docker/index.js';
import { createLogger, type Logger } from '../obs/index.js';
import { conductorPaths, policiesDir, version } from './paths.js';

/** What every command builds first from the process's environment: the only place `process.env` is read. */
export interface Basics {
  env: Record<string, string | undefined>;
  settings: ConductorSettings;
  logger: Logger;
  docker: DockerPort;
  inputs: AdminInputs;
  /** every execution's events; a listener that throws is a bug, logged as such */
  bus: EventStream<ExecutionEvent>;
}

export function basics(env: Record<string, string | undefined> = process.env): Basics {
  const settings = readSettings(env);
  const logger = createLogger(settings.logLevel);
  for (const notice of settings.notices) logger.warn(notice);
  return {
    env,
    settings,
    logger,
    docker: createDockerClient(),
    inputs: createAdminInputs(settings, env, policiesDir),
    bus: createEventStream<ExecutionEvent>((err) =>
      logger.error({ err }, 'an execution event listener failed'),
    ),
  };
}

/** The conductor every serving command starts from its basics; only the warm pool's default size differs. */
export function startFromBasics(b: Basics, defaultPoolSize: number): Promise<Conductor> {
  const { docker, settings, inputs, logger, bus } = b;
  return startConductor({
    docker,
    settings,
    inputs,
    paths: conductorPaths(settings),
    logger,
    bus,
    defaultPoolSize,
    version,
  });
}
