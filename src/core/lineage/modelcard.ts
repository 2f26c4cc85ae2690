/**
 * A model card generated from what the artifact says about itself (its metadata and files),
 * in the Markdown-with-YAML-front-matter shape Hugging Face model cards use. The same model
 * always gives the same bytes, so attaching it twice gives the same referrer.
 */
import yaml from 'js-yaml';
import { viewArtifact } from '../model/artifact';
import type { ModelMetadata } from '../model/metadata';
import type { ImageManifest } from '../oci/types';
import { humanSize } from '../units';

export const MODEL_CARD_ARTIFACT_TYPE = 'application/vnd.omlmd.model-card.v1';
export const MODEL_CARD_TITLE = 'MODEL_CARD.md';

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** `reference` is the model's repository (`host/repo`), without tag or digest. */
export function generateModelCard(input: { reference: string; digest: string; manifest: ImageManifest; metadata?: ModelMetadata & Record<string, unknown> }): Buffer {
  const md = input.metadata ?? {};
  const props = (md.customProperties ?? {}) as Record<string, unknown>;
  const front: Record<string, unknown> = {};
  if (md.name) front.model_name = md.name;
  if (typeof props.license === 'string') front.license = props.license;
  if (md.model_format_name) front.library_name = md.model_format_name;
  front.oci_reference = input.reference;
  front.oci_digest = input.digest;
  const lines: string[] = ['---', yaml.dump(front, { sortKeys: true, lineWidth: -1 }).trimEnd(), '---', '', `# ${md.name ?? input.reference}`, ''];
  if (md.description) lines.push(md.description, '');
  lines.push('## Model', '', '| | |', '|---|---|');
  lines.push(`| Reference | \`${cell(input.reference)}\` |`, `| Digest | \`${input.digest}\` |`);
  if (md.author) lines.push(`| Author | ${cell(md.author)} |`);
  const fmt = [md.model_format_name, md.model_format_version].filter(Boolean).join(' ');
  if (fmt) lines.push(`| Format | ${cell(fmt)} |`);
  if (md.uri) lines.push(`| Model URI | ${cell(md.uri)} |`);
  const created = input.manifest.annotations?.['org.opencontainers.image.created'];
  if (created) lines.push(`| Created | ${created} |`);
  lines.push('');
  const keys = Object.keys(props).sort();
  if (keys.length > 0) {
    lines.push('## Properties', '', '| Property | Value |', '|---|---|');
    for (const k of keys) {
      const v = props[k];
      lines.push(`| ${cell(k)} | ${cell(typeof v === 'string' ? v : JSON.stringify(v))} |`);
    }
    lines.push('');
  }
  const files = viewArtifact(input.manifest).files.filter((f) => f.role !== 'metadata');
  if (files.length > 0) {
    lines.push('## Files', '', '| File | Size | Digest |', '|---|---|---|');
    for (const f of files) lines.push(`| ${cell(f.path)} | ${humanSize(f.descriptor.size)} | \`${f.descriptor.digest}\` |`);
    lines.push('');
  }
  lines.push('## Use', '', '```sh', `omlmd pull ${input.reference}@${input.digest} -o ./model`, '```', '');
  return Buffer.from(lines.join('\n'), 'utf8');
}
