// Generated at build time by webview/build.mjs from src/core/model/metadata.schema.json.
declare module 'omlmd:metadata-validator' {
  import type { SchemaError } from '../src/core/model/explain';

  interface StandaloneValidator {
    (doc: unknown): boolean;
    errors?: SchemaError[] | null;
  }
  const validate: StandaloneValidator;
  export default validate;
}
