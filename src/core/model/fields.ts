// The metadata's fields and how schema errors on them are explained. No Node.js imports:
// the metadata editor webview bundles this file, so its inline messages are word for word
// the ones the CLI and the extension host print.

/** The fields of omlmd's metadata, in the order omlmd 0.1.x writes them. */
export const METADATA_FIELDS = ['name', 'description', 'author', 'customProperties', 'uri', 'model_format_name', 'model_format_version'] as const;
export type MetadataField = (typeof METADATA_FIELDS)[number];

export interface ModelMetadata {
  name?: string | null;
  description?: string | null;
  author?: string | null;
  customProperties?: Record<string, unknown> | null;
  uri?: string | null;
  model_format_name?: string | null;
  model_format_version?: string | null;
}

/**
 * The part of ajv's `ErrorObject` an explanation needs. Structural, so the webview can pass
 * the errors of the standalone validator generated at build time without importing ajv.
 */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** The dotted path of the value an error is about ("" for the document itself). */
export function errorField(e: SchemaError): string {
  return e.instancePath.replace(/^\//, '').replace(/\//g, '.');
}

/** One schema error as a sentence that names the field and says how to fix it. */
export function explainSchemaError(e: SchemaError, doc: Record<string, unknown>): string {
  const field = errorField(e);
  const value = field.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], doc);
  switch (e.keyword) {
    case 'additionalProperties': {
      const extra = (e.params as { additionalProperty: string }).additionalProperty;
      return `unknown field "${extra}" (the fields are ${METADATA_FIELDS.join(', ')}; put other values under customProperties)`;
    }
    case 'type': {
      const want = (e.params as { type: string | string[] }).type;
      const wants = (Array.isArray(want) ? want : [want]).filter((t) => t !== 'null').join(' or ');
      const quote = wants === 'string' && (typeof value === 'number' || typeof value === 'boolean') ? ` (quote it: '${String(value)}')` : '';
      return `field "${field}" must be a ${wants === 'object' ? 'mapping' : wants}, got ${describeValue(value)}${quote}`;
    }
    case 'format':
      return `field "${field}" must be an absolute URI such as s3://bucket/model.onnx, hf://org/model or https://host/path, got ${JSON.stringify(value)}`;
    default:
      return `field "${field || '(top level)'}" ${e.message ?? 'is invalid'}`;
  }
}
