import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OmlmdError } from '../../src/core/errors';
import { parseManifestBytes } from '../../src/core/oci/types';

// Found by the property test: values whose toString is not callable must not crash the message.
test('hostile manifest values give an OmlmdError, never a TypeError', () => {
  const d = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:' + '0'.repeat(64), size: 1 };
  for (const doc of [{ schemaVersion: { toString: '' } }, { schemaVersion: 2, mediaType: { toString: 1 } }, { schemaVersion: 2, layers: [{ toString: '' }] }]) {
    assert.throws(() => parseManifestBytes(Buffer.from(JSON.stringify(doc)), d, 'x'), (e: unknown) => e instanceof OmlmdError, JSON.stringify(doc));
  }
});
