import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/index.js';
import { parseImageConfig } from './image-config.js';

describe('image config', () => {
  it('reads a tool as a name or as a program with paths and exclusions', () => {
    const c = parseImageConfig(
      {
        dependencies: ['npm:zod@^3', 'jsr:@std/csv@^1'],
        tools: [
          'jq',
          { program: 'git', paths: ['/usr/lib/git-core'], exclude: ['/usr/lib/git-core/scalar'] },
        ],
      },
      'image.json',
    );
    expect(c.tools).toEqual([
      { program: 'jq', paths: [], exclude: [] },
      { program: 'git', paths: ['/usr/lib/git-core'], exclude: ['/usr/lib/git-core/scalar'] },
    ]);
  });

  it('names every problem: relative or climbing paths, unknown keys, bad specifiers', () => {
    let message = '';
    try {
      parseImageConfig(
        {
          dependencies: ['https://example.com/x.ts'],
          tools: [{ program: 'git', paths: ['usr/lib', '/usr/../etc'], extra: true }],
        },
        'image.json',
      );
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'the image config image.json is invalid:',
      '- dependencies[0]: expected npm:name@range or jsr:@scope/name@range',
      '- tools[0].paths[0]: expected an absolute path',
      '- tools[0].paths[1]: must not contain ".."',
      '- tools[0]: Unrecognized key: "extra"',
    ]);
  });
});
