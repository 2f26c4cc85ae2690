// Schema validation inside the webview: the validator generated at build time from the core's
// schema, explained by the core's own functions, grouped by the form field they belong to.

import validate from 'omlmd:metadata-validator';
import { errorField, explainSchemaError } from '../src/core/model/fields';

export interface Problems {
  /** Top-level field → explanations of what is wrong with it. */
  byField: Map<string, string[]>;
  /** Explanations that belong to no form field (unknown fields, the document itself). */
  general: string[];
  count: number;
}

export function checkMetadata(doc: Record<string, unknown>, formFields: ReadonlySet<string>): Problems {
  const problems: Problems = { byField: new Map(), general: [], count: 0 };
  if (validate(doc)) return problems;
  const seen = new Set<string>();
  for (const e of validate.errors ?? []) {
    const message = explainSchemaError(e, doc);
    if (seen.has(message)) continue;
    seen.add(message);
    problems.count++;
    const top = errorField(e).split('.')[0] ?? '';
    if (top !== '' && formFields.has(top)) problems.byField.set(top, [...(problems.byField.get(top) ?? []), message]);
    else problems.general.push(message);
  }
  return problems;
}
