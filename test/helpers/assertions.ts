import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { OmlmdError } from '../../src/core/errors';
import type { BlobInput } from '../../src/core/oci/store';

/** A blob source that counts how often it is opened (a skipped upload must not open it). */
export function source(data: Buffer, digest?: string): BlobInput & { opens: number } {
  const input = {
    opens: 0,
    size: data.length,
    digest,
    open(): Readable {
      input.opens++;
      return Readable.from(
        (function* () {
          for (let i = 0; i < data.length; i += 64 * 1024) yield data.subarray(i, i + 64 * 1024);
        })(),
      );
    },
  };
  return input;
}

/** Awaits `p` and checks it rejects with an OmlmdError of `code`; returns the error. */
export async function rejectsWith(p: Promise<unknown>, code: string): Promise<OmlmdError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof OmlmdError, `expected an OmlmdError, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    return e;
  }
  assert.fail(`expected a rejection with ${code}`);
}
