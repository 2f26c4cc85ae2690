import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseConfig } from '../../src/core/config';
import { OmlmdError } from '../../src/core/errors';
import { parseChallenges } from '../../src/core/oci/auth';
import { sha256 } from '../../src/core/oci/digest';
import { parseRetryAfter } from '../../src/core/oci/http';
import { MediaType } from '../../src/core/oci/mediatypes';
import { formatReference, parseReference, type Reference } from '../../src/core/oci/reference';
import { parseManifestBytes } from '../../src/core/oci/types';

const RUNS = { numRuns: 500 };

/** Runs `f`; only an OmlmdError may come out of it. */
function onlyOmlmdErrors(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof OmlmdError)) throw new Error(`threw ${String(e)} (${(e as Error)?.constructor?.name}), not an OmlmdError`);
  }
}

// ---- generators of valid parts -----------------------------------------------------------

const lowerAlnum = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split(''));
const alnumRun = fc.array(lowerAlnum, { minLength: 1, maxLength: 6 }).map((a) => a.join(''));
const separator = fc.constantFrom('.', '_', '__', '-', '--');
const component = fc.tuple(alnumRun, fc.array(fc.tuple(separator, alnumRun), { maxLength: 2 })).map(([head, rest]) => head + rest.map(([s, r]) => s + r).join(''));
const repository = fc.array(component, { minLength: 1, maxLength: 3 }).map((c) => c.join('/'));
const tagChar = fc.constantFrom(...'abcXYZ019_.-'.split(''));
const tag = fc.tuple(fc.constantFrom(...'aZ9_'.split('')), fc.array(tagChar, { maxLength: 20 })).map(([h, t]) => h + t.join(''));
const digest = fc.uint8Array({ minLength: 1, maxLength: 16 }).map((b) => sha256(Buffer.from(b)));
const host = fc.oneof(
  fc.tuple(alnumRun, alnumRun).map(([a, b]) => `${a}.${b}`),
  fc.integer({ min: 1, max: 65535 }).map((p) => `localhost:${p}`),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 65535 })).map(([o, p]) => `127.0.0.${o}:${p}`),
);

const registryRef: fc.Arbitrary<Reference> = fc.record({
  registry: host,
  repository,
  tag: fc.option(tag, { nil: undefined }),
  digest: fc.option(digest, { nil: undefined }),
}).map((r) => ({ kind: 'registry' as const, ...r }));

