import { describe, expect, it } from 'vitest';
import { parseCount, parseDurationMs } from './options.js';

describe('serve option parsers', () => {
  it('reads durations as milliseconds unless a unit says otherwise', () => {
    expect(parseDurationMs('120000', 'grace')).toBe(120_000);
    expect(parseDurationMs('250ms', 'grace')).toBe(250);
    expect(parseDurationMs('30s', 'grace')).toBe(30_000);
    expect(parseDurationMs('1.5s', 'grace')).toBe(1_500);
    expect(parseDurationMs('2m', 'grace')).toBe(120_000);
    expect(parseDurationMs('1H', 'grace')).toBe(3_600_000);
  });

  it('refuses what is not a duration, or out of range, naming the option', () => {
    expect(() => parseDurationMs('soon', 'grace')).toThrow(/grace must be a duration/);
    expect(() => parseDurationMs('-5s', 'grace')).toThrow(/grace must be a duration/);
    expect(() => parseDurationMs('10d', 'grace')).toThrow(/grace must be a duration/);
    expect(() => parseDurationMs('10', '--session-idle-timeout', 1000)).toThrow(
      /--session-idle-timeout must be between 1000 ms/,
    );
    expect(() => parseDurationMs('25h', 'grace')).toThrow(/between 0 ms and 86400000 ms/);
  });

  it('reads whole counts within bounds', () => {
    expect(parseCount('1000', 'max sessions', 1, 100_000)).toBe(1000);
    expect(() => parseCount('0', 'max sessions', 1, 100_000)).toThrow(/from 1 to 100000/);
    expect(() => parseCount('2.5', 'max sessions', 1, 100_000)).toThrow(/whole number/);
  });
});
