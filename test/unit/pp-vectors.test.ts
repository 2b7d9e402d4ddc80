// The public spec vectors (each checked against HAProxy) and our own, decoded whole and split at
// every byte offset: a header must decode the same however TCP cuts it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { decode } from '../../sidecar/proxy-protocol/decode.ts';
import { namedTlvs } from '../../sidecar/proxy-protocol/tlv.ts';
import type { DecodeResult } from '../../sidecar/proxy-protocol/types.ts';

interface Vector {
  name: string;
  hex: string;
  valid: boolean;
  code?: string;
  expect?: {
    version: number;
    command?: string;
    family?: string;
    src?: string;
    srcPort?: number;
    dst?: string;
    dstPort?: number;
    tlvs?: Record<string, unknown>;
    headerLength?: number;
  };
}

const load = (name: string) =>
  (JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8')) as { vectors: Vector[] })
    .vectors;
const vectors = [...load('proxy-protocol-vectors.json'), ...load('proxy-protocol-vectors-extra.json')];

/** Feeds the decoder the way the reader does: growing prefixes until it stops asking for more. */
function decodeInPieces(buf: Buffer, cuts: number[]): DecodeResult {
  let last: DecodeResult = { kind: 'need-more' };
  for (const end of [...cuts, buf.length]) {
    last = decode(buf.subarray(0, end));
    if (last.kind !== 'need-more') return last;
  }
  return last;
}

describe('PROXY protocol vectors', () => {
  test('there are at least 30 vectors, valid and invalid', () => {
    assert.ok(vectors.length >= 30, `only ${vectors.length} vectors`);
    assert.ok(vectors.some((v) => v.valid) && vectors.some((v) => !v.valid));
  });

  for (const v of vectors) {
    test(v.name, () => {
      const bytes = Buffer.from(v.hex, 'hex');
      // Application bytes after the header must never be consumed.
      const payload = Buffer.from('GET / HTTP/1.1\r\n\r\n');
      const r = decode(Buffer.concat([bytes, payload]));
      if (!v.valid) {
        assert.equal(r.kind, 'error', `expected an error, got ${r.kind}`);
        if (r.kind === 'error' && v.code) assert.equal(r.error.code, v.code);
        return;
      }
      assert.equal(r.kind, 'header', r.kind === 'error' ? `${r.error.code}: ${r.error.message}` : r.kind);
      if (r.kind !== 'header') return;
      const e = v.expect!;
      assert.equal(r.consumed, e.headerLength ?? bytes.length, 'consumed exactly the header');
      assert.equal(r.header.version, e.version);
      if (e.command) assert.equal(r.header.command, e.command);
      if (e.family) assert.equal(r.header.family, e.family);
      if (e.src) assert.deepEqual(r.header.source, { address: e.src, port: e.srcPort });
      if (e.dst) assert.deepEqual(r.header.destination, { address: e.dst, port: e.dstPort });
      if (e.tlvs) {
        const named = namedTlvs(r.header.tlvs) as Record<string, unknown>;
        for (const [k, want] of Object.entries(e.tlvs)) assert.deepEqual(named[k], want, `TLV ${k}`);
      }
    });
  }

  test('every vector decodes the same when split at every byte offset', () => {
    let checked = 0;
    for (const v of vectors) {
      const bytes = Buffer.concat([Buffer.from(v.hex, 'hex'), Buffer.from('payload')]);
      const whole = decode(bytes);
      for (let cut = 1; cut < bytes.length; cut++) {
        const r = decodeInPieces(bytes, [cut]);
        assert.deepEqual(summary(r), summary(whole), `${v.name} split at ${cut}`);
        checked++;
      }
      // And one byte at a time.
      const cuts = Array.from({ length: bytes.length }, (_, i) => i + 1);
      assert.deepEqual(summary(decodeInPieces(bytes, cuts)), summary(whole), `${v.name} byte by byte`);
    }
    assert.ok(checked > 1000);
  });
});

function summary(r: DecodeResult) {
  if (r.kind === 'header') return { kind: r.kind, consumed: r.consumed, header: r.header };
  if (r.kind === 'error') return { kind: r.kind, code: r.error.code };
  return { kind: r.kind };
}
