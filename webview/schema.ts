// Turns the core's JSON Schema into the list of form fields: labels and help text come from
// each property's title and description, the input from its type, so a field added to the
// schema shows up in the editor without touching this code.

/**
 * The inputs the form has. Types the metadata schema does not use (numbers, booleans, lists,
 * enums) are 'other': the form shows them read-only and points to the YAML/JSON view.
 */
export type FieldKind = 'text' | 'multiline' | 'url' | 'map' | 'other';

export interface FieldSpec {
  key: string;
  title: string;
  description: string;
  kind: FieldKind;
  maxLength?: number;
}

export interface PropertySchema {
  title?: string;
  description?: string;
  type?: string | string[];
  format?: string;
  maxLength?: number;
  enum?: unknown[];
}

export interface ObjectSchema {
  properties?: Record<string, PropertySchema>;
}

/** "model_format_name" → "Model format name", for properties without a title. */
export function humanize(key: string): string {
  const words = key
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .trim()
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function kindOf(p: PropertySchema): FieldKind {
  const types = (Array.isArray(p.type) ? p.type : p.type ? [p.type] : []).filter((t) => t !== 'null');
  if (types.length !== 1) return 'other';
  if (types[0] === 'object') return 'map';
  if (types[0] !== 'string' || p.enum) return 'other';
  if (p.format === 'uri' || p.format === 'url') return 'url';
  // A string with no length limit is free prose (description): give it room.
  return p.maxLength === undefined ? 'multiline' : 'text';
}

export function fieldsFromSchema(schema: ObjectSchema): FieldSpec[] {
  return Object.entries(schema.properties ?? {}).map(([key, p]) => {
    const spec: FieldSpec = { key, title: p.title ?? humanize(key), description: p.description ?? '', kind: kindOf(p) };
    if (p.maxLength !== undefined) spec.maxLength = p.maxLength;
    return spec;
  });
}
