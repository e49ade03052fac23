import { describe, expect, it } from 'vitest';
import { createOutputCollector, utf8Boundary } from './output.js';

const marker = Buffer.from('\x1eNONCE\x1e');

describe('output collector', () => {
  it('keeps at most maxBytes, counts everything and flags truncation', () => {
    const c = createOutputCollector(10, marker);
    for (let i = 0; i < 1000; i++) c.push(Buffer.from('abcdefghij'));
    expect(c.text()).toBe('abcdefghij');
    expect(c.totalBytes).toBe(10_000);
    expect(c.truncated).toBe(true);
  });

  it('finds a marker split across chunks and cuts it away', async () => {
    const c = createOutputCollector(100, marker);
    c.push(Buffer.from('hello\n\x1eNO'));
    c.push(Buffer.from('NCE\x1etrailing'));
    await c.markerSeen;
    expect(c.text()).toBe('hello\n');
    expect(c.truncated).toBe(false);
  });

  it('finds the marker after a flood past the cap', async () => {
    const c = createOutputCollector(4, marker);
    c.push(Buffer.alloc(1_000_000, 'x'));
    c.push(Buffer.concat([Buffer.from('yy'), marker]));
    await c.markerSeen;
    expect(c.text()).toBe('xxxx');
    expect(c.totalBytes).toBe(1_000_002);
    expect(c.truncated).toBe(true);
  });

  it('does not treat a partial marker as the end', () => {
    const c = createOutputCollector(100, marker);
    let seen = false;
    void c.markerSeen.then(() => (seen = true));
    c.push(Buffer.from('\x1eNONC'));
    c.push(Buffer.from('X\x1e'));
    return Promise.resolve().then(() => {
      expect(seen).toBe(false);
      expect(c.text()).toBe('\x1eNONCX\x1e');
    });
  });

  it('never cuts inside a UTF-8 character', () => {
    const c = createOutputCollector(5, marker);
    c.push(Buffer.from('ab€cd')); // € is 3 bytes: a b [e2 82 ac] → keep "ab€" = 5 bytes
    expect(c.text()).toBe('ab€');
    const d = createOutputCollector(4, marker);
    d.push(Buffer.from('ab€cd'));
    expect(d.text()).toBe('ab');
    expect(utf8Boundary(Buffer.from([0x61, 0xf0, 0x9f]))).toBe(1);
  });
});

describe('output collector stream', () => {
  const streamed = (c: ReturnType<typeof createOutputCollector>) => {
    const parts: Buffer[] = [];
    c.kept.subscribe((b) => parts.push(Buffer.from(b)));
    return () => Buffer.concat(parts).toString();
  };

  it('streams exactly the kept text, never the marker, even when it straddles chunks', async () => {
    const c = createOutputCollector(100, marker);
    const got = streamed(c);
    c.push(Buffer.from('line 1\nline 2\n\x1eNO'));
    expect(got()).toBe('line 1\nline 2\n');
    c.push(Buffer.from('NCE\x1eafter the marker'));
    await c.markerSeen;
    c.flush();
    expect(got()).toBe('line 1\nline 2\n');
    expect(got()).toBe(c.text());
  });

  it('hands on held bytes once they turn out not to be the marker', () => {
    const c = createOutputCollector(100, marker);
    const got = streamed(c);
    c.push(Buffer.from('a\x1eNON'));
    expect(got()).toBe('a');
    c.push(Buffer.from('sense'));
    expect(got()).toBe('a\x1eNONsense');
    c.push(Buffer.from('\x1e'));
    c.flush();
    expect(got()).toBe(c.text());
  });

  it('streams nothing past the cap', () => {
    const c = createOutputCollector(4, marker);
    const got = streamed(c);
    c.push(Buffer.from('abcdefgh'));
    c.push(Buffer.from('ijkl'));
    c.flush();
    expect(got()).toBe('abcd');
  });
});

describe('output collector, whole stream', () => {
  const passed = (c: ReturnType<typeof createOutputCollector>) => {
    const parts: Buffer[] = [];
    c.passed.subscribe((b) => parts.push(Buffer.from(b)));
    return () => Buffer.concat(parts).toString();
  };

  it('hands on every byte past the cap up to the marker, and nothing after it', async () => {
    const c = createOutputCollector(4, marker);
    const got = passed(c);
    c.push(Buffer.from('abcdefgh\x1eNO'));
    expect(got()).toBe('abcdefgh');
    c.push(Buffer.from('NCE\x1emore'));
    await c.markerSeen;
    c.push(Buffer.from('even more'));
    c.flush();
    expect(got()).toBe('abcdefgh');
    expect(c.text()).toBe('abcd');
  });

  it('hands on held bytes that were not the marker, on flush too', () => {
    const c = createOutputCollector(2, marker);
    const got = passed(c);
    c.push(Buffer.from('xyz\x1eNON'));
    expect(got()).toBe('xyz');
    c.push(Buffer.from('sense\x1eN'));
    expect(got()).toBe('xyz\x1eNONsense');
    c.flush();
    expect(got()).toBe('xyz\x1eNONsense\x1eN');
  });
});