const descriptor = fc.record({
  mediaType: fc.constantFrom('application/x-mlmodel', 'application/octet-stream', MediaType.ociEmpty),
  digest,
  size: fc.nat(),
  annotations: fc.option(fc.dictionary(fc.string({ minLength: 1, maxLength: 10 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }), { nil: undefined }),
  // Through JSON, as a registry's bytes are: plain objects, no undefined fields.
}).map((d) => JSON.parse(JSON.stringify(d)) as Record<string, unknown>);

describe('property tests of the parsers (fast-check)', () => {
  it('parseReference never fails with anything but an OmlmdError, whatever the input', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => onlyOmlmdErrors(() => parseReference(s))), RUNS);
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 100 }), (s) => onlyOmlmdErrors(() => parseReference(s))), RUNS);
    const reffy = fc.array(fc.constantFrom('a', 'Z', '0', '.', ':', '/', '@', 'sha256:', 'oci:', '-', '_', '[', ']', ' ', '..'), { maxLength: 30 }).map((a) => a.join(''));
    fc.assert(fc.property(reffy, (s) => onlyOmlmdErrors(() => parseReference(s))), RUNS);
  });

  it('registry references round-trip: parse(format(r)) is r, and format(parse(s)) is s', () => {
    fc.assert(
      fc.property(registryRef, (ref) => {
        const text = formatReference(ref);
        const parsed = parseReference(text);
        assert.deepEqual(parsed, ref);
        assert.equal(formatReference(parsed), text);
      }),
      RUNS,
    );
  });

  it('local-store and layout references round-trip', () => {
    fc.assert(
      fc.property(repository, fc.option(tag, { nil: undefined }), fc.option(digest, { nil: undefined }), (repo, t, d) => {
        // A one-component name with a tag could read as a host only if it had a dot or colon before a slash; it has no slash here.
        const local: Reference = { kind: 'local', repository: repo, tag: t, digest: d };
        const text = formatReference(local);
        if (text.includes('/') && /[.:]|^localhost$/.test(text.slice(0, text.indexOf('/')))) return; // that spelling names a registry, by design
        assert.deepEqual(parseReference(text), local);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.array(alnumRun, { minLength: 1, maxLength: 3 }).map((p) => `/tmp/${p.join('/')}`), fc.option(tag, { nil: undefined }), (path, t) => {
        const layout: Reference = { kind: 'layout', path, tag: t, digest: undefined };
        assert.deepEqual(parseReference(formatReference(layout)), layout);
      }),
      RUNS,
    );
  });

  it('parseManifestBytes never fails with anything but an OmlmdError: random bytes, random JSON, broken manifests', () => {
    const where = 'test manifest';
    const desc = { mediaType: '', digest: sha256(''), size: 0 };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => onlyOmlmdErrors(() => parseManifestBytes(Buffer.from(b), desc, where))), RUNS);
    fc.assert(fc.property(fc.json({ maxDepth: 4 }), (j) => onlyOmlmdErrors(() => parseManifestBytes(Buffer.from(j), desc, where))), RUNS);
    // Near-manifests: the right keys with arbitrary values, where most crashes would hide.
    const nearly = fc.record(
      {
        schemaVersion: fc.oneof(fc.constant(2), fc.anything()),
        mediaType: fc.oneof(fc.constantFrom(MediaType.ociManifest, MediaType.ociIndex), fc.anything()),
        config: fc.oneof(descriptor, fc.anything()),
        layers: fc.oneof(fc.array(fc.oneof(descriptor, fc.anything()), { maxLength: 3 }), fc.anything()),
        manifests: fc.oneof(fc.array(fc.oneof(descriptor, fc.anything()), { maxLength: 3 }), fc.anything()),
        subject: fc.oneof(descriptor, fc.anything()),
        annotations: fc.anything(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(nearly, fc.constantFrom('', MediaType.ociManifest, MediaType.ociIndex), (doc, mt) => {
        let text: string | undefined;
        try {
          text = JSON.stringify(doc);
        } catch {
          return; // BigInt and the like are not JSON
        }
        if (text === undefined) return;
        onlyOmlmdErrors(() => parseManifestBytes(Buffer.from(text), { ...desc, mediaType: mt }, where));
      }),
      RUNS,
    );
  });

  it('a valid manifest parses to what was written, and keeps its exact bytes', () => {
    fc.assert(
      fc.property(descriptor, fc.array(descriptor, { maxLength: 5 }), fc.integer({ min: 0, max: 4 }), (config, layers, indent) => {
        const m = { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers };
        const bytes = Buffer.from(JSON.stringify(m, null, indent));
        const got = parseManifestBytes(bytes, { mediaType: MediaType.ociManifest, digest: sha256(bytes), size: bytes.length }, 'm');
        assert.equal(got.kind, 'manifest');
        assert.ok(got.bytes.equals(bytes));
        assert.equal(got.descriptor.digest, sha256(bytes));
        if (got.kind === 'manifest') {
          assert.deepEqual(got.manifest.config, config);
          assert.deepEqual(got.manifest.layers, layers);
        }
      }),
      RUNS,
    );
  });

  it('WWW-Authenticate parsing never throws and reads back the parameters it was given', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => void parseChallenges(s)), RUNS);
    const value = fc.string({ maxLength: 30 }).filter((v) => !v.includes('"') && !v.includes('\\'));
    fc.assert(
      fc.property(value, value, repository, (realm, service, repo) => {
        const scope = `repository:${repo}:pull,push`;
        const [c] = parseChallenges(`Bearer realm="${realm}",service="${service}",scope="${scope}"`);
        assert.deepEqual(c, { scheme: 'bearer', params: { realm, service, scope } });
      }),
      RUNS,
    );
  });

  it('Retry-After: seconds and HTTP dates, never negative', () => {
    fc.assert(fc.property(fc.nat({ max: 100000 }), (n) => assert.equal(parseRetryAfter(String(n)), n * 1000)), RUNS);
    fc.assert(
      fc.property(fc.date({ min: new Date(2000, 0, 1), max: new Date(2100, 0, 1), noInvalidDate: true }), (d) => {
        const now = Date.UTC(2050, 0, 1);
        const ms = parseRetryAfter(d.toUTCString(), now);
        assert.equal(ms, Math.max(0, Math.floor(d.getTime() / 1000) * 1000 - now));
      }),
      RUNS,
    );
    fc.assert(fc.property(fc.string({ maxLength: 40 }), (s) => {
      const v = parseRetryAfter(s);
      assert.ok(v === undefined || v >= 0);
    }), RUNS);
  });

  it('the config file parser refuses any input with an OmlmdError, never a crash', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => onlyOmlmdErrors(() => parseConfig(s, 'config.yaml'))), RUNS);
    const yamlish = fc.array(fc.constantFrom('registries:', 'defaults:', '\n', '  ', 'a.io:', 'caFile: x', 'insecure: true', 'retries: -1', 'plainHttp: 1', '- x', '{', '"', ': '), { maxLength: 15 }).map((a) => a.join(''));
    fc.assert(fc.property(yamlish, (s) => onlyOmlmdErrors(() => parseConfig(s, 'config.yaml'))), RUNS);
  });
});
