import Ajv, { type ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import schema from './metadata.schema.json';

/** The metadata schema's check: true when valid, else `errors` says why (ajv's error objects). */
export interface MetadataValidator {
  (doc: unknown): boolean;
  errors?: ErrorObject[] | null;
}

/**
 * The schema compiled by ajv at run time: what the sources use (tests through tsx). The
 * bundles replace this module with the same validator compiled at build time (esbuild.mjs,
 * webview/build.mjs's plugin: ajv's standalone code), so a command neither loads ajv's
 * compiler nor spends its 8-12 ms compiling the schema (a CPU profile of a re-push).
 * validateSchema: false: the schema's own validity is checked once, in test/unit/metadata.test.ts.
 */
export function compileMetadataValidator(): MetadataValidator {
  const ajv = new Ajv({ allErrors: true, strict: true, validateSchema: false });
  addFormats(ajv, ['uri']);
  return ajv.compile(schema);
}
